#include "model_api.h"

#include <algorithm>

#include "../common/errors.h"
#include "../core/anomaly_map.h"
#include "../core/kernel_interface.h"
#include "../core/loss.h"
#include "../core/preset_training.h"
#include "../core/distributed.h"
#include "../core/texture.h"
#include "../core/windows.h"
#include "convert.h"
#include "task_worker.h"

namespace intra::addon {

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
    Napi::Object products = Napi::Object::New(env);
    products.Set("fp32", caps.fp32Products);
    products.Set("bf16", caps.bf16Products);
    o.Set("matrixProducts", products);
    // The collectives data-parallel training runs on in this build (CPU engines), or none.
    o.Set("dataParallel", DataParallelGroup::available() ? Napi::String::New(env, "gloo") : env.Null());
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("model", caps.cpu.model);
    cpu.Set("label", caps.cpu.label());
    cpu.Set("core", caps.cpu.core.empty() ? env.Null() : Napi::String::New(env, caps.cpu.core));
    Napi::Object signature = Napi::Object::New(env);
    signature.Set("family", caps.cpu.family);
    signature.Set("model", caps.cpu.modelNumber);
    signature.Set("stepping", caps.cpu.stepping);
    cpu.Set("signature", signature);
    Napi::Array features = Napi::Array::New(env, caps.cpu.features.size());
    for (size_t i = 0; i < caps.cpu.features.size(); ++i) features.Set(static_cast<uint32_t>(i), caps.cpu.features[i]);
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

Napi::Value configFields(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return configFieldsObject(info.Env()); });
}

// The training loss on given patches, as training computes it (for checks against the papers'
// equations): (trainConfig, predicted, target: Float32Array (count, C, K, K), count, channels,
// patchSize, implementation) -> { loss, l2, gms, ssim }.
Napi::Value patchLossOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto isFloat32 = [&](size_t k) {
      return info[k].IsTypedArray() && info[k].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
    };
    if (info.Length() < 7 || !info[0].IsObject() || !isFloat32(1) || !isFloat32(2) || !info[3].IsNumber() ||
        !info[4].IsNumber() || !info[5].IsNumber() || !info[6].IsString()) {
      throw invalidArgument("Expected (trainConfig, predicted, target: Float32Array, count, channels, patchSize, implementation) for patchLoss");
    }
    const TrainConfig train = trainConfigFrom(info[0].As<Napi::Object>());
    Napi::Float32Array predicted = info[1].As<Napi::Float32Array>(), target = info[2].As<Napi::Float32Array>();
    const int64_t count = info[3].As<Napi::Number>().Int64Value(), channels = info[4].As<Napi::Number>().Int64Value();
    const int64_t patch = info[5].As<Napi::Number>().Int64Value();
    if (count <= 0 || (channels != 1 && channels != 3) || patch < 4 || patch % 4 != 0 ||
        static_cast<int64_t>(predicted.ElementLength()) != count * channels * patch * patch ||
        static_cast<int64_t>(target.ElementLength()) != count * channels * patch * patch) {
      throw invalidArgument("Expected count > 0, 1 or 3 channels, a patch size divisible by 4 and arrays of count*channels*patch^2 values for patchLoss");
    }
    const kernels::Implementation impl = kernels::implementationFromString(info[6].As<Napi::String>().Utf8Value());
    auto tensorOf = [&](const Napi::Float32Array& a) {
      return torch::from_blob(const_cast<float*>(a.Data()), {count, channels, patch, patch}, torch::kFloat);
    };
    torch::NoGradGuard noGrad;
    PatchLoss loss = patchLoss(train, tensorOf(predicted), tensorOf(target), impl);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("loss", loss.total.item<double>());
    o.Set("l2", loss.l2.item<double>());
    o.Set("gms", loss.gms.item<double>());
    o.Set("ssim", loss.ssim.item<double>());
    return o;
  });
}

