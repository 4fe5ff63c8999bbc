// Module init: the Engine class and the small synchronous helpers.
#include <napi.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "../common/errors.h"
#include "../common/cpu_allocator.h"
#include "../kernels/harness.h"
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
    Napi::Object fused = Napi::Object::New(env);
    fused.Set("cpu", caps.fusedCpu);
    fused.Set("cuda", caps.fusedCuda.empty() ? env.Null() : Napi::String::New(env, caps.fusedCuda));
    o.Set("fusedKernels", fused);
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("model", caps.cpuModel);
    Napi::Array features = Napi::Array::New(env, caps.cpuFeatures.size());
    for (size_t i = 0; i < caps.cpuFeatures.size(); ++i) features.Set(static_cast<uint32_t>(i), caps.cpuFeatures[i]);
    cpu.Set("features", features);
    o.Set("cpu", cpu);
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
    for (int64_t t = 0; t < grid; ++t) out[static_cast<size_t>(t)] = static_cast<int32_t>(windowOrigin(t, window, grid));
    return out;
  });
}

// turnedWindowOrigins(gridSide, windowSize, rows: Int32Array, cols: Int32Array, transforms: Int32Array)
// -> { rows, cols }: where windows land when the whole grid undergoes each symmetry (augmentation).
Napi::Value turnedWindowOriginsJs(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto isInt32 = [&](size_t k) {
      return info[k].IsTypedArray() && info[k].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
    };
    if (info.Length() < 5 || !info[0].IsNumber() || !info[1].IsNumber() || !isInt32(2) || !isInt32(3) || !isInt32(4)) {
      throw invalidArgument("Expected (gridSide, windowSize, Int32Array rows, cols, transforms) for turnedWindowOrigins");
    }
    const int64_t grid = info[0].As<Napi::Number>().Int64Value(), window = info[1].As<Napi::Number>().Int64Value();
    Napi::Int32Array rows = info[2].As<Napi::Int32Array>(), cols = info[3].As<Napi::Int32Array>(), transforms = info[4].As<Napi::Int32Array>();
    const int64_t n = static_cast<int64_t>(rows.ElementLength());
    if (grid <= 0 || window <= 0 || window > grid || static_cast<int64_t>(cols.ElementLength()) != n ||
        static_cast<int64_t>(transforms.ElementLength()) != n) {
      throw invalidArgument("Expected 0 < windowSize <= gridSide and rows, cols, transforms of one length for turnedWindowOrigins");
    }
    auto tensorOf = [n](const Napi::Int32Array& a) { return torch::from_blob(const_cast<int32_t*>(a.Data()), {n}, torch::kInt).to(torch::kLong); };
    torch::Tensor r = tensorOf(rows), c = tensorOf(cols), t = tensorOf(transforms);
    if (n > 0 && (r.min().item<int64_t>() < 0 || r.max().item<int64_t>() > grid - window || c.min().item<int64_t>() < 0 ||
                  c.max().item<int64_t>() > grid - window || t.min().item<int64_t>() < 0 || t.max().item<int64_t>() > 7)) {
      throw invalidArgument("Expected window origins inside the grid and transforms 0-7 for turnedWindowOrigins");
    }
    auto [turnedRows, turnedCols] = turnedWindowOrigins(r, c, t, window, grid);
    Napi::Env env = info.Env();
    auto out = [&](const torch::Tensor& x) {
      Napi::Int32Array a = Napi::Int32Array::New(env, static_cast<size_t>(n));
      torch::Tensor ints = x.to(torch::kInt).contiguous();
      std::copy_n(ints.data_ptr<int32_t>(), n, a.Data());
      return a;
    };
    Napi::Object result = Napi::Object::New(env);
    result.Set("rows", out(turnedRows));
    result.Set("cols", out(turnedCols));
    return result;
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

std::vector<int64_t> shapeFrom(const Napi::Object& o) {
  if (!o.Has("shape") || !o.Get("shape").IsArray()) throw invalidArgument("Expected an array of integers for shape");
  Napi::Array array = o.Get("shape").As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const int64_t v = array.Get(i).As<Napi::Number>().Int64Value();
    if (v <= 0) throw invalidArgument("Expected positive sizes in shape");
    shape.push_back(v);
  }
  return shape;
}

