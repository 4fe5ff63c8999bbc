// Connected regions (8-neighbourhood) of a binary defect mask, for the per-region overlap of
// AUPRO: every ground-truth mask of an evaluation is labelled once, off the event loop (a
// full-resolution mask of a real part has millions of pixels).
#include "regions.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "../common/errors.h"
#include "convert.h"
#include "task_worker.h"

namespace intra::addon {

namespace {

// Labels 1..count in the raster order of each region's first pixel; 0 where the mask is 0.
int32_t label8(const uint8_t* mask, int64_t width, int64_t height, int32_t* labels) {
  int32_t count = 0;
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < width * height; ++start) {
    if (!mask[start] || labels[start]) continue;
    labels[start] = ++count;
    stack.push_back(start);
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      const int64_t x = p % width, y = p / width;
      for (int64_t ny = std::max<int64_t>(y - 1, 0); ny <= std::min(y + 1, height - 1); ++ny) {
        for (int64_t nx = std::max<int64_t>(x - 1, 0); nx <= std::min(x + 1, width - 1); ++nx) {
          const int64_t q = ny * width + nx;
          if (mask[q] && !labels[q]) {
            labels[q] = count;
            stack.push_back(q);
          }
        }
      }
    }
  }
  return count;
}

}  // namespace

// labelRegions(mask: Uint8Array, width, height) -> Promise<{ labels: Int32Array, count }>.
Napi::Value labelRegions(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        !info[1].IsNumber() || !info[2].IsNumber()) {
      throw invalidArgument("Expected (Uint8Array, width, height) for labelRegions");
    }
    Napi::Uint8Array mask = info[0].As<Napi::Uint8Array>();
    const int64_t width = info[1].As<Napi::Number>().Int64Value(), height = info[2].As<Napi::Number>().Int64Value();
    if (width <= 0 || height <= 0 || static_cast<int64_t>(mask.ElementLength()) != width * height) {
      throw invalidArgument("Expected a mask of width*height bytes for labelRegions");
    }
    const uint8_t* data = mask.Data();
    auto labels = std::make_shared<std::unique_ptr<std::vector<int32_t>>>(std::make_unique<std::vector<int32_t>>(width * height, 0));
    auto count = std::make_shared<int32_t>(0);
    return TaskWorker::run(
        info.Env(), [=] { *count = label8(data, width, height, (*labels)->data()); },
        [labels, count](Napi::Env env) -> Napi::Value {
          std::vector<int32_t>* held = labels->release();
          Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
              env, held->data(), held->size() * sizeof(int32_t), [](Napi::Env, void*, std::vector<int32_t>* v) { delete v; }, held);
          Napi::Object out = Napi::Object::New(env);
          out.Set("labels", Napi::Int32Array::New(env, held->size(), buffer, 0));
          out.Set("count", Napi::Number::New(env, *count));
          return out;
        },
        {info[0]});
  });
}

}  // namespace intra::addon