// mapDifferences(image, reconstruction: Float32Array (count, height, width, channels) in [0, 1],
// count, height, width, channels, anomalyMap, implementation) -> Promise<{ structure, intensity }>:
// each term's diff (count, height, width) as the engine computes it before the training
// statistics, off the event loop. For checks of the maps against the method and of what each
// term sees, with reconstructions chosen by the caller.
Napi::Value mapDifferencesOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto isFloat32 = [&](size_t k) {
      return info[k].IsTypedArray() && info[k].As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
    };
    if (info.Length() < 8 || !isFloat32(0) || !isFloat32(1) || !info[6].IsString() || !info[7].IsString()) {
      throw invalidArgument("Expected (image, reconstruction: Float32Array, count, height, width, channels, anomalyMap, implementation) for mapDifferences");
    }
    int64_t sizes[4];
    for (int i = 0; i < 4; ++i) {
      if (!info[i + 2].IsNumber()) throw invalidArgument("Expected numbers for count, height, width and channels of mapDifferences");
      sizes[i] = info[i + 2].As<Napi::Number>().Int64Value();
      if (sizes[i] <= 0) throw invalidArgument("Expected positive count, height, width and channels for mapDifferences");
    }
    const int64_t values = sizes[0] * sizes[1] * sizes[2] * sizes[3];
    Napi::Float32Array image = info[0].As<Napi::Float32Array>(), reconstruction = info[1].As<Napi::Float32Array>();
    if (static_cast<int64_t>(image.ElementLength()) != values || static_cast<int64_t>(reconstruction.ElementLength()) != values) {
      throw invalidArgument("Expected image and reconstruction of count*height*width*channels = " + std::to_string(values) + " values for mapDifferences");
    }
    const AnomalyMapKind kind = anomalyMapKindFromString(info[6].As<Napi::String>().Utf8Value());
    const kernels::Implementation impl = kernels::implementationFromString(info[7].As<Napi::String>().Utf8Value());
    const float* a = image.Data();
    const float* b = reconstruction.Data();
    auto diffs = std::make_shared<std::array<torch::Tensor, kMapTerms>>();
    return TaskWorker::run(
        info.Env(),
        [a, b, sizes, kind, impl, diffs] {
          torch::NoGradGuard noGrad;
          auto nchw = [&](const float* data) {
            return torch::from_blob(const_cast<float*>(data), {sizes[0], sizes[1], sizes[2], sizes[3]}, torch::kFloat).permute({0, 3, 1, 2}).contiguous();
          };
          const torch::Tensor x = nchw(a), y = nchw(b);
          for (int t = 0; t < kMapTerms; ++t) (*diffs)[t] = anomalyDiff(kind, x, y, impl, static_cast<MapTerm>(t)).squeeze(1).contiguous();
        },
        [diffs](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("structure", float32ArrayOf(env, (*diffs)[0]));
          o.Set("intensity", float32ArrayOf(env, (*diffs)[1]));
          return o;
        },
        {info[0], info[1]});
  });
}

// textureDescriptors(pixels: Uint8Array (height, width, channels), height, width, channels,
// outHeight, outWidth) -> Promise<Float32Array (descriptors, outHeight, outWidth)>: an image's
// texture descriptors (texture.h) measured at its own size and brought to the model's, off the
// event loop.
Napi::Value textureDescriptorsOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 6 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw invalidArgument("Expected (pixels: Uint8Array, height, width, channels, outHeight, outWidth) for textureDescriptors");
    }
    int64_t sizes[5];
    for (int i = 0; i < 5; ++i) {
      if (!info[i + 1].IsNumber()) throw invalidArgument("Expected numbers for height, width, channels, outHeight and outWidth of textureDescriptors");
      sizes[i] = info[i + 1].As<Napi::Number>().Int64Value();
      if (sizes[i] <= 0) throw invalidArgument("Expected positive height, width, channels, outHeight and outWidth for textureDescriptors");
    }
    Napi::Uint8Array pixels = info[0].As<Napi::Uint8Array>();
    if (static_cast<int64_t>(pixels.ElementLength()) != sizes[0] * sizes[1] * sizes[2]) {
      throw invalidArgument("Expected height*width*channels = " + std::to_string(sizes[0] * sizes[1] * sizes[2]) + " pixels for textureDescriptors");
    }
    const uint8_t* data = pixels.Data();
    auto result = std::make_shared<torch::Tensor>();
    return TaskWorker::run(
        info.Env(),
        [data, sizes, result] {
          torch::NoGradGuard noGrad;
          const torch::Tensor image = torch::from_blob(const_cast<uint8_t*>(data), {sizes[0], sizes[1], sizes[2]}, torch::kByte);
          *result = textureDescriptors(image, kTextureScales, sizes[3], sizes[4]);
        },
        [result](Napi::Env env) -> Napi::Value { return float32ArrayOf(env, *result); },
        {info[0]});
  });
}

// The kernel registry's families (registry.h), in order: name, what each holds, and its ops
// with what the checks need of them.
Napi::Value kernelFamiliesOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto arrayOf = [&](const auto& items, auto&& convert) {
      Napi::Array a = Napi::Array::New(env, items.size());
      for (size_t i = 0; i < items.size(); ++i) a.Set(static_cast<uint32_t>(i), convert(items[i]));
      return a;
    };
    auto number = [&](auto v) { return Napi::Number::New(env, static_cast<double>(v)); };
    auto shapes = [&](const std::vector<kernels::Shape>& list) {
      return arrayOf(list, [&](const kernels::Shape& shape) { return arrayOf(shape, number); });
    };
    return arrayOf(kernels::kernelFamilies(), [&](const kernels::FamilyDescriptor& family) {
      Napi::Object f = Napi::Object::New(env);
      f.Set("name", family.name);
      f.Set("description", family.description);
      f.Set("ops", arrayOf(family.ops, [&](const kernels::OpDescriptor& op) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", op.name);
        o.Set("shape", op.shape);
        o.Set("ranks", arrayOf(op.ranks, number));
        o.Set("backward", op.backward);
        o.Set("checkShapes", shapes(op.checkShapes));
        o.Set("gradcheckShapes", shapes(op.gradcheckShapes));
        return o;
      }));
      return f;
    });
  });
}