std::string stringOf(const Napi::Object& o, const char* key, const std::string& fallback) {
  return o.Has(key) && o.Get(key).IsString() ? o.Get(key).As<Napi::String>().Utf8Value() : fallback;
}

int64_t integerOf(const Napi::Object& o, const char* key, int64_t fallback) {
  return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().Int64Value() : fallback;
}

// ErrorStats' fields by their JS names, for both directions across the boundary.
constexpr std::pair<const char*, double kernels::ErrorStats::*> kErrorFields[] = {
    {"fused32", &kernels::ErrorStats::fused32},           {"reference32", &kernels::ErrorStats::reference32},
    {"fused64", &kernels::ErrorStats::fused64},           {"fusedBf16", &kernels::ErrorStats::fusedBf16},
    {"referenceBf16", &kernels::ErrorStats::referenceBf16}, {"fusedF16", &kernels::ErrorStats::fusedF16},
    {"referenceF16", &kernels::ErrorStats::referenceF16}, {"scale", &kernels::ErrorStats::scale},
};

kernels::CheckRequest checkRequestFrom(const Napi::Object& o) {
  kernels::CheckRequest request;
  request.op = stringOf(o, "op", "");
  request.shape = shapeFrom(o);
  request.seed = static_cast<uint64_t>(integerOf(o, "seed", 0));
  request.device = stringOf(o, "device", "cpu");
  request.impl = stringOf(o, "impl", "fused");
  return request;
}

// checkKernel({ op, shape, seed, device, impl }) -> Promise<{ [output]: ErrorStats }>
Napi::Value checkKernel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw invalidArgument("Expected a request object");
    Napi::Object o = info[0].As<Napi::Object>();
    kernels::CheckRequest request = checkRequestFrom(o);
    auto result = std::make_shared<std::map<std::string, kernels::ErrorStats>>();
    return TaskWorker::run(
        info.Env(), [request, result] { *result = kernels::checkKernel(request); },
        [result](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          for (const auto& [name, s] : *result) {
            Napi::Object e = Napi::Object::New(env);
            for (const auto& [key, field] : kErrorFields) e.Set(key, s.*field);
            e.Set("violations", kernels::toleranceViolations(name, s));
            out.Set(name, e);
          }
          return out;
        });
  });
}

// toleranceViolations(output, { fused32, reference32, ... }) -> string ("" when within bounds)
Napi::Value toleranceViolations(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
      throw invalidArgument("Expected (output, errors) for toleranceViolations");
    }
    Napi::Object o = info[1].As<Napi::Object>();
    kernels::ErrorStats s;
    for (const auto& [key, field] : kErrorFields) {
      if (!o.Get(key).IsNumber()) throw invalidArgument(std::string("Expected a number for ") + key);
      s.*field = o.Get(key).As<Napi::Number>().DoubleValue();
    }
    return Napi::String::New(info.Env(), kernels::toleranceViolations(info[0].As<Napi::String>().Utf8Value(), s));
  });
}

Napi::Value gradcheckKernel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw invalidArgument("Expected a request object");
    Napi::Object o = info[0].As<Napi::Object>();
    kernels::CheckRequest request = checkRequestFrom(o);
    auto result = std::make_shared<double>(0);
    return TaskWorker::run(
        info.Env(), [request, result] { *result = kernels::gradcheckKernel(request); },
        [result](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *result); });
  });
}

