// Layer norm's row loops on raw pointers (no ATen), built for several instruction sets
// (fused_rows.cpp). Rows are D contiguous elements; bf16
// travels as uint16_t. Statistics and sums are in the compute type A (float; double for double).
#pragma once
#include <cstdint>

#include "../cpu_sets.h"

namespace intra::kernels::norm {

// One instruction set's row loops. Forward: y = (x - mean) * rstd * w + b for rows
// [begin, end), mean and rstd saved per row. Backward: dx for rows [begin, end), and
// dw += dy * xhat, db += dy over those rows (the caller's partials).
template <typename X, typename A>
using ForwardRows = void (*)(const X* x, const A* w, const A* b, A eps, int64_t D, int64_t begin, int64_t end, X* y,
                             A* mean, A* rstd);
template <typename X, typename A>
using BackwardRows = void (*)(const X* dy, const X* x, const A* w, const A* mean, const A* rstd, int64_t D,
                              int64_t begin, int64_t end, X* dx, A* dw, A* db);
// bf16 training's: float rows (the residual stream) normalised straight to bf16 (what the
// products read), and the backward from that bf16 gradient to the float rows' gradient.
using ForwardToBf16Rows = void (*)(const float* x, const float* w, const float* b, float eps, int64_t D, int64_t begin,
                                   int64_t end, uint16_t* y, float* mean, float* rstd);
using BackwardFromBf16Rows = void (*)(const uint16_t* dy, const float* x, const float* w, const float* mean,
                                      const float* rstd, int64_t D, int64_t begin, int64_t end, float* dx, float* dw,
                                      float* db);
struct RowKernels {
  ByStorage<ForwardRows> forward;
  ByStorage<BackwardRows> backward;
  ForwardToBf16Rows forwardToBf16;
  BackwardFromBf16Rows backwardFromBf16;
};

RowKernels rowKernels(CpuVectorSet set);

}  // namespace intra::kernels::norm
