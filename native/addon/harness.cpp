// The kernel harness across N-API: value and gradient checks against the float64 reference,
// tolerance bounds, kernel timings and the machine's matrix-product ceiling.
#include "harness.h"

#include <utility>
#include <vector>

#include "../common/errors.h"
#include "../core/kernel_interface.h"
#include "convert.h"
#include "task_worker.h"

namespace intra::addon {

namespace {

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

// ErrorStats' fields by their JS names, for both directions across the boundary.
constexpr std::pair<const char*, double kernels::ErrorStats::*> kErrorFields[] = {
    {"fused32", &kernels::ErrorStats::fused32},           {"reference32", &kernels::ErrorStats::reference32},
    {"fused64", &kernels::ErrorStats::fused64},           {"fusedBf16", &kernels::ErrorStats::fusedBf16},
    {"referenceBf16", &kernels::ErrorStats::referenceBf16}, {"fusedF16", &kernels::ErrorStats::fusedF16},
    {"referenceF16", &kernels::ErrorStats::referenceF16}, {"scale", &kernels::ErrorStats::scale},
};

kernels::CheckRequest checkRequestFrom(const Napi::Object& o) {
  kernels::CheckRequest request;
  request.op = stringField(o, "op", "");
  request.shape = shapeFrom(o);
  request.seed = static_cast<uint64_t>(integerField(o, "seed", 0));
  request.device = stringField(o, "device", "cpu");
  request.impl = stringField(o, "impl", "fused");
  request.fault = stringField(o, "fault", "");
  return request;
}

}  // namespace

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
    request.op = stringField(o, "op", "");
    request.impl = stringField(o, "impl", "fused");
    request.pass = stringField(o, "pass", "forward");
    request.shape = shapeFrom(o);
    request.warmup = integerField(o, "warmup", 2);
    request.repeats = std::max<int64_t>(1, integerField(o, "repeats", 7));
    request.dtype = stringField(o, "dtype", "float32");
    request.device = stringField(o, "device", "cpu");
    const int64_t threads = integerField(o, "threads", 0);
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

}  // namespace intra::addon