// benchKernel({ op, impl, pass, shape, warmup, repeats, dtype, device, threads }) -> Promise<result>
Napi::Value benchKernel(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw invalidArgument("Expected a request object");
    Napi::Object o = info[0].As<Napi::Object>();
    kernels::BenchRequest request;
    request.op = stringOf(o, "op", "");
    request.impl = stringOf(o, "impl", "fused");
    request.pass = stringOf(o, "pass", "forward");
    request.shape = shapeFrom(o);
    request.warmup = integerOf(o, "warmup", 2);
    request.repeats = std::max<int64_t>(1, integerOf(o, "repeats", 7));
    request.dtype = stringOf(o, "dtype", "float32");
    request.device = stringOf(o, "device", "cpu");
    const int64_t threads = integerOf(o, "threads", 0);
    auto result = std::make_shared<kernels::BenchResult>();
    return TaskWorker::run(
        info.Env(),
        [request, result, threads] {
          at::set_num_threads(static_cast<int>(capabilities(threads).threads));
          *result = kernels::benchKernel(request);
        },
        [result](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("ms", result->medianMs);
          out.Set("minMs", result->minMs);
          out.Set("flops", result->flops);
          out.Set("bytes", result->bytes);
          out.Set("peakBytes", static_cast<double>(result->peakBytes));
          return out;
        });
  });
}

// matmulCeiling(n, dtype, repeats, threads, device) -> Promise<GFLOP/s>
Napi::Value matmulCeiling(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const int64_t n = info.Length() > 0 ? info[0].As<Napi::Number>().Int64Value() : 2048;
    const std::string dtype = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "float32";
    const int64_t repeats = info.Length() > 2 ? info[2].As<Napi::Number>().Int64Value() : 5;
    const int64_t threads = info.Length() > 3 ? info[3].As<Napi::Number>().Int64Value() : 0;
    const std::string device = info.Length() > 4 && info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "cpu";
    auto result = std::make_shared<double>(0);
    return TaskWorker::run(
        info.Env(),
        [n, dtype, repeats, threads, device, result] {
          at::set_num_threads(static_cast<int>(capabilities(threads).threads));
          *result = kernels::matmulCeilingGflops(n, dtype, repeats, device);
        },
        [result](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *result); });
  });
}

// A blue-cyan-yellow-red ramp of 256 colours for heat maps.
const std::array<uint8_t, 256 * 3>& heatRamp() {
  static const std::array<uint8_t, 256 * 3> ramp = [] {
    const double stops[4][4] = {{0, 0, 0, 130}, {0.35, 0, 200, 255}, {0.65, 255, 230, 0}, {1, 220, 0, 0}};
    std::array<uint8_t, 256 * 3> out{};
    for (int i = 0; i < 256; ++i) {
      const double t = i / 255.0;
      int k = 0;
      while (k < 2 && t > stops[k + 1][0]) ++k;
      const double w = (t - stops[k][0]) / (stops[k + 1][0] - stops[k][0]);
      for (int c = 0; c < 3; ++c) {
        out[i * 3 + c] = static_cast<uint8_t>(std::lround(stops[k][c + 1] + w * (stops[k + 1][c + 1] - stops[k][c + 1])));
      }
    }
    return out;
  }();
  return ramp;
}

Napi::Value uint8ArrayOf(const Napi::Env& env, std::vector<uint8_t>* bytes) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, bytes->data(), bytes->size(), [](Napi::Env, void*, std::vector<uint8_t>* held) { delete held; }, bytes);
  return Napi::Uint8Array::New(env, bytes->size(), buffer, 0);
}

