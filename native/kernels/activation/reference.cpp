// bias + GELU's reference: ATen's add and GELU, in x's type.
#include "bias_gelu.h"

namespace intra::kernels {

at::Tensor biasGeluReference(const at::Tensor& x, const at::Tensor& bias) {
  return at::gelu(x + bias.to(x.scalar_type()));
}

}  // namespace intra::kernels
