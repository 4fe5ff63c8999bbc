#include "harness.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>

#include "../../common/cpu_allocator.h"
#include "../../common/errors.h"
#include "../attention/attention.h"
#include "../device_timing.h"
#include "../filters/filters.h"
#include "../norm/layer_norm.h"
#include "../optim/adam.h"
#include "../registry.h"

namespace intra::kernels {

namespace {

using Op = OpCall;

// The op under test, by name and implementation, and its random inputs.
// libtorch 2.x's own fused attention, for the bench's comparison at MSA widths.
Op sdpaOp() {
#if TORCH_VERSION_MAJOR >= 2
  return [](const Inputs& x) { return at::scaled_dot_product_attention(x[0], x[1], x[2]); };
#else
  throw unsupported("at::scaled_dot_product_attention needs libtorch 2.x; this is " TORCH_VERSION);
#endif
}

// The op under test, by name and implementation: the registry's (registry.h).
Op opFor(const std::string& name, Implementation impl, const std::vector<int64_t>& shape) {
  const OpDescriptor& op = opNamed(name);
  if (op.call == nullptr) throw invalidArgument("op " + name + " is checked its own way, not as a function of its inputs");
  return op.call(impl, shape);
}

bool isAttention(const std::string& op) { return op == "softmax_attention" || op == "linear_attention"; }

// The deliberately wrong kernels of CheckRequest::fault: the entry under test with one mistake,
// swapped into its family's table for one check and back (one check at a time).
namespace faults {
const AttentionFunctions* attention = nullptr;
const FilterFunctions* filters = nullptr;
constexpr double kOff = 1.0 + 1.0 / 1024;
std::vector<at::Tensor> scaledSoftmax(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool backwardFollows) {
  std::vector<at::Tensor> r = attention->softmaxForward(q, k, v, backwardFollows);
  r[0] = r[0] * kOff;
  return r;
}
at::Tensor scaledLinear(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return attention->linearForward(q, k, v) * kOff;
}
std::vector<at::Tensor> gmsBackwardWithoutB(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
  std::vector<at::Tensor> d = filters->gmsBackward(a, b, dout);
  d[1] = at::zeros_like(d[1]);
  return d;
}
const NormFunctions* norm = nullptr;
std::vector<at::Tensor> normBackwardWithoutBias(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& weight,
                                                const at::Tensor& mean, const at::Tensor& rstd) {
  std::vector<at::Tensor> d = norm->backward(dy, x, weight, mean, rstd);
  d[2] = at::zeros_like(d[2]);
  return d;
}
}  // namespace faults

class FaultScope {
 public:
  FaultScope(const CheckRequest& request, Device device, Implementation impl) : device_(device), impl_(impl) {
    if (request.fault.empty()) return;
    lock_ = std::unique_lock<std::mutex>(mutex());
    if (request.fault == "output-scale" && isAttention(request.op)) {
      faults::attention = fusedAttention(device, impl);
      if (faults::attention == nullptr) notBuilt("attention", device, impl);
      attention_ = *faults::attention;
      attention_.softmaxForward = faults::scaledSoftmax;
      attention_.linearForward = faults::scaledLinear;
      restoreAttention_ = exchangeFusedAttention(device, impl, &attention_);
    } else if (request.fault == "gradient-term" && request.op == "gms") {
      faults::filters = fusedFilters(device, impl);
      if (faults::filters == nullptr) notBuilt("filters", device, impl);
      filters_ = *faults::filters;
      filters_.gmsBackward = faults::gmsBackwardWithoutB;
      restoreFilters_ = exchangeFusedFilters(device, impl, &filters_);
    } else if (request.fault == "gradient-term" && request.op == "layer_norm") {
      faults::norm = fusedNorm(device, impl);
      if (faults::norm == nullptr) notBuilt("layer norm", device, impl);
      norm_ = *faults::norm;
      norm_.backward = faults::normBackwardWithoutBias;
      restoreNorm_ = exchangeFusedNorm(device, impl, &norm_);
    } else {
      throw invalidArgument("Expected fault output-scale (softmax_attention, linear_attention) or gradient-term (gms, layer_norm), not '" +
                            request.fault + "' for " + request.op);
    }
  }
  ~FaultScope() {
    if (restoreAttention_ != nullptr) exchangeFusedAttention(device_, impl_, restoreAttention_);
    if (restoreFilters_ != nullptr) exchangeFusedFilters(device_, impl_, restoreFilters_);
    if (restoreNorm_ != nullptr) exchangeFusedNorm(device_, impl_, restoreNorm_);
  }
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  Device device_;
  Implementation impl_;
  std::unique_lock<std::mutex> lock_;
  AttentionFunctions attention_{};
  FilterFunctions filters_{};
  const AttentionFunctions* restoreAttention_ = nullptr;
  const FilterFunctions* restoreFilters_ = nullptr;
  NormFunctions norm_{};
  const NormFunctions* restoreNorm_ = nullptr;
};
bool hasBackward(const std::string& op) { return opNamed(op).backward; }

// Adam: shape [P, N] is P parameters of N, N + 7, N + 14, ... elements (ragged, so that the
// fused kernel's one range crosses parameters mid-task), updated `steps` times with fresh
// gradients drawn in double on the CPU, each a bf16 value, so that the mixed-precision run
// (float parameters, bf16 gradients and working copies: bf16 training's) sees the gradients
// every other run sees. Returns the parameters, both moments and the working copies afterwards.
struct AdamOutcome {
  at::Tensor param, expAvg, expAvgSq, working;  // each parameter's, concatenated, double on the CPU
};
std::vector<AdamTensors> adamTensors(const std::vector<int64_t>& shape, uint64_t seed, at::ScalarType type,
                                     at::Device device) {
  if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1) throw invalidArgument("Expected adam shape [P, N]");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<AdamTensors> tensors;
  for (int64_t i = 0; i < shape[0]; ++i) {
    const int64_t n = shape[1] + 7 * i;
    at::Tensor param = at::randn({n}, gen, at::TensorOptions().dtype(at::kDouble)).to(device, type);
    tensors.push_back({param, at::zeros_like(param), at::zeros_like(param), at::zeros_like(param), 0});
  }
  return tensors;
}
const AdamHyper kCheckedAdam{1e-2, 0.9, 0.999, 1e-8};
enum class AdamPrecision { Plain, Mixed };
AdamOutcome runAdam(const std::vector<int64_t>& shape, uint64_t seed, at::ScalarType type, at::Device device,
                    Implementation impl, AdamPrecision precision = AdamPrecision::Plain, int steps = 3) {
  torch::NoGradGuard noGrad;
  std::vector<AdamTensors> tensors = adamTensors(shape, seed, type, device);
  if (precision == AdamPrecision::Mixed) {
    for (AdamTensors& t : tensors) {
      t.grad = t.grad.to(at::kBFloat16);
      t.working = t.param.to(at::kBFloat16);
    }
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  for (int step = 1; step <= steps; ++step) {
    for (AdamTensors& t : tensors) {
      t.grad.copy_(at::randn({t.param.numel()}, gen, at::TensorOptions().dtype(at::kDouble)).to(at::kBFloat16));
      t.step = step;
    }
    adamUpdate(tensors, kCheckedAdam, impl);
  }
  auto gather = [&](at::Tensor AdamTensors::*member) {
    std::vector<at::Tensor> parts;
    for (const AdamTensors& t : tensors) {
      if ((t.*member).defined()) parts.push_back((t.*member).to(at::kCPU, at::kDouble));
    }
    return parts.empty() ? at::Tensor() : at::cat(parts);
  };
  return {gather(&AdamTensors::param), gather(&AdamTensors::expAvg), gather(&AdamTensors::expAvgSq),
          gather(&AdamTensors::working)};
}

// `run()` under `impl` on `device`, which must use its table's entry (each call through it
// counts): else the kernel under test did not run for `what`, and comparing it would be
// comparing the reference with itself.
template <typename Run>
auto throughTableEntry(Device device, Implementation impl, const std::string& what, Run&& run) {
  const uint64_t before = tableEntriesUsed(device, impl);
  auto outcome = run();
  if (tableEntriesUsed(device, impl) == before) {
    throw invalidState("the " + toString(impl) + " kernel did not run for " + what + " (its table's entry was never used)");
  }
  return outcome;
}

// Adam's check: float32 and float64 against the float64 reference. Parameters are fp32 master
// weights: the bf16 row is bf16 training's, float parameters with bf16 gradients, held by
// the working copy ("working", its float32 row the master beside it); fp16 stays 0.
std::map<std::string, ErrorStats> checkAdam(const CheckRequest& request, at::Device device, Implementation impl) {
  auto underTest = [&](at::ScalarType type, AdamPrecision precision, const char* what) {
    return throughTableEntry(device.is_cuda() ? Device::Cuda : Device::Cpu, impl, what,
                             [&] { return runAdam(request.shape, request.seed, type, device, impl, precision); });
  };
  const AdamOutcome ref64 = runAdam(request.shape, request.seed, at::kDouble, at::kCPU, Implementation::Reference);
  const AdamOutcome f32 = underTest(at::kFloat, AdamPrecision::Plain, "float32");
  const AdamOutcome r32 = runAdam(request.shape, request.seed, at::kFloat, device, Implementation::Reference);
  const AdamOutcome f64 = underTest(at::kDouble, AdamPrecision::Plain, "float64");
  const AdamOutcome mixed = underTest(at::kFloat, AdamPrecision::Mixed, "bf16 gradients and working copies");
  const AdamOutcome mixedRef = runAdam(request.shape, request.seed, at::kFloat, device, Implementation::Reference, AdamPrecision::Mixed);
  std::map<std::string, ErrorStats> stats;
  auto record = [&](const std::string& name, at::Tensor AdamOutcome::*member) {
    const at::Tensor& ref = ref64.*member;
    ErrorStats s;
    s.scale = ref.abs().max().item<double>();
    s.fused32 = (f32.*member - ref).abs().max().item<double>();
    s.reference32 = (r32.*member - ref).abs().max().item<double>();
    s.fused64 = (f64.*member - ref).abs().max().item<double>();
    stats[name] = s;
  };
  record("param", &AdamOutcome::param);
  record("exp_avg", &AdamOutcome::expAvg);
  record("exp_avg_sq", &AdamOutcome::expAvgSq);
  ErrorStats& working = stats["working"];
  working.scale = ref64.param.abs().max().item<double>();
  working.fused32 = (mixed.param - ref64.param).abs().max().item<double>();
  working.reference32 = (mixedRef.param - ref64.param).abs().max().item<double>();
  working.fused64 = stats["param"].fused64;
  working.fusedBf16 = (mixed.working - ref64.param).abs().max().item<double>();
  working.referenceBf16 = (mixedRef.working - ref64.param).abs().max().item<double>();
  return stats;
}

// q, k, v of an attention shape [B, heads, S, dqk, dv], each drawn by `draw` as (B, S, heads, d)
// and viewed as (B, heads, S, d): the model's layout, not contiguous.
template <typename Draw>
Inputs attentionInputs(const std::vector<int64_t>& shape, Draw&& draw) {
  if (shape.size() != 5) throw invalidArgument("Expected attention shape [B, heads, S, dqk, dv]");
  const int64_t B = shape[0], H = shape[1], S = shape[2];
  auto make = [&](int64_t d) { return draw({B, S, H, d}).transpose(1, 2); };
  return {make(shape[3]), make(shape[3]), make(shape[4])};
}

// The registry's inputs for the op, drawn on the CPU in double whatever the device, so every
// device and type sees the same values.
Inputs randomInputs(const std::string& op, const std::vector<int64_t>& shape, uint64_t seed, at::ScalarType type) {
  const OpDescriptor& descriptor = opNamed(op);
  if (std::find(descriptor.ranks.begin(), descriptor.ranks.end(), shape.size()) == descriptor.ranks.end() || descriptor.inputs == nullptr) {
    throw invalidArgument("Expected " + op + " shape " + descriptor.shape);
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Inputs x = descriptor.inputs(shape, gen);
  for (auto& t : x) t = t.to(type);
  return x;
}

struct Outcome {
  at::Tensor out;
  std::vector<at::Tensor> grads;
};

Outcome run(const Op& op, const Inputs& inputs, const at::Tensor& upstream, bool backward) {
  Inputs leaves;
  for (const auto& x : inputs) leaves.push_back(x.detach().clone().requires_grad_(backward));
  at::Tensor out = op(leaves);
  Outcome o{out.detach(), {}};
  if (backward) {
    out.backward(upstream.to(out.device(), out.scalar_type()));
    for (const auto& x : leaves) o.grads.push_back(x.grad());
  }
  return o;
}

double maxAbs(const at::Tensor& a, const at::Tensor& ref) {
  return (a.to(at::kCPU, at::kDouble) - ref).abs().max().item<double>();
}

// `op` run under `impl` on `inputs`, through its table's entry (throughTableEntry).
Outcome runUnderTest(const Op& op, Implementation impl, const Inputs& inputs, const at::Tensor& upstream, bool backward,
                     const std::string& what) {
  return throughTableEntry(deviceOf(inputs.front()), impl, what, [&] { return run(op, inputs, upstream, backward); });
}

at::Device deviceFrom(const std::string& name) {
  if (name == "cpu") return at::kCPU;
  if (name == "cuda") {
    if (!at::hasCUDA()) throw unsupported("device 'cuda' was asked for, but this build's libtorch has no CUDA");
    return at::Device(at::kCUDA, 0);
  }
  throw invalidArgument("Expected one of cpu, cuda for device but received '" + name + "'");
}

Inputs cast(const Inputs& in, at::ScalarType type, at::Device device) {
  Inputs out;
  for (const auto& x : in) out.push_back(x.to(device, type));
  return out;
}

}  // namespace

std::map<std::string, ErrorStats> checkKernel(const CheckRequest& request) {
  torch::AutoGradMode grad(true);
  const at::Device device = deviceFrom(request.device);
  const Implementation impl = implementationFromString(request.impl);
  if (impl == Implementation::Reference) throw invalidArgument("Expected a fused implementation to check, not the reference");
  // The float reference on a GPU must be a float reference: no TF32 in its convolutions.
  TF32Off noTf32;
  FaultScope fault(request, device.is_cuda() ? Device::Cuda : Device::Cpu, impl);
  if (request.op == "adam") return checkAdam(request, device, impl);
  const bool backward = hasBackward(request.op);
  Inputs x64 = randomInputs(request.op, request.shape, request.seed, at::kDouble);
  Op fused = opFor(request.op, impl, request.shape), reference = opFor(request.op, Implementation::Reference, request.shape);
  Outcome ref64 = run(reference, x64, at::Tensor(), false);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(request.seed + 1);
  at::Tensor upstream = at::randn(ref64.out.sizes(), gen, at::TensorOptions().dtype(at::kDouble));
  ref64 = run(reference, x64, upstream, backward);

  Outcome f32 = runUnderTest(fused, impl, cast(x64, at::kFloat, device), upstream, backward, "float32");
  Outcome r32 = run(reference, cast(x64, at::kFloat, device), upstream, backward);
  Outcome f64 = runUnderTest(fused, impl, cast(x64, at::kDouble, device), upstream, backward, "float64");
  Outcome fb16 = runUnderTest(fused, impl, cast(x64, at::kBFloat16, device), upstream, backward, "bfloat16");
  Outcome rb16 = run(reference, cast(cast(x64, at::kBFloat16, device), at::kFloat, device), upstream, backward);
  Outcome ff16 = runUnderTest(fused, impl, cast(x64, at::kHalf, device), upstream, backward, "float16");
  Outcome rf16 = run(reference, cast(cast(x64, at::kHalf, device), at::kFloat, device), upstream, backward);

  std::map<std::string, ErrorStats> stats;
  auto record = [&](const std::string& name, auto pick) {
    const at::Tensor& ref = pick(ref64);
    ErrorStats s;
    s.scale = ref.abs().max().item<double>();
    s.fused32 = maxAbs(pick(f32), ref);
    s.reference32 = maxAbs(pick(r32), ref);
    s.fused64 = maxAbs(pick(f64), ref);
    s.fusedBf16 = maxAbs(pick(fb16), ref);
    s.referenceBf16 = maxAbs(pick(rb16), ref);
    s.fusedF16 = maxAbs(pick(ff16), ref);
    s.referenceF16 = maxAbs(pick(rf16), ref);
    stats[name] = s;
  };
  record("out", [](const Outcome& o) -> const at::Tensor& { return o.out; });
  for (size_t i = 0; i < ref64.grads.size(); ++i) {
    record("grad" + std::to_string(i), [i](const Outcome& o) -> const at::Tensor& { return o.grads[i]; });
  }
  // A mixed-precision run (bf16 training's types) against float64: the bf16 row alone applies,
  // the others stay 0; outputs named with `suffix`.
  auto recordMixed = [&](const std::string& suffix, const Outcome& fm, const Outcome& rm) {
    auto mixed = [&](const std::string& name, auto pick) {
      const at::Tensor& ref = pick(ref64);
      ErrorStats s;
      s.scale = ref.abs().max().item<double>();
      s.fusedBf16 = maxAbs(pick(fm), ref);
      s.referenceBf16 = maxAbs(pick(rm), ref);
      stats[name + suffix] = s;
    };
    mixed("out", [](const Outcome& o) -> const at::Tensor& { return o.out; });
    for (size_t i = 0; i < ref64.grads.size(); ++i) {
      mixed("grad" + std::to_string(i), [i](const Outcome& o) -> const at::Tensor& { return o.grads[i]; });
    }
  };
  if (request.op == "bias_residual") {
    // bf16 training's residual add: a bf16 product into the float residual stream, with the
    // float bias (the master): output and residual gradient float, the product's gradient bf16
    // ("..._bf16_into_f32": the bf16 row alone applies, the others stay 0).
    auto mixedInputs = [&] {
      return Inputs{x64[0].to(device, at::kBFloat16), x64[1].to(device, at::kFloat), x64[2].to(device, at::kFloat)};
    };
    Outcome fm = runUnderTest(fused, impl, mixedInputs(), upstream, backward, "a bf16 product into a float stream");
    recordMixed("_bf16_into_f32", fm, run(reference, mixedInputs(), upstream, backward));
    // The types bf16 training sees: float out, a bf16 gradient for the product, float ones for the rest.
    if (fm.out.scalar_type() != at::kFloat || fm.grads[0].scalar_type() != at::kBFloat16 ||
        fm.grads[1].scalar_type() != at::kFloat || fm.grads[2].scalar_type() != at::kFloat) {
      throw invalidState("bias add into a float residual: expected float out and bias/residual gradients, a bf16 product gradient");
    }
  }
  if (request.op == "layer_norm") {
    // bf16 training's norm: float inputs, bf16 output and gradient ("..._bf16_of_f32": the bf16
    // row alone applies, the others stay 0), the reference casting ATen's float result.
    auto toBf16 = [](Implementation which) {
      return [which](const Inputs& x) { return layerNorm(x[0], x[1], x[2], kModelLayerNormEps, which, at::kBFloat16); };
    };
    recordMixed("_bf16_of_f32", runUnderTest(toBf16(impl), impl, cast(x64, at::kFloat, device), upstream, backward, "bf16 of float rows"),
                run(toBf16(Implementation::Reference), cast(x64, at::kFloat, device), upstream, backward));
  }
  return stats;
}

std::string toleranceViolations(const std::string& name, const ErrorStats& e) {
  const double scale = std::max(1.0, e.scale);
  std::string out;
  auto rule = [&](const char* what, double error, double bound) {
    if (!(error <= bound)) {  // NaN fails too
      out += name + " " + what + ": error " + std::to_string(error) + " above " + std::to_string(bound) + "; ";
    }
  };
  rule("float32", e.fused32, 2 * e.reference32 + 4 * std::ldexp(1.0, -23) * scale);
  rule("float64", e.fused64, 1e-12 * scale);
  // One rounding u of the output's own scale, so that an output whose values are all below 1 is
  // held to its size (not to an absolute u), and u^2 of at least 1: what a value that cancels
  // to zero from terms near 1 keeps (layer norm's dx at D = 1, linear attention's dq at S = 1).
  auto sixteenBit = [&](double error, double referenceError, int bits) {
    const double u = std::ldexp(1.0, -bits);
    return std::make_pair(error, 2 * referenceError + u * e.scale + u * u * scale);
  };
  const auto [bf16Error, bf16Bound] = sixteenBit(e.fusedBf16, e.referenceBf16, 8);
  const auto [f16Error, f16Bound] = sixteenBit(e.fusedF16, e.referenceF16, 11);
  rule("bf16", bf16Error, bf16Bound);
  rule("fp16", f16Error, f16Bound);
  return out;
}

double gradcheckKernel(const CheckRequest& request) {
  torch::AutoGradMode grad(true);
  if (!hasBackward(request.op)) throw invalidArgument("Expected an op with a backward for gradcheck");
  const at::Device device = deviceFrom(request.device);
  FaultScope fault(request, device.is_cuda() ? Device::Cuda : Device::Cpu, implementationFromString(request.impl));
  Op fused = opFor(request.op, implementationFromString(request.impl), request.shape);
  Inputs x = cast(randomInputs(request.op, request.shape, request.seed, at::kDouble), at::kDouble, device);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(request.seed + 7);
  at::Tensor w = at::randn(fused(x).sizes(), gen, at::TensorOptions().dtype(at::kDouble)).to(device);
  Outcome analytic = run(fused, x, w, true);
  const double eps = 1e-6;
  double worst = 0;
  for (int trial = 0; trial < 4; ++trial) {
    Inputs plus, minus;
    double predicted = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      at::Tensor u = at::randn(x[i].sizes(), gen, at::TensorOptions().dtype(at::kDouble)).to(device);
      plus.push_back(x[i] + eps * u);
      minus.push_back(x[i] - eps * u);
      predicted += (analytic.grads[i] * u).sum().item<double>();
    }
    const double numeric = ((fused(plus) - fused(minus)) * w).sum().item<double>() / (2 * eps);
    worst = std::max(worst, std::abs(predicted - numeric) / std::max(1.0, std::abs(numeric)));
  }
  return worst;
}

namespace {

// Runs `once` request.warmup times, then request.repeats timed runs: their median and minimum,
// and the peak of tensor memory a run allocates above what was alive before it.
template <typename Run>
BenchResult timedRuns(const BenchRequest& request, at::Device device, const Run& once) {
  for (int64_t i = 0; i < request.warmup; ++i) once();
  std::vector<double> times;
  int64_t peak = 0;
  for (int64_t i = 0; i < request.repeats; ++i) {
    resetDevicePeak(device);
    times.push_back(timeOnDevice(device, once));
    peak = std::max(peak, devicePeakBytes(device));
  }
  std::sort(times.begin(), times.end());
  BenchResult result;
  result.medianMs = times[times.size() / 2];
  result.minMs = times.front();
  result.peakBytes = peak;
  return result;
}

// One Adam update of P parameters (shape [P, N]), timed; its traffic is 4 tensors read and 3
// written per element.
BenchResult benchAdam(const BenchRequest& request, at::Device device, at::ScalarType type) {
  if (type != at::kFloat) throw invalidArgument("Expected float32 for adam's dtype (fp32 master weights)");
  torch::NoGradGuard noGrad;
  const Implementation impl = implementationFromString(request.impl);
  std::vector<AdamTensors> tensors = adamTensors(request.shape, 1, type, device);
  for (AdamTensors& t : tensors) t.grad.normal_();
  int64_t step = 0;
  auto once = [&] {
    ++step;
    for (AdamTensors& t : tensors) t.step = step;
    adamUpdate(tensors, kCheckedAdam, impl);
  };
  BenchResult result = timedRuns(request, device, once);
  result.bytes = opNamed("adam").bytes(request.shape, 4, false);
  return result;
}

// A bench's attention inputs drawn on the GPU itself: the bench shapes hold ~10^8 values
// per tensor, which the CPU's double-precision draw took seconds to make (the checks keep
// the CPU draw, so every device sees the same values there).
Inputs deviceAttentionInputs(const std::vector<int64_t>& shape, at::ScalarType type, const at::Device& device) {
  return attentionInputs(shape, [&](at::IntArrayRef size) { return at::randn(size, at::TensorOptions().device(device).dtype(type)); });
}

}  // namespace

BenchResult benchKernel(const BenchRequest& request) {
  const bool backward = request.pass == "forward+backward";
  if (!backward && request.pass != "forward") {
    throw invalidArgument("Expected one of forward, forward+backward for pass but received '" + request.pass + "'");
  }
  if (backward && !hasBackward(request.op)) throw invalidArgument("op " + request.op + " has no backward");
  const at::Device device = deviceFrom(request.device);
  const at::ScalarType type = request.dtype == "bfloat16" ? at::kBFloat16 : request.dtype == "float16" ? at::kHalf : at::kFloat;
  if (request.impl == "sdpa" && request.op != "softmax_attention") {
    throw invalidArgument("Expected softmax_attention for impl sdpa but received '" + request.op + "'");
  }
  if (request.op == "adam") return benchAdam(request, device, type);
  Op op = request.impl == "sdpa" ? sdpaOp() : opFor(request.op, implementationFromString(request.impl), request.shape);
  Inputs x = isAttention(request.op) && !device.is_cpu() ? deviceAttentionInputs(request.shape, type, device)
                                                        : cast(randomInputs(request.op, request.shape, 1, at::kDouble), type, device);
  for (auto& t : x) t.requires_grad_(backward);
  at::Tensor upstream;
  auto once = [&] {
    torch::AutoGradMode grad(backward);
    at::Tensor out = op(x);
    if (backward) {
      if (!upstream.defined()) upstream = at::ones_like(out);
      out.backward(upstream);
      for (auto& t : x) t.mutable_grad() = at::Tensor();
    }
  };
  BenchResult result = timedRuns(request, device, once);
  // The op's cost model (registry.h): FLOPs where arithmetic is the measure, else bytes.
  const OpDescriptor& descriptor = opNamed(request.op);
  const double size = request.dtype == "float32" ? 4 : 2;
  if (descriptor.flops != nullptr) result.flops = descriptor.flops(request.shape, backward);
  if (descriptor.bytes != nullptr) result.bytes = descriptor.bytes(request.shape, size, backward);
  return result;
}

double matmulCeilingGflops(int64_t n, const std::string& dtype, int64_t repeats, const std::string& deviceName) {
  torch::NoGradGuard noGrad;
  const at::Device device = deviceFrom(deviceName);
  const at::ScalarType type = dtype == "bfloat16" ? at::kBFloat16 : dtype == "float16" ? at::kHalf : at::kFloat;
  at::Tensor a = at::randn({n, n}).to(device, type), b = at::randn({n, n}).to(device, type);
  auto product = [&] { at::matmul(a, b); };
  timeOnDevice(device, product);
  std::vector<double> times;
  for (int64_t i = 0; i < repeats; ++i) times.push_back(timeOnDevice(device, product));
  std::sort(times.begin(), times.end());
  return 2.0 * n * n * n / (times[times.size() / 2] / 1e3) / 1e9;
}

}  // namespace intra::kernels
