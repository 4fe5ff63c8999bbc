// The bias family in the kernel registry (registry.h).
#include "../registry.h"
#include "bias_add.h"

namespace intra::kernels {

FamilyDescriptor biasFamily() {
  // One element, odd widths, the model's width; rows of 1..100.
  const std::vector<Shape> rows = {{1, 1}, {7, 5}, {33, 512}, {100, 129}};
  return {Family::Bias, "bias", "the products' bias and residual adds, the bias gradient in fp32",
          [](Device device, Implementation implementation) { return fusedBias(device, implementation) != nullptr; },
          {{"bias_add", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}},
           {"bias_residual", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}}}};
}

}  // namespace intra::kernels
