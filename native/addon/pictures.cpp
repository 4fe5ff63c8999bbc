// Pictures of anomaly maps, computed off the event loop: maps resized to an image's own
// resolution, and grey, heat and overlay renderings.
#include "pictures.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "../common/errors.h"
#include "convert.h"
#include "task_worker.h"

namespace intra::addon {

namespace {

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

}  // namespace

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

// heatPictures(map: Float32Array, image: Uint8Array, height, width, channels, scale, wanted) ->
// Promise<{ grey?, heat?, overlay? }>: the map as 8-bit grey (values >= scale saturate), as heat
// colours, and heat colours over the image (55% heat, 45% image), those `wanted` asks for (bits
// 1, 2, 4; every caller needs two of the three), computed off the event loop.
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
    const int64_t wanted = info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().Int64Value() : 7;
    if (wanted < 1 || wanted > 7) throw invalidArgument("Expected a non-empty choice of grey, heat and overlay for heatPictures");
    const bool wantGrey = wanted & 1, wantHeat = wanted & 2, wantOverlay = wanted & 4;
    const float* mapData = map.Data();
    const uint8_t* imageData = image.Data();
    auto picture = [](bool wanted, int64_t size) {
      return std::make_shared<std::unique_ptr<std::vector<uint8_t>>>(wanted ? std::make_unique<std::vector<uint8_t>>(size) : nullptr);
    };
    auto grey = picture(wantGrey, pixels), overlay = picture(wantOverlay, pixels * 3), heat = picture(wantHeat, pixels * 3);
    return TaskWorker::run(
        info.Env(),
        [=] {
          const auto& ramp = heatRamp();
          const double k = scale > 0 ? 255.0 / scale : 0.0;
          uint8_t* g = *grey ? (*grey)->data() : nullptr;
          uint8_t* o = *overlay ? (*overlay)->data() : nullptr;
          uint8_t* h = *heat ? (*heat)->data() : nullptr;
          for (int64_t p = 0; p < pixels; ++p) {
            const uint8_t level = static_cast<uint8_t>(std::clamp<double>(std::floor(mapData[p] * k + 0.5), 0.0, 255.0));
            if (g) g[p] = level;
            for (int64_t c = 0; c < 3; ++c) {
              if (h) h[p * 3 + c] = ramp[level * 3 + c];
              if (o) {
                const double base = imageData[p * channels + (channels == 3 ? c : 0)];
                o[p * 3 + c] = static_cast<uint8_t>(std::floor(0.55 * ramp[level * 3 + c] + 0.45 * base + 0.5));
              }
            }
          }
        },
        [grey, overlay, heat](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          if (*grey) out.Set("grey", uint8ArrayOf(env, grey->release()));
          if (*heat) out.Set("heat", uint8ArrayOf(env, heat->release()));
          if (*overlay) out.Set("overlay", uint8ArrayOf(env, overlay->release()));
          return out;
        },
        {info[0], info[1]});
  });
}

}  // namespace intra::addon
