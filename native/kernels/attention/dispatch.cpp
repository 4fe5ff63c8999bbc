// The one place that picks an attention implementation for a device.
#include "../../core/errors.h"
#include "attention.h"

namespace intra::kernels {

namespace {

void checkShapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects 4-D q, k, v");
  TORCH_CHECK(q.sizes() == k.sizes(), "attention expects q and k of one shape");
  TORCH_CHECK(v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == q.size(2),
              "attention expects v to share batch, heads and sequence with q");
  TORCH_CHECK(q.device() == k.device() && q.device() == v.device(), "attention expects q, k, v on one device");
}

// Fused kernels exist for the CPU; asking for them elsewhere is an error, never a silent fallback.
bool fusedAvailable(const at::Tensor& q) {
  if (!q.device().is_cpu()) {
    throw unsupported("no fused attention kernel is built for " + q.device().str() + "; use kernels 'reference'");
  }
  return true;
}

}  // namespace

at::Tensor softmaxAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Impl impl) {
  checkShapes(q, k, v);
  if (impl == Impl::Fused && fusedAvailable(q)) return softmaxAttentionFusedCpu(q, k, v);
  return softmaxAttentionReference(q, k, v);
}

at::Tensor linearAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Impl impl) {
  checkShapes(q, k, v);
  if (impl == Impl::Fused && fusedAvailable(q)) return linearAttentionFusedCpu(q, k, v);
  return linearAttentionReference(q, k, v);
}

}  // namespace intra::kernels