// The method's constants as the engine uses them, for a check against their published values
// (a wrong constant shared by a kernel and its reference would agree with itself).
Napi::Value methodConstants(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const MethodConstants c = intra::methodConstants();
    auto numbers = [&](const std::vector<int64_t>& values) {
      Napi::Array a = Napi::Array::New(env, values.size());
      for (size_t i = 0; i < values.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(values[i]));
      return a;
    };
    Napi::Object o = Napi::Object::New(env);
    o.Set("gmsConstant", c.gmsConstant);
    o.Set("ssimC1", c.ssimC1);
    o.Set("ssimC2", c.ssimC2);
    o.Set("ssimWindow", static_cast<double>(c.ssimWindow));
    o.Set("ssimSigma", c.ssimSigma);
    o.Set("paperMapScales", numbers(c.paperMapScales));
    o.Set("paperKernelsAt512", numbers(c.paperKernelsAt512));
    o.Set("paperBlurSigma", c.paperBlurSigma);
    o.Set("thesisMapScales", numbers(c.thesisMapScales));
    o.Set("thesisMeanFilter", static_cast<double>(c.thesisMeanFilter));
    o.Set("adamBeta1", c.adamBeta1);
    o.Set("adamBeta2", c.adamBeta2);
    o.Set("adamEps", c.adamEps);
    o.Set("adamWeightDecay", c.adamWeightDecay);
    return o;
  });
}

// presetTraining(name) -> { batchSize?, learningRate?, windowsPerImage?, trainPrecision?, minutes? }
Napi::Value presetTrainingOf(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) throw invalidArgument("Expected a preset name");
    const PresetTraining t = presetTraining(info[0].As<Napi::String>().Utf8Value());
    Napi::Object o = Napi::Object::New(info.Env());
    if (t.batchSize) o.Set("batchSize", static_cast<double>(*t.batchSize));
    if (t.learningRate) o.Set("learningRate", *t.learningRate);
    if (t.windowsPerImage) o.Set("windowsPerImage", static_cast<double>(*t.windowsPerImage));
    if (t.bf16WhereAvailable) o.Set("trainPrecision", "bf16-if-available");
    if (t.minutes) o.Set("minutes", *t.minutes);
    if (t.map) o.Set("map", toObject(info.Env(), *t.map));
    return o;
  });
}

Napi::Value windowOrigins(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      throw invalidArgument("Expected (axisLength, windowSize) numbers");
    }
    const int64_t grid = info[0].As<Napi::Number>().Int64Value(), window = info[1].As<Napi::Number>().Int64Value();
    if (grid <= 0 || window <= 0) throw invalidArgument("Expected positive axisLength and windowSize");
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), static_cast<size_t>(grid));
    for (int64_t t = 0; t < grid; ++t) out[static_cast<size_t>(t)] = static_cast<int32_t>(windowOrigin(t, window, grid));
    return out;
  });
}

// Where windows land when the whole grid undergoes each symmetry (augmentation).
Napi::Value turnedWindowOriginsJs(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto isInt32 = [&](size_t k) {
      return info[k].IsTypedArray() && info[k].As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
    };
    if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !isInt32(3) ||
        !isInt32(4) || !isInt32(5)) {
      throw invalidArgument("Expected (gridRows, gridCols, windowSize, Int32Array rows, cols, transforms) for turnedWindowOrigins");
    }
    const int64_t gridRows = info[0].As<Napi::Number>().Int64Value(), gridCols = info[1].As<Napi::Number>().Int64Value();
    const int64_t window = info[2].As<Napi::Number>().Int64Value();
    Napi::Int32Array rows = info[3].As<Napi::Int32Array>(), cols = info[4].As<Napi::Int32Array>(), transforms = info[5].As<Napi::Int32Array>();
    const int64_t n = static_cast<int64_t>(rows.ElementLength());
    if (window <= 0 || window > gridRows || window > gridCols || static_cast<int64_t>(cols.ElementLength()) != n ||
        static_cast<int64_t>(transforms.ElementLength()) != n) {
      throw invalidArgument("Expected 0 < windowSize <= gridRows, gridCols and rows, cols, transforms of one length for turnedWindowOrigins");
    }
    auto tensorOf = [n](const Napi::Int32Array& a) { return torch::from_blob(const_cast<int32_t*>(a.Data()), {n}, torch::kInt).to(torch::kLong); };
    torch::Tensor r = tensorOf(rows), c = tensorOf(cols), t = tensorOf(transforms);
    if (n > 0 && (r.min().item<int64_t>() < 0 || r.max().item<int64_t>() > gridRows - window || c.min().item<int64_t>() < 0 ||
                  c.max().item<int64_t>() > gridCols - window || t.min().item<int64_t>() < 0 || t.max().item<int64_t>() > 7)) {
      throw invalidArgument("Expected window origins inside the grid and transforms 0-7 for turnedWindowOrigins");
    }
    auto [turnedRows, turnedCols] = turnedWindowOrigins(r, c, t, window, gridRows, gridCols);
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

}  // namespace intra::addon
