// Module init: the Engine class and the small synchronous helpers.
#include <napi.h>

#include "../core/errors.h"
#include "../core/windows.h"
#include "convert.h"
#include "engine_wrap.h"
#include "task_worker.h"

namespace intra::addon {

namespace {

struct AddonData {
  Napi::FunctionReference engineClass;
};

Napi::Value capabilitiesOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const int64_t threads = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : 0;
    Capabilities caps = capabilities(threads);
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("libtorch", caps.libtorch);
    o.Set("blas", caps.blas);
    o.Set("parallel", caps.parallel);
    o.Set("threads", static_cast<double>(caps.threads));
    o.Set("bf16", caps.bf16);
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("built", caps.cudaBuilt);
    cuda.Set("available", caps.cudaAvailable);
    o.Set("cuda", cuda);
    o.Set("defaultDevice", caps.device);
    return o;
  });
}

Napi::Value modelConfigOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw invalidArgument("Expected a config object");
    ModelConfig c = modelConfigFrom(info[0].As<Napi::Object>());
    Napi::Object o = toObject(info.Env(), c);
    o.Set("parameters", static_cast<double>(countParameters(c)));
    return o;
  });
}

Napi::Value windowOrigins(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      throw invalidArgument("Expected (gridSide, windowSize) numbers");
    }
    const int64_t grid = info[0].As<Napi::Number>().Int64Value(), window = info[1].As<Napi::Number>().Int64Value();
    if (grid <= 0 || window <= 0) throw invalidArgument("Expected positive gridSide and windowSize");
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), static_cast<size_t>(grid));
    for (int64_t t = 0; t < grid; ++t) out[t] = static_cast<int32_t>(windowOrigin(t, window, grid));
    return out;
  });
}

// Bilinear resize of one float map (height, width) -> (outHeight, outWidth), off the event loop:
// maps go back to each image's original resolution for pixel metrics.
Napi::Value resizeMap(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 5 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw invalidArgument("Expected (Float32Array, height, width, outHeight, outWidth) for resizeMap");
    }
    Napi::Float32Array map = info[0].As<Napi::Float32Array>();
    int64_t sizes[4];
    for (int i = 0; i < 4; ++i) {
      sizes[i] = info[i + 1].As<Napi::Number>().Int64Value();
      if (sizes[i] <= 0) throw invalidArgument("Expected positive sizes for resizeMap");
    }
    if (static_cast<int64_t>(map.ElementLength()) != sizes[0] * sizes[1]) {
      throw invalidArgument("Expected a map of height*width values for resizeMap");
    }
    const float* data = map.Data();
    auto result = std::make_shared<torch::Tensor>();
    return TaskWorker::run(
        info.Env(),
        [data, sizes, result] {
          torch::Tensor in = torch::from_blob(const_cast<float*>(data), {1, 1, sizes[0], sizes[1]}, torch::kFloat);
          *result = torch::upsample_bilinear2d(in, {sizes[2], sizes[3]}, /*align_corners=*/false).contiguous();
        },
        [result](Napi::Env env) { return float32ArrayOf(env, *result); }, {info[0]});
  });
}

Napi::Value loadEngine(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
      throw invalidArgument("Expected (path, options) for loadEngine");
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    EngineOptions options = engineOptionsFrom(info[1].As<Napi::Object>());
    auto loaded = std::make_shared<std::shared_ptr<Engine>>();
    return TaskWorker::run(
        info.Env(), [path, options, loaded] { *loaded = Engine::load(path, options); },
        [loaded](Napi::Env env) -> Napi::Value {
          auto* data = env.GetInstanceData<AddonData>();
          auto handle = Napi::External<std::shared_ptr<Engine>>::New(env, loaded.get());
          return data->engineClass.New(std::vector<napi_value>{env.Null(), env.Null(), env.Null(), handle});
        });
  });
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function engineClass = EngineWrap::define(env);
  data->engineClass = Napi::Persistent(engineClass);
  env.SetInstanceData(data);
  exports.Set("Engine", engineClass);
  exports.Set("loadEngine", Napi::Function::New(env, loadEngine));
  exports.Set("capabilities", Napi::Function::New(env, capabilitiesOf));
  exports.Set("modelConfig", Napi::Function::New(env, modelConfigOf));
  exports.Set("resizeMap", Napi::Function::New(env, resizeMap));
  exports.Set("windowOrigins", Napi::Function::New(env, windowOrigins));
  return exports;
}

}  // namespace intra::addon

static Napi::Object initIntra(Napi::Env env, Napi::Object exports) { return intra::addon::init(env, exports); }

NODE_API_MODULE(intra, initIntra)
