// The norm family in the kernel registry (registry.h).
#include "../registry.h"
#include "layer_norm.h"

namespace intra::kernels {

FamilyDescriptor normFamily() {
  // One element, odd widths, the model's width; rows of 1..100.
  const std::vector<Shape> rows = {{1, 1}, {7, 5}, {33, 512}, {100, 129}};
  OpDescriptor op{"layer_norm", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}};
  op.call = [](Implementation impl, const Shape&) -> OpCall {
    return [impl](const Inputs& x) { return layerNorm(x[0], x[1], x[2], kModelLayerNormEps, impl); };
  };
  // Rows off centre and wider than 1, weights near 1: what the model's residual stream meets.
  op.inputs = [](const Shape& s, at::Generator& generator) -> Inputs {
    const auto options = at::TensorOptions().dtype(at::kDouble);
    at::Tensor x = 0.5 + 2.0 * at::randn({s[0], s[1]}, generator, options);
    at::Tensor weight = 1.0 + 0.2 * at::randn({s[1]}, generator, options), bias = 0.2 * at::randn({s[1]}, generator, options);
    return {x, weight, bias};
  };
  // x read and y written; the backward reads dy and x (twice, from cache) and writes dx.
  op.bytes = [](const Shape& s, double size, bool backward) { return double(s[0]) * s[1] * size * (backward ? 5 : 2); };
  return {Family::Norm, "norm", "layer norm",
          [](Device device, Implementation implementation) { return fusedNorm(device, implementation) != nullptr; }, {op}};
}

}  // namespace intra::kernels
