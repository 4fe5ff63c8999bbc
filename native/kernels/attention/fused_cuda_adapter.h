// Tensors in, raw CUDA-kernel calls out: the thin libtorch adapter shared by the real CUDA
// table entry (fused_cuda_adapter.cpp, a GPU) and the emulated one (fused_cuda_emulated.cpp,
// CPU threads running the same kernel source). Checks dtype, device, shape and layout
// before anything is launched.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "../../common/errors.h"
#include "../cuda_contexts.h"
#include "attention.h"
#include "fused_cuda.h"

namespace intra::kernels::cuda_adapter {

inline HeadLayout layoutOf(const at::Tensor& t) { return {t.size(1), t.stride(0), t.stride(1), t.stride(2)}; }

// The attention kernels' launchers where `Context` runs them.
template <typename Context>
const AttentionLaunchers& attentionLaunchersFor();
template <>
inline const AttentionLaunchers& attentionLaunchersFor<EmulatedCudaContext>() { return emulatedAttentionLaunchers(); }
#ifdef INTRA_CUDA_KERNELS
template <>
inline const AttentionLaunchers& attentionLaunchersFor<CudaContext>() { return cudaAttentionLaunchers(); }
#endif

// Context: where the tensors live (accepts), the device guard and stream of a launch, the
// launchers' table, and whether outputs are poisoned first (the emulation's check).
template <typename Context>
struct AttentionAdapter {
  static void check(const char* op, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    if (!Context::accepts(q) || !Context::accepts(k) || !Context::accepts(v)) {
      throw invalidArgument(std::string("Expected q, k, v on ") + Context::kDeviceName + " for the " + op +
                            " kernels but received " + q.device().str());
    }
    if (k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type()) {
      throw invalidArgument(std::string("Expected q, k, v of one type for the ") + op + " kernels");
    }
    if (q.stride(3) != 1 || k.stride(3) != 1 || v.stride(3) != 1) {
      throw invalidArgument(std::string("Expected q, k, v with a dense last dimension for the ") + op + " kernels");
    }
  }
  static AttentionProblem problemOf(const at::Tensor& q, const at::Tensor& v) {
    return {elementTypeOf(q), q.size(0) * q.size(1), q.size(2), q.size(3), v.size(3)};
  }
  static at::Tensor dense(const at::Tensor& like, int64_t width) {
    return at::empty({like.size(0), like.size(1), like.size(2), width}, like.options().memory_format(at::MemoryFormat::Contiguous));
  }

  // The GPU recomputes the probabilities in the backward whatever follows (it has the
  // arithmetic to spare; memory is what it lacks): backwardFollows changes nothing here.
  static std::vector<at::Tensor> softmaxForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                bool /*backwardFollows*/) {
    check("softmax attention", q, k, v);
    [[maybe_unused]] auto guard = Context::guard(q);
    const AttentionProblem p = problemOf(q, v);
    const auto& launch = attentionLaunchersFor<Context>();
    at::Tensor out = Context::poison(dense(q, p.dv));
    at::Tensor lse = Context::poison(at::empty({q.size(0), q.size(1), q.size(2)}, q.options().dtype(accumulateType(q))));
    if (p.heads > 0 && p.S > 0) {
      launch.softmaxForward(p, q.data_ptr(), layoutOf(q), k.data_ptr(), layoutOf(k), v.data_ptr(), layoutOf(v),
                            out.data_ptr(), lse.data_ptr(), Context::stream(q));
    }
    return {out, lse};
  }

  static std::vector<at::Tensor> softmaxBackward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                 const at::Tensor& out, const at::Tensor& lse,
                                                 const at::Tensor& /*probs: never kept here*/, const at::Tensor& dout) {
    check("softmax attention", q, k, v);
    [[maybe_unused]] auto guard = Context::guard(q);
    const AttentionProblem p = problemOf(q, v);
    at::Tensor g = dout.to(q.scalar_type());
    g = g.stride(3) == 1 ? g : g.contiguous();
    at::Tensor o = out.to(q.scalar_type()).contiguous();
    at::Tensor rowDot = at::empty_like(lse);
    at::Tensor dq = Context::poison(dense(q, p.dqk)), dk = Context::poison(dense(q, p.dqk)), dv = Context::poison(dense(q, p.dv));
    if (p.heads > 0 && p.S > 0) {
      attentionLaunchersFor<Context>().softmaxBackward(p, q.data_ptr(), layoutOf(q), k.data_ptr(), layoutOf(k), v.data_ptr(),
                                           layoutOf(v), o.data_ptr(), g.data_ptr(), layoutOf(g), lse.data_ptr(),
                                           rowDot.data_ptr(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr(),
                                           Context::stream(q));
    }
    return {dq, dk, dv};
  }

  static void checkLinearFits(const AttentionProblem& p) {
    const auto& launch = attentionLaunchersFor<Context>();
    if (launch.linearSharedBytes(p) > launch.sharedLimit()) {
      throw unsupported("the CUDA linear attention keeps phi(K)^T V in shared memory: " + std::to_string(p.dqk) + " x " +
                        std::to_string(p.dv) + " does not fit; use kernels 'reference'");
    }
  }

  static at::Tensor linearForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    check("linear attention", q, k, v);
    [[maybe_unused]] auto guard = Context::guard(q);
    const AttentionProblem p = problemOf(q, v);
    checkLinearFits(p);
    at::Tensor out = Context::poison(dense(q, p.dv));
    if (p.heads > 0 && p.S > 0) {
      attentionLaunchersFor<Context>().linearForward(p, q.data_ptr(), layoutOf(q), k.data_ptr(), layoutOf(k), v.data_ptr(),
                                         layoutOf(v), out.data_ptr(), Context::stream(q));
    }
    return out;
  }

  static std::vector<at::Tensor> linearBackward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                const at::Tensor& out, const at::Tensor& dout) {
    check("linear attention", q, k, v);
    [[maybe_unused]] auto guard = Context::guard(q);
    const AttentionProblem p = problemOf(q, v);
    checkLinearFits(p);
    at::Tensor g = dout.to(q.scalar_type());
    g = g.stride(3) == 1 ? g : g.contiguous();
    at::Tensor o = out.to(q.scalar_type()).contiguous();
    at::Tensor dq = Context::poison(dense(q, p.dqk)), dk = Context::poison(dense(q, p.dqk)), dv = Context::poison(dense(q, p.dv));
    if (p.heads > 0 && p.S > 0) {
      attentionLaunchersFor<Context>().linearBackward(p, q.data_ptr(), layoutOf(q), k.data_ptr(), layoutOf(k), v.data_ptr(),
                                          layoutOf(v), o.data_ptr(), g.data_ptr(), layoutOf(g), dq.data_ptr(),
                                          dk.data_ptr(), dv.data_ptr(), Context::stream(q));
    }
    return {dq, dk, dv};
  }

  static const AttentionFunctions& functions() {
    static const AttentionFunctions table{prepare, softmaxForward, softmaxBackward, linearForward, linearBackward};
    return table;
  }
};

}  // namespace intra::kernels::cuda_adapter
