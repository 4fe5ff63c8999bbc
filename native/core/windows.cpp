#include "windows.h"

#include <algorithm>

#include "../common/errors.h"

namespace intra {

int64_t windowOrigin(int64_t index, int64_t windowSize, int64_t gridSide) {
  if (gridSide < windowSize) {
    throw invalidArgument("a grid of " + std::to_string(gridSide) + " patches is smaller than the window of " +
                          std::to_string(windowSize));
  }
  if (index < 0 || index >= gridSide) throw invalidArgument("patch index out of the grid");
  const int64_t c = index + 1;  // the paper's 1-based index
  const int64_t g = std::max<int64_t>(1, c - windowSize / 2);
  const int64_t r = g - std::max<int64_t>(0, g + windowSize - gridSide - 1);
  return r - 1;
}

torch::Tensor windowPatchIndices(const torch::Tensor& rows, const torch::Tensor& cols, int64_t windowSize,
                                 int64_t gridSide) {
  torch::Tensor offsets = torch::arange(windowSize, rows.options());
  torch::Tensor r = rows.unsqueeze(1) + offsets.unsqueeze(0);  // (B, L)
  torch::Tensor c = cols.unsqueeze(1) + offsets.unsqueeze(0);  // (B, L)
  return (r.unsqueeze(2) * gridSide + c.unsqueeze(1)).reshape({rows.size(0), windowSize * windowSize});
}

InferenceWindows inferenceWindows(int64_t gridSide, int64_t windowSize) {
  const int64_t count = gridSide * gridSide;
  std::vector<int64_t> rows(count), cols(count), slots(count);
  for (int64_t t = 0; t < gridSide; ++t) {
    for (int64_t u = 0; u < gridSide; ++u) {
      const int64_t p = t * gridSide + u;
      rows[p] = windowOrigin(t, windowSize, gridSide);
      cols[p] = windowOrigin(u, windowSize, gridSide);
      slots[p] = (t - rows[p]) * windowSize + (u - cols[p]);
    }
  }
  auto asTensor = [](std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); };
  return {windowPatchIndices(asTensor(rows), asTensor(cols), windowSize, gridSide), asTensor(slots)};
}

std::pair<torch::Tensor, torch::Tensor> turnedWindowOrigins(const torch::Tensor& rows, const torch::Tensor& cols,
                                                            const torch::Tensor& transforms, int64_t windowSize,
                                                            int64_t gridSide) {
  // rot90 over (rows, cols) sends patch (y, x) to (G-1-x, y): a window at (r, c) lands at
  // (G-L-c, r); a flip of the columns sends it to (r, G-L-c).
  const int64_t span = gridSide - windowSize;
  torch::Tensor r = rows, c = cols, turns = transforms.remainder(4);
  for (int64_t k = 1; k <= 3; ++k) {
    torch::Tensor turn = turns >= k;
    torch::Tensor turnedRow = torch::where(turn, span - c, r), turnedCol = torch::where(turn, r, c);
    r = turnedRow;
    c = turnedCol;
  }
  c = torch::where(transforms >= 4, span - c, c);
  return {r, c};
}

}  // namespace intra
