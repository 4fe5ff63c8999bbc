#pragma once
#include <napi.h>

#include <memory>

#include "../core/engine.h"

namespace intra::addon {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit EngineWrap(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<Engine> engine(const Napi::Env& env) const;  // throws when disposed
  Napi::Value setTrainingImages(const Napi::CallbackInfo& info);
  Napi::Value setValidationImages(const Napi::CallbackInfo& info);
  Napi::Value trainSteps(const Napi::CallbackInfo& info);
  Napi::Value validate(const Napi::CallbackInfo& info);
  Napi::Value reconstruct(const Napi::CallbackInfo& info);
  Napi::Value anomalyMaps(const Napi::CallbackInfo& info);
  Napi::Value validationScores(const Napi::CallbackInfo& info);
  Napi::Value fitNormalStatistics(const Napi::CallbackInfo& info);
  Napi::Value addTextureSamples(const Napi::CallbackInfo& info);
  Napi::Value fitTextureStatistics(const Napi::CallbackInfo& info);
  Napi::Value setMapConfig(const Napi::CallbackInfo& info);
  Napi::Value joinGroup(const Napi::CallbackInfo& info);
  Napi::Value groupAverage(const Napi::CallbackInfo& info);
  Napi::Value keepBest(const Napi::CallbackInfo& info);
  Napi::Value restoreBest(const Napi::CallbackInfo& info);
  Napi::Value save(const Napi::CallbackInfo& info);
  Napi::Value describe(const Napi::CallbackInfo& info);
  Napi::Value setProfiling(const Napi::CallbackInfo& info);
  Napi::Value takeProfile(const Napi::CallbackInfo& info);
  Napi::Value takeOpProfile(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Engine> engine_;
};

}  // namespace intra::addon
