// bias + GELU's row loops on raw pointers (no ATen), built once per CPU set (fused_rows.cpp).
// Rows are N contiguous elements; bf16 travels as uint16_t; arithmetic in the compute type A.
#pragma once
#include <cstdint>

#include "../cpu_sets.h"

namespace intra::kernels::activation {

// Forward: y = GELU(x + b) for rows [begin, end). Backward: dx = dy * GELU'(x + b) for rows
// [begin, end), and db += dx over those rows (the caller's partial).
template <typename X, typename A>
using ForwardRows = void (*)(const X* x, const A* b, int64_t N, int64_t begin, int64_t end, X* y);
template <typename X, typename A>
using BackwardRows = void (*)(const X* dy, const X* x, const A* b, int64_t N, int64_t begin, int64_t end, X* dx, A* db);
struct RowKernels {
  ByStorage<ForwardRows> forward;
  ByStorage<BackwardRows> backward;
};

RowKernels rowKernels(CpuVectorSet set);

}  // namespace intra::kernels::activation
