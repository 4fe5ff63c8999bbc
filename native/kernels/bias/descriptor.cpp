// The bias family in the kernel registry (registry.h).
#include "../registry.h"
#include "bias_add.h"

namespace intra::kernels {

namespace {
// A product, its bias, and a residual stream larger than either (as the model's grows).
template <bool Residual>
Inputs inputs(const Shape& s, at::Generator& generator) {
  const auto options = at::TensorOptions().dtype(at::kDouble);
  at::Tensor x = at::randn({s[0], s[1]}, generator, options), bias = 0.5 * at::randn({s[1]}, generator, options);
  if (!Residual) return {x, bias};
  return {x, bias, 4.0 * at::randn({s[0], s[1]}, generator, options)};
}
// x (and the residual) read and y written; the backward reads dy (the bias gradient's sums;
// dx is dy itself where the types agree).
template <bool Residual>
double bytes(const Shape& s, double size, bool backward) {
  const double reads = Residual ? 3 : 2;
  return double(s[0]) * s[1] * size * (backward ? reads + 1 : reads);
}
}  // namespace

FamilyDescriptor biasFamily() {
  // One element, odd widths, the model's width; rows of 1..100.
  const std::vector<Shape> rows = {{1, 1}, {7, 5}, {33, 512}, {100, 129}};
  OpDescriptor add{"bias_add", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}};
  add.call = [](Implementation impl, const Shape&) -> OpCall { return [impl](const Inputs& x) { return biasAdd(x[0], x[1], at::Tensor(), impl); }; };
  add.inputs = inputs<false>;
  add.bytes = bytes<false>;
  OpDescriptor residual{"bias_residual", "[rows, features]", {2}, true, rows, {{5, 9}, {3, 64}}};
  residual.call = [](Implementation impl, const Shape&) -> OpCall { return [impl](const Inputs& x) { return biasAdd(x[0], x[1], x[2], impl); }; };
  residual.inputs = inputs<true>;
  residual.bytes = bytes<true>;
  return {Family::Bias, "bias", "the products' bias and residual adds, the bias gradient in fp32",
          [](Device device, Implementation implementation) { return fusedBias(device, implementation) != nullptr; }, {add, residual}};
}

}  // namespace intra::kernels
