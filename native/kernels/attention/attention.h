// Attention over windows: references and fused CPU kernels, chosen at one dispatch point.
//
// Shapes: q, k (B, heads, S, dqk); v (B, heads, S, dv) -> out (B, heads, S, dv).
// dqk may differ from dv (MFSA reduces queries and keys to D/2).
// The references are plain ATen ops (autograd gives their backward): the truth that fast
// implementations are tested against, selectable at run time for benchmarks.
#pragma once
#include <ATen/ATen.h>

#include <string>

#include "../impl.h"
#include "fused_kernels.h"

namespace intra::kernels {

at::Tensor softmaxAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Impl impl);
at::Tensor linearAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Impl impl);

at::Tensor softmaxAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor linearAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Fused CPU kernels, wired into autograd. Inputs float or double (bf16 is computed in
// float and returned in bf16). The softmax backward keeps only out and the row
// log-sum-exp (B, heads, S) from the forward, never a (B, heads, S, S) tensor.
at::Tensor softmaxAttentionFusedCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor linearAttentionFusedCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
// The instruction set the fused attention kernels run with here: avx512, avx2 or generic.
std::string fusedInstructionSet();


}  // namespace intra::kernels
