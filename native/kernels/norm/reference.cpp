// Layer norm's reference: ATen's own, in fp32 (fp64 for double) whatever x's type.
#include "layer_norm.h"

namespace intra::kernels {

at::Tensor layerNormReference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  const at::ScalarType type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return at::layer_norm(x.to(type), {x.size(-1)}, weight.to(type), bias.to(type), eps).to(x.scalar_type());
}

}  // namespace intra::kernels
