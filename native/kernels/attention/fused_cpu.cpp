// Fused attention on the CPU: the table entry for (cpu, fused), threads over (batch, head),
// and the choice of instruction set. The arithmetic is in fused_impl.inc, built per
// instruction set; dispatch.cpp wires these functions into autograd.
#include <ATen/Parallel.h>

#include <cstdlib>
#include <string>
#include <tuple>

#include "../../common/errors.h"
#include "../cpu_sets.h"
#include "attention.h"
#include "fused_kernels.h"

namespace intra::kernels {

namespace fused {

namespace {

#if defined(INTRA_X86_KERNELS)
bool hasAvx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
}
bool hasAvx512Bf16() { return hasAvx512() && __builtin_cpu_supports("avx512bf16"); }
bool hasAvx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

// The AVX-512 set with softmax attention's bf16 forward and backward on bf16 dot products.
KernelSet avx512Bf16Kernels() {
  static const Bf16SoftmaxKernels bf16 = avx512Bf16SoftmaxKernels();
  KernelSet set = avx512Kernels();
  set.isa = "avx512_bf16";
  set.bf16Softmax = &bf16;
  return set;
}
#endif

// INTRA_CPU_KERNELS=avx512_bf16|avx512|avx2|generic runs a narrower set than the CPU's best,
// so that tests and benches reach every set on one machine; a set the CPU cannot run is an error.
KernelSet chooseKernels() {
  const char* forced = std::getenv("INTRA_CPU_KERNELS");
  const std::string asked = forced ? forced : "";
#if defined(INTRA_X86_KERNELS)
  __builtin_cpu_init();
  if (asked.empty())
    return hasAvx512Bf16() ? avx512Bf16Kernels() : hasAvx512() ? avx512Kernels() : hasAvx2() ? avx2Kernels() : genericKernels();
  if (asked == "avx512_bf16" && hasAvx512Bf16()) return avx512Bf16Kernels();
  if (asked == "avx512" && hasAvx512()) return avx512Kernels();
  if (asked == "avx2" && hasAvx2()) return avx2Kernels();
#else
  if (asked.empty()) return genericKernels();
#endif
  if (asked == "generic") return genericKernels();
  if (asked == "avx512_bf16" || asked == "avx512" || asked == "avx2")
    throw unsupported("INTRA_CPU_KERNELS asks for the " + asked + " kernels, but this CPU (or build) cannot run them");
  throw invalidArgument("Expected one of avx512_bf16, avx512, avx2, generic for INTRA_CPU_KERNELS but received '" + asked +
                        "'");
}

}  // namespace

const KernelSet& bestKernels() {
  static const KernelSet chosen = chooseKernels();
  return chosen;
}

}  // namespace fused

namespace {

template <typename T>
const fused::AttentionKernels<T>& kernelsOf();
template <>
const fused::AttentionKernels<float>& kernelsOf<float>() { return fused::bestKernels().f32; }
template <>
const fused::AttentionKernels<double>& kernelsOf<double>() { return fused::bestKernels().f64; }

struct Dims {
  int64_t heads, S, dqk, dv;
};
Dims dimsOf(const at::Tensor& q, const at::Tensor& v) { return {q.size(0) * q.size(1), q.size(2), q.size(3), v.size(3)}; }

HeadLayout layoutOf(const at::Tensor& t) {
  return {t.size(1), t.stride(0), t.stride(1), t.stride(2)};
}

// Runs `body(begin, end, scratch)` over heads on libtorch's threads, one scratch of
// `scratchElements` T per chunk (uint8_t: bytes).
template <typename T, typename Body>
void overHeads(int64_t heads, int64_t scratchElements, const Body& body) {
  at::parallel_for(0, heads, 1, [&](int64_t begin, int64_t end) {
    at::Tensor scratch = at::empty({scratchElements}, at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
    body(begin, end, scratch.data_ptr<T>());
  });
}

// Fresh contiguous tensors shaped as q, k, v: the kernels write gradients densely.
std::tuple<at::Tensor, at::Tensor, at::Tensor> contiguousLike(const at::Tensor& q, const at::Tensor& k,
                                                              const at::Tensor& v) {
  auto dense = [](const at::Tensor& t) { return at::empty(t.sizes(), t.options().memory_format(at::MemoryFormat::Contiguous)); };
  return {dense(q), dense(k), dense(v)};
}

// Whether the forward keeps the probabilities for the backward: where they take no more memory
// than q, k and v together (S <= 2 dqk + dv; the model's windows, S = 49). The backward then
// reads them instead of recomputing q K^T and S^2 exponentials a head; long windows keep only
// the log-sum-exp, so that no (S x S) tensor per head outlives the forward.
bool keepsProbabilities(const Dims& d) { return d.S <= 2 * d.dqk + d.dv; }

template <typename T>
std::vector<at::Tensor> softmaxForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       bool backwardFollows) {
  const Dims d = dimsOf(q, v);
  const auto& kernels = kernelsOf<T>();
  const auto dense = q.options().memory_format(at::MemoryFormat::Contiguous);
  at::Tensor out = at::empty({q.size(0), q.size(1), d.S, d.dv}, v.options().memory_format(at::MemoryFormat::Contiguous));
  at::Tensor lse = at::empty({q.size(0), q.size(1), d.S}, dense);
  at::Tensor probs = backwardFollows && keepsProbabilities(d) ? at::empty({q.size(0), q.size(1), d.S, d.S}, dense) : at::Tensor();
  T* probsData = probs.defined() ? probs.data_ptr<T>() : nullptr;
  overHeads<T>(d.heads, kernels.softmaxScratch(d.S, d.dqk, d.dv), [&](int64_t b, int64_t e, T* scratch) {
    kernels.softmaxForward(q.data_ptr<T>(), layoutOf(q), k.data_ptr<T>(), layoutOf(k), v.data_ptr<T>(), layoutOf(v),
                           out.data_ptr<T>(), lse.data_ptr<T>(), probsData, d.S, d.dqk, d.dv, b, e, scratch);
  });
  if (probs.defined()) return {out, lse, probs};
  return {out, lse};
}

template <typename T>
std::vector<at::Tensor> softmaxBackward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& out, const at::Tensor& lse, const at::Tensor& probs,
                                        const at::Tensor& dout) {
  const Dims d = dimsOf(q, v);
  const auto& kernels = kernelsOf<T>();
  auto [dq, dk, dv] = contiguousLike(q, k, v);
  const T* probsData = probs.defined() ? probs.data_ptr<T>() : nullptr;
  overHeads<T>(d.heads, kernels.softmaxScratch(d.S, d.dqk, d.dv), [&](int64_t b, int64_t e, T* scratch) {
    kernels.softmaxBackward(q.data_ptr<T>(), layoutOf(q), k.data_ptr<T>(), layoutOf(k), v.data_ptr<T>(), layoutOf(v),
                            out.data_ptr<T>(), dout.data_ptr<T>(), layoutOf(dout), lse.data_ptr<T>(), probsData,
                            dq.data_ptr<T>(), dk.data_ptr<T>(), dv.data_ptr<T>(), d.S, d.dqk, d.dv, b, e, scratch);
  });
  return {dq, dk, dv};
}