// heatPictures(map: Float32Array, image: Uint8Array, height, width, channels, scale) ->
// Promise<{ grey, heat, overlay }>: the map as 8-bit grey (values >= scale saturate), as heat
// colours, and heat colours over the image (55% heat, 45% image), computed off the event loop.
Napi::Value heatPictures(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 6 || !info[0].IsTypedArray() || !info[1].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw invalidArgument("Expected (Float32Array, Uint8Array, height, width, channels, scale) for heatPictures");
    }
    Napi::Float32Array map = info[0].As<Napi::Float32Array>();
    Napi::Uint8Array image = info[1].As<Napi::Uint8Array>();
    const int64_t height = info[2].As<Napi::Number>().Int64Value(), width = info[3].As<Napi::Number>().Int64Value();
    const int64_t channels = info[4].As<Napi::Number>().Int64Value();
    const double scale = info[5].As<Napi::Number>().DoubleValue();
    const int64_t pixels = height * width;
    if (pixels <= 0 || (channels != 1 && channels != 3) || static_cast<int64_t>(map.ElementLength()) != pixels ||
        static_cast<int64_t>(image.ElementLength()) != pixels * channels) {
      throw invalidArgument("Expected a height*width map and a height*width*channels image for heatPictures");
    }
    const float* mapData = map.Data();
    const uint8_t* imageData = image.Data();
    auto grey = std::make_shared<std::unique_ptr<std::vector<uint8_t>>>(std::make_unique<std::vector<uint8_t>>(pixels));
    auto overlay = std::make_shared<std::unique_ptr<std::vector<uint8_t>>>(std::make_unique<std::vector<uint8_t>>(pixels * 3));
    auto heat = std::make_shared<std::unique_ptr<std::vector<uint8_t>>>(std::make_unique<std::vector<uint8_t>>(pixels * 3));
    return TaskWorker::run(
        info.Env(),
        [=] {
          const auto& ramp = heatRamp();
          const double k = scale > 0 ? 255.0 / scale : 0.0;
          std::vector<uint8_t>& g = **grey;
          std::vector<uint8_t>& o = **overlay;
          std::vector<uint8_t>& h = **heat;
          for (int64_t p = 0; p < pixels; ++p) {
            const uint8_t level = static_cast<uint8_t>(std::clamp<double>(std::floor(mapData[p] * k + 0.5), 0.0, 255.0));
            g[p] = level;
            for (int64_t c = 0; c < 3; ++c) {
              const double base = imageData[p * channels + (channels == 3 ? c : 0)];
              h[p * 3 + c] = ramp[level * 3 + c];
              o[p * 3 + c] = static_cast<uint8_t>(std::floor(0.55 * ramp[level * 3 + c] + 0.45 * base + 0.5));
            }
          }
        },
        [grey, overlay, heat](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("grey", uint8ArrayOf(env, grey->release()));
          out.Set("heat", uint8ArrayOf(env, heat->release()));
          out.Set("overlay", uint8ArrayOf(env, overlay->release()));
          return out;
        },
        {info[0], info[1]});
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
  installCountingAllocator();
  auto* data = new AddonData();
  Napi::Function engineClass = EngineWrap::define(env);
  data->engineClass = Napi::Persistent(engineClass);
  env.SetInstanceData(data);
  exports.Set("Engine", engineClass);
  exports.Set("loadEngine", Napi::Function::New(env, loadEngine));
  exports.Set("capabilities", Napi::Function::New(env, capabilitiesOf));
  exports.Set("modelConfig", Napi::Function::New(env, modelConfigOf));
  exports.Set("checkKernel", Napi::Function::New(env, checkKernel));
  exports.Set("gradcheckKernel", Napi::Function::New(env, gradcheckKernel));
  exports.Set("toleranceViolations", Napi::Function::New(env, toleranceViolations));
  exports.Set("benchKernel", Napi::Function::New(env, benchKernel));
  exports.Set("matmulCeiling", Napi::Function::New(env, matmulCeiling));
  exports.Set("resizeMap", Napi::Function::New(env, resizeMap));
  exports.Set("heatPictures", Napi::Function::New(env, heatPictures));
  exports.Set("windowOrigins", Napi::Function::New(env, windowOrigins));
  exports.Set("turnedWindowOrigins", Napi::Function::New(env, turnedWindowOriginsJs));
  return exports;
}

}  // namespace intra::addon

static Napi::Object initIntra(Napi::Env env, Napi::Object exports) { return intra::addon::init(env, exports); }

NODE_API_MODULE(intra, initIntra)
