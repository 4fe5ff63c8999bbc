#include "convert.h"

#include <c10/util/Exception.h>

#include "../common/errors.h"

namespace intra::addon {

ErrorInfo describeCurrentException() {
  try {
    throw;
  } catch (const IntraError& e) {
    return {e.code(), e.what()};
  } catch (const c10::Error& e) {
    return {"INTRA_TORCH", e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    return {"INTRA_OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    return {"INTRA_NATIVE", e.what()};
  } catch (...) {
    return {"INTRA_NATIVE", "unknown native error"};
  }
}

Napi::Error makeError(const Napi::Env& env, const ErrorInfo& info) {
  Napi::Error error = Napi::Error::New(env, info.message);
  error.Set("code", Napi::String::New(env, info.code));
  return error;
}


static bool has(const Napi::Object& o, const char* key) {
  return o.Has(key) && !o.Get(key).IsUndefined() && !o.Get(key).IsNull();
}

int64_t integerField(const Napi::Object& o, const char* key, int64_t fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw invalidArgument(std::string("Expected a number for ") + key);
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) {
    throw invalidArgument(std::string("Expected an integer for ") + key + " but received " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

double numberField(const Napi::Object& o, const char* key, double fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw invalidArgument(std::string("Expected a number for ") + key);
  return v.As<Napi::Number>().DoubleValue();
}

bool boolField(const Napi::Object& o, const char* key, bool fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw invalidArgument(std::string("Expected a boolean for ") + key);
  return v.As<Napi::Boolean>().Value();
}

std::string stringField(const Napi::Object& o, const char* key, const std::string& fallback) {
  if (!has(o, key)) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw invalidArgument(std::string("Expected a string for ") + key);
  return v.As<Napi::String>().Utf8Value();
}


ModelConfig modelConfigFrom(const Napi::Object& o) {
  ModelConfig c = presetConfig(stringField(o, "preset", "paper"));
  c.patchSize = integerField(o, "patchSize", c.patchSize);
  c.windowSize = integerField(o, "windowSize", c.windowSize);
  c.channels = integerField(o, "channels", c.channels);
  if (has(o, "imageSize")) {
    if (has(o, "imageHeight") || has(o, "imageWidth")) {
      throw invalidArgument("Expected imageSize (a square) or imageHeight and imageWidth, not both");
    }
    c.setImageSize(integerField(o, "imageSize", c.imageHeight));
  }
  c.imageHeight = integerField(o, "imageHeight", c.imageHeight);
  c.imageWidth = integerField(o, "imageWidth", c.imageWidth);
  c.dim = integerField(o, "dim", c.dim);
  c.depth = integerField(o, "depth", c.depth);
  c.heads = integerField(o, "heads", c.heads);
  c.mlpRatio = integerField(o, "mlpRatio", c.mlpRatio);
  c.attention = attentionKindFromString(stringField(o, "attention", toString(c.attention)));
  c.longResiduals = boolField(o, "longResiduals", c.longResiduals);
  c.validate();
  return c;
}

TrainConfig trainConfigFrom(const Napi::Object& o) {
  TrainConfig t;
  t.batchSize = integerField(o, "batchSize", t.batchSize);
  t.learningRate = numberField(o, "learningRate", t.learningRate);
  t.alpha = numberField(o, "alpha", t.alpha);
  t.gmsScales = integerField(o, "gmsScales", t.gmsScales);
  t.beta = numberField(o, "beta", t.beta);
  t.augment = boolField(o, "augment", t.augment);
  const int64_t seed = integerField(o, "seed", 0);
  if (seed < 0) throw invalidArgument("Expected a non-negative integer for seed");
  t.seed = static_cast<uint64_t>(seed);
  t.validationWindowsPerImage = integerField(o, "validationWindowsPerImage", t.validationWindowsPerImage);
  t.trainPrecision = precisionFromString(stringField(o, "trainPrecision", "fp32"));
  t.validate();
  return t;
}

EngineOptions engineOptionsFrom(const Napi::Object& o) {
  EngineOptions e;
  e.device = stringField(o, "device", e.device);
  e.threads = integerField(o, "threads", e.threads);
  e.inferencePrecision = precisionFromString(stringField(o, "precision", "fp32"));
  e.inferenceBatch = integerField(o, "inferenceBatch", e.inferenceBatch);
  e.kernels = stringField(o, "kernels", e.kernels);
  if (e.kernels != "auto") kernels::implementationFromString(e.kernels);
  return e;
}

Napi::Object toObject(const Napi::Env& env, const ModelConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("patchSize", c.patchSize);
  o.Set("windowSize", c.windowSize);
  o.Set("channels", c.channels);
  o.Set("imageHeight", c.imageHeight);
  o.Set("imageWidth", c.imageWidth);
  o.Set("dim", c.dim);
  o.Set("depth", c.depth);
  o.Set("heads", c.heads);
  o.Set("mlpRatio", c.mlpRatio);
  o.Set("attention", toString(c.attention));
  o.Set("longResiduals", c.longResiduals);
  return o;
}

Napi::Object toObject(const Napi::Env& env, const TrainConfig& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("batchSize", t.batchSize);
  o.Set("learningRate", t.learningRate);
  o.Set("alpha", t.alpha);
  o.Set("gmsScales", static_cast<double>(t.gmsScales));
  o.Set("beta", t.beta);
  o.Set("augment", t.augment);
  o.Set("seed", static_cast<double>(t.seed));
  o.Set("validationWindowsPerImage", t.validationWindowsPerImage);
  o.Set("trainPrecision", toString(t.trainPrecision));
  return o;
}

Napi::Object toObject(const Napi::Env& env, const LossParts& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", l.total);
  o.Set("l2", l.l2);
  o.Set("gms", l.gms);
  o.Set("ssim", l.ssim);
  o.Set("windows", static_cast<double>(l.windows));
  o.Set("seconds", l.seconds);
  return o;
}

Napi::Value float32ArrayOf(const Napi::Env& env, const torch::Tensor& tensor) {
  auto* owner = new torch::Tensor(tensor.to(torch::kFloat).contiguous());
  const size_t count = static_cast<size_t>(owner->numel());
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, owner->data_ptr(), count * sizeof(float),
      [](Napi::Env, void*, torch::Tensor* held) { delete held; }, owner);
  return Napi::Float32Array::New(env, count, buffer, 0);
}

}  // namespace intra::addon
