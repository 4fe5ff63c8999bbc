// The optimizer family (Adam's update) and the working copies of the weights in the kernel
// registry (registry.h).
#include "../registry.h"
#include "adam.h"

namespace intra::kernels {

namespace {
// Checked and timed its own way (checks/harness.cpp: an update of P parameters, not a function
// of its inputs); its traffic is four tensors read and three written per element.
OpDescriptor adamOp() {
  OpDescriptor op{"adam", "[parameters, elements]", {2}, false, {{1, 1}, {5, 1001}, {3, 70000}}, {}};
  op.bytes = [](const Shape& s, double size, bool) {
    double elements = 0;
    for (int64_t i = 0; i < s[0]; ++i) elements += double(s[1] + 7 * i);
    return elements * size * 7;
  };
  return op;
}
}  // namespace

FamilyDescriptor optimizerFamily() {
  // P parameters of N, N + 7, ... elements: one element, a ragged few, and parameters larger
  // than one task's range (the fused update's ranges cross parameters).
  return {Family::Optimizer, "optimizer", "Adam's update",
          [](Device device, Implementation implementation) { return fusedOptimizer(device, implementation) != nullptr; },
          {adamOp()}};
}

// No table of its own: bf16 training keeps bf16 working copies of the weights where the fused
// Adam rewrites them, so the engine's choice follows the optimizer's.
FamilyDescriptor weightsFamily() {
  return {Family::Weights, "weights", "bf16 training's working copies of the weights, which the fused Adam rewrites", nullptr, {}};
}

}  // namespace intra::kernels