template <typename T>
at::Tensor linearForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const Dims d = dimsOf(q, v);
  const auto& kernels = kernelsOf<T>();
  at::Tensor out = at::empty({q.size(0), q.size(1), d.S, d.dv}, v.options().memory_format(at::MemoryFormat::Contiguous));
  overHeads<T>(d.heads, kernels.linearScratch(d.S, d.dqk, d.dv), [&](int64_t b, int64_t e, T* scratch) {
    kernels.linearForward(q.data_ptr<T>(), layoutOf(q), k.data_ptr<T>(), layoutOf(k), v.data_ptr<T>(), layoutOf(v),
                          out.data_ptr<T>(), d.S, d.dqk, d.dv, b, e, scratch);
  });
  return out;
}

template <typename T>
std::vector<at::Tensor> linearBackward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                       const at::Tensor& out, const at::Tensor& dout) {
  const Dims d = dimsOf(q, v);
  const auto& kernels = kernelsOf<T>();
  auto [dq, dk, dv] = contiguousLike(q, k, v);
  overHeads<T>(d.heads, kernels.linearScratch(d.S, d.dqk, d.dv), [&](int64_t b, int64_t e, T* scratch) {
    kernels.linearBackward(q.data_ptr<T>(), layoutOf(q), k.data_ptr<T>(), layoutOf(k), v.data_ptr<T>(), layoutOf(v),
                           out.data_ptr<T>(), dout.data_ptr<T>(), layoutOf(dout), dq.data_ptr<T>(), dk.data_ptr<T>(),
                           dv.data_ptr<T>(), d.S, d.dqk, d.dv, b, e, scratch);
  });
  return {dq, dk, dv};
}

// A bf16 tensor's elements as the bf16 kernels take them (uint16_t bits).
uint16_t* bf16Bits(const at::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>()); }

// -> {out (B, heads, S, dv) bf16, lse (B, heads, S) fp32[, probs (B, heads, S, S) bf16]}
std::vector<at::Tensor> softmaxForwardBf16(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                           bool backwardFollows, const fused::Bf16SoftmaxKernels& kernels) {
  const Dims d = dimsOf(q, v);
  const auto dense = q.options().memory_format(at::MemoryFormat::Contiguous);
  at::Tensor out = at::empty({q.size(0), q.size(1), d.S, d.dv}, v.options().memory_format(at::MemoryFormat::Contiguous));
  at::Tensor lse = at::empty({q.size(0), q.size(1), d.S}, dense.dtype(at::kFloat));
  at::Tensor probs = backwardFollows && keepsProbabilities(d) ? at::empty({q.size(0), q.size(1), d.S, d.S}, dense) : at::Tensor();
  uint16_t* probsData = probs.defined() ? bf16Bits(probs) : nullptr;
  overHeads<uint8_t>(d.heads, kernels.forwardScratchBytes(d.S, d.dqk, d.dv), [&](int64_t b, int64_t e, uint8_t* scratch) {
    kernels.forward(bf16Bits(q), layoutOf(q), bf16Bits(k), layoutOf(k), bf16Bits(v), layoutOf(v), bf16Bits(out),
                    lse.data_ptr<float>(), probsData, d.S, d.dqk, d.dv, b, e, scratch);
  });
  if (probs.defined()) return {out, lse, probs};
  return {out, lse};
}

