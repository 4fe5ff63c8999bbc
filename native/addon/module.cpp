// Module init: the exports table, and loading an engine (which needs the module's reference to
// the Engine class). The synchronous helpers are in model_api.cpp, pictures in pictures.cpp,
// the kernel harness in harness.cpp.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "../common/cpu_allocator.h"
#include "../common/errors.h"
#include "convert.h"
#include "engine_wrap.h"
#include "harness.h"
#include "model_api.h"
#include "pictures.h"
#include "regions.h"
#include "task_worker.h"

namespace intra::addon {

namespace {

struct AddonData {
  Napi::FunctionReference engineClass;
};

Napi::Value loadEngine(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
      throw invalidArgument("Expected (path, options) for loadEngine");
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    EngineOptions options = engineOptionsFrom(info[1].As<Napi::Object>());
    const LoadPurpose purpose = loadPurposeFrom(info[1].As<Napi::Object>());
    auto loaded = std::make_shared<std::shared_ptr<Engine>>();
    return TaskWorker::run(
        info.Env(), [path, options, purpose, loaded] { *loaded = Engine::load(path, options, purpose); },
        [loaded](Napi::Env env) -> Napi::Value {
          auto* data = env.GetInstanceData<AddonData>();
          auto handle = Napi::External<std::shared_ptr<Engine>>::New(env, loaded.get());
          return data->engineClass.New(std::vector<napi_value>{env.Null(), env.Null(), env.Null(), handle});
        });
  });
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  installCachingCountingAllocator();
  auto* data = new AddonData();
  Napi::Function engineClass = EngineWrap::define(env);
  data->engineClass = Napi::Persistent(engineClass);
  env.SetInstanceData(data);
  exports.Set("Engine", engineClass);
  exports.Set("loadEngine", Napi::Function::New(env, loadEngine));
  exports.Set("capabilities", Napi::Function::New(env, capabilitiesOf));
  exports.Set("modelConfig", Napi::Function::New(env, modelConfigOf));
  exports.Set("configFields", Napi::Function::New(env, configFields));
  exports.Set("checkKernel", Napi::Function::New(env, checkKernel));
  exports.Set("gradcheckKernel", Napi::Function::New(env, gradcheckKernel));
  exports.Set("toleranceViolations", Napi::Function::New(env, toleranceViolations));
  exports.Set("benchKernel", Napi::Function::New(env, benchKernel));
  exports.Set("matmulCeiling", Napi::Function::New(env, matmulCeiling));
  exports.Set("resizeMap", Napi::Function::New(env, resizeMap));
  exports.Set("heatPictures", Napi::Function::New(env, heatPictures));
  exports.Set("labelRegions", Napi::Function::New(env, labelRegions));
  exports.Set("windowOrigins", Napi::Function::New(env, windowOrigins));
  exports.Set("patchLoss", Napi::Function::New(env, patchLossOf));
  exports.Set("mapDifferences", Napi::Function::New(env, mapDifferencesOf));
  exports.Set("textureDescriptors", Napi::Function::New(env, textureDescriptorsOf));
  exports.Set("methodConstants", Napi::Function::New(env, methodConstants));
  exports.Set("kernelFamilies", Napi::Function::New(env, kernelFamiliesOf));
  exports.Set("presetTraining", Napi::Function::New(env, presetTrainingOf));
  exports.Set("turnedWindowOrigins", Napi::Function::New(env, turnedWindowOriginsJs));
  return exports;
}

}  // namespace intra::addon

static Napi::Object initIntra(Napi::Env env, Napi::Object exports) { return intra::addon::init(env, exports); }

NODE_API_MODULE(intra, initIntra)
