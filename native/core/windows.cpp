#include "windows.h"

#include <algorithm>

#include "../common/errors.h"

namespace intra {

int64_t windowOrigin(int64_t index, int64_t windowSize, int64_t axisLength) {
  if (axisLength < windowSize) {
    throw invalidArgument("a grid of " + std::to_string(axisLength) + " patches is smaller than the window of " +
                          std::to_string(windowSize));
  }
  if (index < 0 || index >= axisLength) throw invalidArgument("patch index out of the grid");
  const int64_t c = index + 1;  // the paper's 1-based index
  const int64_t g = std::max<int64_t>(1, c - windowSize / 2);
  const int64_t r = g - std::max<int64_t>(0, g + windowSize - axisLength - 1);
  return r - 1;
}

torch::Tensor windowPatchIndices(const torch::Tensor& rows, const torch::Tensor& cols, int64_t windowSize,
                                 int64_t gridCols) {
  torch::Tensor offsets = torch::arange(windowSize, rows.options());
  torch::Tensor r = rows.unsqueeze(1) + offsets.unsqueeze(0);  // (B, L)
  torch::Tensor c = cols.unsqueeze(1) + offsets.unsqueeze(0);  // (B, L)
  return (r.unsqueeze(2) * gridCols + c.unsqueeze(1)).reshape({rows.size(0), windowSize * windowSize});
}

InferenceWindows inferenceWindows(int64_t gridRows, int64_t gridCols, int64_t windowSize) {
  const int64_t count = gridRows * gridCols;
  std::vector<int64_t> rows(count), cols(count), slots(count);
  for (int64_t t = 0; t < gridRows; ++t) {
    for (int64_t u = 0; u < gridCols; ++u) {
      const int64_t p = t * gridCols + u;
      rows[p] = windowOrigin(t, windowSize, gridRows);
      cols[p] = windowOrigin(u, windowSize, gridCols);
      slots[p] = (t - rows[p]) * windowSize + (u - cols[p]);
    }
  }
  auto asTensor = [](std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); };
  return {windowPatchIndices(asTensor(rows), asTensor(cols), windowSize, gridCols), asTensor(slots)};
}

std::pair<torch::Tensor, torch::Tensor> turnedWindowOrigins(const torch::Tensor& rows, const torch::Tensor& cols,
                                                            const torch::Tensor& transforms, int64_t windowSize,
                                                            int64_t gridRows, int64_t gridCols) {
  torch::Tensor turns = transforms.remainder(4);
  if (gridRows != gridCols && turns.remainder(2).ne(0).any().item<bool>()) {
    throw invalidArgument("a quarter turn of a " + std::to_string(gridRows) + "x" + std::to_string(gridCols) +
                          " patch grid leaves the grid: only half turns and flips keep a rectangle");
  }
  // rot90 over (rows, cols) of an R x C grid sends patch (y, x) to (C-1-x, y) of a C x R grid:
  // a window at (r, c) lands at (C-L-c, r); a flip of the columns sends it to (r, C-L-c).
  torch::Tensor r = rows, c = cols;
  torch::Tensor spanRows = torch::full_like(rows, gridRows - windowSize);
  torch::Tensor spanCols = torch::full_like(cols, gridCols - windowSize);
  for (int64_t k = 1; k <= 3; ++k) {
    torch::Tensor turn = turns >= k;
    torch::Tensor turnedRow = torch::where(turn, spanCols - c, r), turnedCol = torch::where(turn, r, c);
    torch::Tensor turnedSpanRows = torch::where(turn, spanCols, spanRows);
    spanCols = torch::where(turn, spanRows, spanCols);
    spanRows = turnedSpanRows;
    r = turnedRow;
    c = turnedCol;
  }
  c = torch::where(transforms >= 4, spanCols - c, c);
  return {r, c};
}

}  // namespace intra
