// Attention over windows: the ATen references and the fused kernels of each device,
// chosen at one dispatch point (the table of AttentionFunctions keyed by device and
// implementation; dispatch.cpp wires the chosen forward and backward into autograd).
//
// Shapes: q, k (B, heads, S, dqk); v (B, heads, S, dv) -> out (B, heads, S, dv). dqk may
// differ from dv (MFSA reduces queries and keys to D/2). The model hands over views of
// (B, S, heads, d) tensors: fused kernels read any layout whose last dimension is dense.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "../dispatch.h"
#include "layout.h"

namespace intra::kernels {

at::Tensor softmaxAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Implementation impl);
at::Tensor linearAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Implementation impl);

// References: plain ATen ops, autograd gives their backward.
at::Tensor softmaxAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor linearAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// One device's fused attention. Every function returns its results contiguous; `out` may
// be in a wider type than the inputs (the CPU computes bf16 in float), the caller casts.
struct AttentionFunctions {
  // The inputs as the kernels read them (type and layout), made once and saved for backward.
  at::Tensor (*prepare)(const at::Tensor& t);
  // -> {out (B, heads, S, dv), lse (B, heads, S): the row log-sum-exp of the scaled scores}, and
  // where a backward follows and the device's kernels find it cheaper than recomputing them
  // (short windows: the CPU's, see keepsProbabilities), the probabilities (B, heads, S, S) third.
  std::vector<at::Tensor> (*softmaxForward)(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            bool backwardFollows);
  // -> {dq, dk, dv}, from out and lse, and from probs where the forward kept them (else undefined:
  // recomputed from q, k and lse)
  std::vector<at::Tensor> (*softmaxBackward)(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                             const at::Tensor& out, const at::Tensor& lse, const at::Tensor& probs,
                                             const at::Tensor& dout);
  at::Tensor (*linearForward)(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
  std::vector<at::Tensor> (*linearBackward)(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                            const at::Tensor& out, const at::Tensor& dout);
};

// The table's entries, each defined beside its kernels.
const AttentionFunctions& cpuFusedAttention();            // fused_cpu.cpp
const AttentionFunctions& emulatedCudaFusedAttention();   // fused_cuda_emulated.cpp
#ifdef INTRA_CUDA_KERNELS
const AttentionFunctions& cudaFusedAttention();           // fused_cuda_adapter.cpp
#endif
// The fused attention for (device, implementation), or null when this build has none.
const AttentionFunctions* fusedAttention(Device device, Implementation implementation);
// Puts `functions` in the table's slot and returns the previous entry: the checks' deliberately
// wrong kernels only (harness.cpp), never while an engine of this process runs.
const AttentionFunctions* exchangeFusedAttention(Device device, Implementation implementation,
                                                 const AttentionFunctions* functions);

// The instruction set the CPU's fused attention kernels run with here: avx512, avx2 or generic.
std::string fusedInstructionSet();

}  // namespace intra::kernels
