// The activation family in the kernel registry (registry.h).
#include "../registry.h"
#include "bias_gelu.h"

namespace intra::kernels {

FamilyDescriptor activationFamily() {
  // One element, odd widths, the model's width; rows of 1..100.
  const std::vector<Shape> rows = {{1, 1}, {7, 5}, {33, 512}, {100, 129}};
  return {Family::Activation, "activation", "bias + GELU",
          [](Device device, Implementation implementation) { return fusedActivation(device, implementation) != nullptr; },
          {{"bias_gelu", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}}}};
}

}  // namespace intra::kernels
