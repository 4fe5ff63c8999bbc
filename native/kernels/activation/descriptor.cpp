// The activation family in the kernel registry (registry.h).
#include "../registry.h"
#include "bias_gelu.h"

namespace intra::kernels {

FamilyDescriptor activationFamily() {
  // One element, odd widths, the model's width; rows of 1..100.
  const std::vector<Shape> rows = {{1, 1}, {7, 5}, {33, 512}, {100, 129}};
  OpDescriptor op{"bias_gelu", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}};
  op.call = [](Implementation impl, const Shape&) -> OpCall { return [impl](const Inputs& x) { return biasGelu(x[0], x[1], impl); }; };
  // Products around zero with a spread that reaches both of GELU's tails.
  op.inputs = [](const Shape& s, at::Generator& generator) -> Inputs {
    const auto options = at::TensorOptions().dtype(at::kDouble);
    return {2.0 * at::randn({s[0], s[1]}, generator, options), 0.5 * at::randn({s[1]}, generator, options)};
  };
  // x read and y written; the backward reads dy and x and writes dx.
  op.bytes = [](const Shape& s, double size, bool backward) { return double(s[0]) * s[1] * size * (backward ? 5 : 2); };
  return {Family::Activation, "activation", "bias + GELU",
          [](Device device, Implementation implementation) { return fusedActivation(device, implementation) != nullptr; }, {op}};
}

}  // namespace intra::kernels
