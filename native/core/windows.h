// Where windows lie on the patch grid.
#pragma once
#include <torch/torch.h>

#include <cstdint>

namespace intra {

// Upper-left patch (0-based) of the window that inpaints patch `index` (0-based) of a grid
// axis `axisLength` patches long, by the paper's eq. (4)-(5): r = g(t) - max(0, g(t) + L - N - 1),
// g(c) = max(1, c - floor(L/2)), in 1-based indices.
int64_t windowOrigin(int64_t index, int64_t windowSize, int64_t axisLength);

// For inference over a whole grid of N rows and M columns: for each patch p = t*M + u, the
// grid indices of its window's L*L patches (N*M, L*L) and the slot of p inside that window (N*M).
// Eq. (4)-(5) apply per axis, each with its own length.
struct InferenceWindows {
  torch::Tensor patchIndices;  // int64 (N*M, L*L)
  torch::Tensor coveredSlot;   // int64 (N*M)
};
InferenceWindows inferenceWindows(int64_t gridRows, int64_t gridCols, int64_t windowSize);

// Grid indices (B, L*L) of windows with upper-left patches (rows, cols) (B each) on a grid
// `gridCols` patches wide.
torch::Tensor windowPatchIndices(const torch::Tensor& rows, const torch::Tensor& cols, int64_t windowSize,
                                 int64_t gridCols);

// Symmetry t of the square (0-7): t % 4 turns by 90 degrees as torch::rot90 over (rows, cols),
// then t >= 4 flips the columns. Where windows with upper-left patches (rows, cols) land when
// the whole grid undergoes symmetry `transforms` (B each): their upper-left patches there.
// A window cut from an image and turned by t is the window at these origins of the turned
// image: its positions are these, so augmentation keeps pixels and positions consistent.
// On a grid that is not square a quarter turn leaves the grid, so only t = 0, 2, 4, 6 (the
// symmetries of a rectangle) are accepted there.
std::pair<torch::Tensor, torch::Tensor> turnedWindowOrigins(const torch::Tensor& rows, const torch::Tensor& cols,
                                                            const torch::Tensor& transforms, int64_t windowSize,
                                                            int64_t gridRows, int64_t gridCols);

}  // namespace intra
