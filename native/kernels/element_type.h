// Element types of the raw-pointer kernel interfaces (no ATen, no CUDA).
#pragma once
#include <cstdint>

namespace intra::kernels {

enum class ElementType { F32, F64, BF16, F16 };

// A (rows, width) matrix of dense rows: what the row kernels (layer norm, bias + GELU, bias
// add) take on every device.
struct RowProblem {
  ElementType type;
  int64_t rows, width;
};

}  // namespace intra::kernels
