// Where windows lie on the patch grid.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace intra {

// Upper-left patch (0-based) of the window that inpaints patch `index` (0-based) of a grid
// `gridSide` patches long, by the paper's eq. (4)-(5): r = g(t) - max(0, g(t) + L - N - 1),
// g(c) = max(1, c - floor(L/2)), in 1-based indices.
int64_t windowOrigin(int64_t index, int64_t windowSize, int64_t gridSide);

// For inference over a whole grid: for each patch p = t*G + u, the grid indices of its
// window's L*L patches (G*G, L*L) and the slot of p inside that window (G*G).
struct InferenceWindows {
  torch::Tensor patchIndices;  // int64 (G*G, L*L)
  torch::Tensor coveredSlot;   // int64 (G*G)
};
InferenceWindows inferenceWindows(int64_t gridSide, int64_t windowSize);

// Grid indices (B, L*L) of windows with upper-left patches (rows, cols) (B each).
torch::Tensor windowPatchIndices(const torch::Tensor& rows, const torch::Tensor& cols, int64_t windowSize,
                                 int64_t gridSide);

}  // namespace intra
