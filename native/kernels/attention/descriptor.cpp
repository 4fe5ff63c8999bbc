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
}  // namespace

FamilyDescriptor attentionFamily() {
  const char* shape = "[B, heads, S, dqk, dv]";
  return {Family::Attention, "attention", "softmax and linear attention",
          [](Device device, Implementation implementation) { return fusedAttention(device, implementation) != nullptr; },
          {{"softmax_attention", shape, {5}, true, kChecks, kGradchecks},
           {"linear_attention", shape, {5}, true, kChecks, kGradchecks}}};
}

}  // namespace intra::kernels
