// Conversions between JS values and engine types, and the one place where C++ exceptions
// become JS errors (with a `code`) so that none ever crosses into JavaScript unconverted.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "../core/config.h"
#include "../core/engine.h"

namespace intra::addon {

// Runs `body`, turning any C++ exception into a thrown JS Error with a code.
template <typename Body>
auto guarded(const Napi::Env& env, Body&& body) -> decltype(body());

struct ErrorInfo {
  std::string code, message;
};
ErrorInfo describeCurrentException();  // call inside a catch (...)
Napi::Error makeError(const Napi::Env& env, const ErrorInfo& info);

// Optional fields of a JS object: the fallback when absent, an error naming the field when of
// another type (never a silent default).
int64_t integerField(const Napi::Object& o, const char* key, int64_t fallback);
double numberField(const Napi::Object& o, const char* key, double fallback);
bool boolField(const Napi::Object& o, const char* key, bool fallback);
std::string stringField(const Napi::Object& o, const char* key, const std::string& fallback);
// An array of strings, or empty where the key is absent.
std::vector<std::string> stringListField(const Napi::Object& o, const char* key);

ModelConfig modelConfigFrom(const Napi::Object& object);
TrainConfig trainConfigFrom(const Napi::Object& object);
// The fields the object has, over `base` (a model's own settings), validated.
MapConfig mapConfigFrom(const Napi::Object& object, const MapConfig& base);
EngineOptions engineOptionsFrom(const Napi::Object& object);
// Engine.load's `purpose`: training (all state, the default) or scoring.
LoadPurpose loadPurposeFrom(const Napi::Object& object);
Napi::Object toObject(const Napi::Env& env, const ModelConfig& config);
Napi::Object toObject(const Napi::Env& env, const TrainConfig& config);
Napi::Object toObject(const Napi::Env& env, const MapConfig& config);
Napi::Object toObject(const Napi::Env& env, const LossParts& loss);
// The config tables (config_fields.h) for TypeScript: { model: [{ name, type }], train: [...],
// trainDefaults }, so that its types are tested against them and its defaults asked from here.
Napi::Object configFieldsObject(const Napi::Env& env);
// A typed array over the tensor's memory; the tensor lives until the array is collected.
Napi::Value float32ArrayOf(const Napi::Env& env, const torch::Tensor& tensor);

template <typename Body>
auto guarded(const Napi::Env& env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw makeError(env, describeCurrentException());
  }
}

}  // namespace intra::addon
