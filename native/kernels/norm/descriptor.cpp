// The norm family in the kernel registry (registry.h).
#include "../registry.h"
#include "layer_norm.h"

namespace intra::kernels {

FamilyDescriptor normFamily() {
  // One element, odd widths, the model's width; rows of 1..100.
  const std::vector<Shape> rows = {{1, 1}, {7, 5}, {33, 512}, {100, 129}};
  return {Family::Norm, "norm", "layer norm",
          [](Device device, Implementation implementation) { return fusedNorm(device, implementation) != nullptr; },
          {{"layer_norm", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}}}};
}

}  // namespace intra::kernels
