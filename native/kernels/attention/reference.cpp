// Reference attention built from ATen composites (autograd supplies the backward).
#include <cmath>

#include "attention.h"

namespace intra::kernels {

at::Tensor softmaxAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;  // (B, h, S, S)
  return at::matmul(at::softmax(scores, -1), v);
}

// Katharopoulos et al. 2020, non-causal: out_i = phi(q_i) (sum_j phi(k_j) v_j^T) /
// (phi(q_i) . sum_j phi(k_j)), phi(x) = elu(x) + 1.
at::Tensor linearAttentionReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  at::Tensor phiQ = at::elu(q) + 1;
  at::Tensor phiK = at::elu(k) + 1;
  at::Tensor keyValue = at::matmul(phiK.transpose(-2, -1), v);  // (B, h, dqk, dv)
  at::Tensor keySum = phiK.sum(-2, /*keepdim=*/true);           // (B, h, 1, dqk)
  at::Tensor normaliser = (phiQ * keySum).sum(-1, /*keepdim=*/true) + kLinearAttentionEps;  // (B, h, S, 1)
  return at::matmul(phiQ, keyValue) / normaliser;
}

}  // namespace intra::kernels
