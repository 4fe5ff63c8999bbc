// The attention family in the kernel registry (registry.h).
#include "../registry.h"
#include "attention.h"

namespace intra::kernels {

namespace {
// Odd sizes, MFSA's dqk != dv, one element, a long sequence. The CPU kernel picks a 7- or
// 8-row tile where it pads less (S = 49, 112, 64) and then reads operands and writes gradients
// in place: across two query blocks (112), with a padded V beside in-place Q and K (64 x 64 x
// 40). The score products run whole two-vector tiles, then a one-vector strip and up to three
// dot columns (S = 49, 50, 13, 1); a rest wider than a vector and three (30) takes a padded
// tile. On CUDA, S <= 64 with widths <= 64 takes the tensor-core window kernels in 16 bits.
const std::vector<Shape> kChecks = {{1, 1, 1, 1, 1},    {2, 3, 13, 8, 5},    {3, 2, 49, 64, 64},
                                    {1, 2, 50, 32, 64}, {2, 1, 97, 17, 9},   {1, 1, 1024, 16, 16},
                                    {1, 2, 112, 32, 32}, {2, 1, 64, 64, 40}, {1, 2, 30, 16, 12}};
// The CPU's softmax keeps the probabilities for its backward while S <= 2 dqk + dv and
// recomputes them beyond: [1, 2, 11, 2, 3] (11 > 7) takes the other path.
const std::vector<Shape> kGradchecks = {{2, 2, 7, 5, 3}, {1, 1, 9, 4, 6}, {1, 2, 11, 2, 3}};

// q, k, v drawn as (B, S, heads, d) and viewed as (B, heads, S, d): the model's layout, not contiguous.
Inputs inputs(const Shape& shape, at::Generator& generator) {
  const int64_t B = shape[0], H = shape[1], S = shape[2];
  auto draw = [&](int64_t d) { return at::randn({B, S, H, d}, generator, at::TensorOptions().dtype(at::kDouble)).transpose(1, 2); };
  return {draw(shape[3]), draw(shape[3]), draw(shape[4])};
}

// Softmax: Q K^T and P V; linear: phi(K)^T V and phi(Q) KV (and the normaliser); 2 FLOPs per
// multiply-add. The backward recomputes the scores: about 2.5 times the forward.
template <bool Softmax>
double flops(const Shape& s, bool backward) {
  const double B = double(s[0]) * s[1], S = s[2], dqk = s[3], dv = s[4];
  const double forward = Softmax ? 2 * B * S * S * (dqk + dv) : 2 * B * S * dqk * (2 * dv + 2);
  return backward ? 3.5 * forward : forward;
}
}  // namespace

FamilyDescriptor attentionFamily() {
  const char* shape = "[B, heads, S, dqk, dv]";
  OpDescriptor softmax{"softmax_attention", shape, {5}, true, kChecks, kGradchecks};
  softmax.call = [](Implementation impl, const Shape&) -> OpCall {
    return [impl](const Inputs& x) { return softmaxAttention(x[0], x[1], x[2], impl); };
  };
  softmax.inputs = inputs;
  softmax.flops = flops<true>;
  OpDescriptor linear{"linear_attention", shape, {5}, true, kChecks, kGradchecks};
  linear.call = [](Implementation impl, const Shape&) -> OpCall {
    return [impl](const Inputs& x) { return linearAttention(x[0], x[1], x[2], impl); };
  };
  linear.inputs = inputs;
  linear.flops = flops<false>;
  return {Family::Attention, "attention", "softmax and linear attention",
          [](Device device, Implementation implementation) { return fusedAttention(device, implementation) != nullptr; },
          {softmax, linear}};
}

}  // namespace intra::kernels