// -> {dq, dk, dv} in bf16, from bf16 q, k, v, out (contiguous) and dout.
std::vector<at::Tensor> softmaxBackwardBf16(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            const at::Tensor& out, const at::Tensor& lse, const at::Tensor& probs,
                                            const at::Tensor& dout, const fused::Bf16SoftmaxKernels& kernels) {
  const Dims d = dimsOf(q, v);
  auto [dq, dk, dv] = contiguousLike(q, k, v);
  const uint16_t* probsData = probs.defined() ? bf16Bits(probs) : nullptr;
  overHeads<uint8_t>(d.heads, kernels.backwardScratchBytes(d.S, d.dqk, d.dv), [&](int64_t b, int64_t e, uint8_t* scratch) {
    kernels.backward(bf16Bits(q), layoutOf(q), bf16Bits(k), layoutOf(k), bf16Bits(v), layoutOf(v), bf16Bits(out),
                     bf16Bits(dout), layoutOf(dout), lse.data_ptr<float>(), probsData, bf16Bits(dq), bf16Bits(dk),
                     bf16Bits(dv), d.S, d.dqk, d.dv, b, e, scratch);
  });
  return {dq, dk, dv};
}

at::ScalarType computeType(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }
bool readsBf16(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 && fused::bestKernels().bf16Softmax; }

// The kernels read any layout whose last dimension is dense (the model's (B, S, heads, d)
// views included) in place; anything else is copied once. bf16 inputs stay bf16 where the
// CPU has bf16 dot products (softmax's forward reads them so; the other kernels convert
// them to float on entry); otherwise bf16 and fp16 (autocast) become float here.
at::Tensor prepare(const at::Tensor& t) {
  const at::ScalarType type = readsBf16(t) ? at::kBFloat16 : computeType(t);
  if (t.scalar_type() == type && t.stride(3) == 1) return t;
  return t.to(type).contiguous();
}

// A prepared tensor in the type the float kernels compute in (strides kept).
at::Tensor computed(const at::Tensor& t) { return t.scalar_type() == computeType(t) ? t : t.to(computeType(t)); }

std::vector<at::Tensor> softmaxForwardEntry(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            bool backwardFollows) {
  if (readsBf16(q)) return softmaxForwardBf16(q, k, v, backwardFollows, *fused::bestKernels().bf16Softmax);
  return q.scalar_type() == at::kDouble ? softmaxForward<double>(q, k, v, backwardFollows)
                                        : softmaxForward<float>(q, k, v, backwardFollows);
}
std::vector<at::Tensor> softmaxBackwardEntry(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                             const at::Tensor& out, const at::Tensor& lse, const at::Tensor& probs,
                                             const at::Tensor& dout) {
  if (q.scalar_type() == at::kDouble) return softmaxBackward<double>(q, k, v, out, lse, probs, dout);
  if (readsBf16(q) && out.scalar_type() == at::kBFloat16 && dout.scalar_type() == at::kBFloat16)
    return softmaxBackwardBf16(q, k, v, out.contiguous(), lse, probs, dout, *fused::bestKernels().bf16Softmax);
  // (A bf16 forward's probabilities are bf16: the float backward reads them as float.)
  return softmaxBackward<float>(computed(q), computed(k), computed(v), computed(out), lse,
                                probs.defined() ? computed(probs) : probs, computed(dout));
}
at::Tensor linearForwardEntry(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (q.scalar_type() == at::kDouble) return linearForward<double>(q, k, v);
  return linearForward<float>(computed(q), computed(k), computed(v));
}
std::vector<at::Tensor> linearBackwardEntry(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            const at::Tensor& out, const at::Tensor& dout) {
  if (q.scalar_type() == at::kDouble) return linearBackward<double>(q, k, v, out, dout);
  return linearBackward<float>(computed(q), computed(k), computed(v), computed(out), computed(dout));
}

}  // namespace

const AttentionFunctions& cpuFusedAttention() {
  static const AttentionFunctions functions{prepare, softmaxForwardEntry, softmaxBackwardEntry, linearForwardEntry,
                                            linearBackwardEntry};
  return functions;
}

std::string fusedInstructionSet() { return fused::bestKernels().isa; }

CpuVectorSet cpuVectorSet() {
  const std::string isa = fusedInstructionSet();
  if (isa == "avx512" || isa == "avx512_bf16") return CpuVectorSet::Avx512;
  if (isa == "avx2") return CpuVectorSet::Avx2;
  return CpuVectorSet::Generic;
}

}  // namespace intra::kernels
