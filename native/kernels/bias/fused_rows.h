// The bias add's row loops on raw pointers (no ATen), built once per CPU set (fused_rows.cpp).
// Rows are N contiguous elements; bf16 travels as uint16_t; arithmetic in the compute type A.
#pragma once
#include <cstdint>

#include "../cpu_sets.h"

namespace intra::kernels::bias {

// y = x + b (+ r) for rows [begin, end), r null or in x's type, y in x's type.
template <typename X, typename A>
using AddRows = void (*)(const X* x, const A* b, const X* r, int64_t N, int64_t begin, int64_t end, X* y);
// y = r + x + b with r and y in the compute type (bf16 products into an fp32 residual stream).
template <typename X, typename A>
using AddWideRows = void (*)(const X* x, const A* b, const A* r, int64_t N, int64_t begin, int64_t end, A* y);
// db += dy over rows [begin, end) (the caller's partial).
template <typename X, typename A>
using SumRows = void (*)(const X* dy, int64_t N, int64_t begin, int64_t end, A* db);
// dx = dy narrowed to X, and db += dy, over rows [begin, end).
template <typename X, typename A>
using NarrowSumRows = void (*)(const A* dy, int64_t N, int64_t begin, int64_t end, X* dx, A* db);
struct RowKernels {
  ByStorage<AddRows> add;
  ByStorage<AddWideRows> addWide;
  ByStorage<SumRows> sum;
  ByStorage<NarrowSumRows> narrowSum;
};

RowKernels rowKernels(CpuVectorSet set);

}  // namespace intra::kernels::bias
