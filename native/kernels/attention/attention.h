// Attention over windows.
//
// Shapes: q, k (B, heads, S, dqk); v (B, heads, S, dv) -> out (B, heads, S, dv).
// dqk may differ from dv (MFSA reduces queries and keys to D/2).
// The references are plain ATen ops (autograd gives their backward): the truth that fast
// implementations are tested against.
#pragma once
#include <ATen/ATen.h>

namespace intra::kernels {

at::Tensor softmaxAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor linearAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace intra::kernels
