// Layer norm's row loops, left to the vectoriser and built once per CPU set (cpu_sets.h)
// through function target attributes. No ATen in here.
#include "fused_rows.h"

#include "../bf16_bits.h"
#include "../cpu_sets.h"

#include <cmath>

namespace intra::kernels::norm {

namespace {

// X: the rows' storage, Y: the output's (X, or bf16 for float rows).
template <typename X, typename Y, typename A>
__attribute__((always_inline)) inline void forwardRowsOf(const X* __restrict x, const A* __restrict w,
                                                         const A* __restrict b, A eps, int64_t D, int64_t begin,
                                                         int64_t end, Y* __restrict y, A* __restrict mean,
                                                         A* __restrict rstd) {
  for (int64_t r = begin; r < end; ++r) {
    const X* __restrict xr = x + r * D;
    Y* __restrict yr = y + r * D;
    A sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < D; ++c) sum += load<A>(xr[c]);
    const A mu = sum / A(D);
    A squares = 0;  // two passes over a row in cache: no cancellation in the variance
#pragma omp simd reduction(+ : squares)
    for (int64_t c = 0; c < D; ++c) {
      const A d = load<A>(xr[c]) - mu;
      squares += d * d;
    }
    const A inv = A(1) / std::sqrt(squares / A(D) + eps);
#pragma omp simd
    for (int64_t c = 0; c < D; ++c) store((load<A>(xr[c]) - mu) * inv * w[c] + b[c], yr + c);
    mean[r] = mu;
    rstd[r] = inv;
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w, xhat = (x - mean) * rstd.
// G: the output gradient's storage (X, or bf16 for float rows).
template <typename G, typename X, typename A>
__attribute__((always_inline)) inline void backwardRowsOf(const G* __restrict dy, const X* __restrict x,
                                                          const A* __restrict w, const A* __restrict mean,
                                                          const A* __restrict rstd, int64_t D, int64_t begin,
                                                          int64_t end, X* __restrict dx, A* __restrict dw,
                                                          A* __restrict db) {
  for (int64_t r = begin; r < end; ++r) {
    const G* __restrict dyr = dy + r * D;
    const X* __restrict xr = x + r * D;
    X* __restrict dxr = dx + r * D;
    const A mu = mean[r], inv = rstd[r];
    A sumG = 0, sumGXhat = 0;
#pragma omp simd reduction(+ : sumG, sumGXhat)
    for (int64_t c = 0; c < D; ++c) {
      const A g = load<A>(dyr[c]) * w[c];
      const A xhat = (load<A>(xr[c]) - mu) * inv;
      sumG += g;
      sumGXhat += g * xhat;
    }
    const A meanG = sumG / A(D), meanGXhat = sumGXhat / A(D);
#pragma omp simd
    for (int64_t c = 0; c < D; ++c) {
      const A d = load<A>(dyr[c]);
      const A xhat = (load<A>(xr[c]) - mu) * inv;
      store(inv * (d * w[c] - meanG - xhat * meanGXhat), dxr + c);
      dw[c] += d * xhat;
      db[c] += d;
    }
  }
}

// Each set's entry points: the same loops compiled for its instructions (a function's target
// may inline the plain templates above, whose own target is the baseline).
#define INTRA_ROW_SET(Name, Target)                                                                      \
  template <typename X, typename A>                                                                      \
  Target void forward##Name(const X* x, const A* w, const A* b, A eps, int64_t D, int64_t begin,         \
                            int64_t end, X* y, A* mean, A* rstd) {                                       \
    forwardRowsOf<X, X, A>(x, w, b, eps, D, begin, end, y, mean, rstd);                                  \
  }                                                                                                      \
  Target void forwardToBf16##Name(const float* x, const float* w, const float* b, float eps, int64_t D,   \
                                  int64_t begin, int64_t end, uint16_t* y, float* mean, float* rstd) {   \
    forwardRowsOf<float, uint16_t, float>(x, w, b, eps, D, begin, end, y, mean, rstd);                   \
  }                                                                                                      \
  template <typename X, typename A>                                                                      \
  Target void backward##Name(const X* dy, const X* x, const A* w, const A* mean, const A* rstd, int64_t D, \
                             int64_t begin, int64_t end, X* dx, A* dw, A* db) {                          \
    backwardRowsOf<X, X, A>(dy, x, w, mean, rstd, D, begin, end, dx, dw, db);                            \
  }                                                                                                      \
  Target void backwardFromBf16##Name(const uint16_t* dy, const float* x, const float* w, const float* mean, \
                                     const float* rstd, int64_t D, int64_t begin, int64_t end, float* dx, \
                                     float* dw, float* db) {                                             \
    backwardRowsOf<uint16_t, float, float>(dy, x, w, mean, rstd, D, begin, end, dx, dw, db);             \
  }                                                                                                      \
  RowKernels Name##Set() {                                                                               \
    return {INTRA_BY_STORAGE(forward##Name), INTRA_BY_STORAGE(backward##Name), &forwardToBf16##Name,     \
            &backwardFromBf16##Name};                                                                    \
  }
INTRA_FOR_EACH_CPU_SET(INTRA_ROW_SET)

}  // namespace

RowKernels rowKernels(CpuVectorSet set) { return INTRA_SET_OF(set); }

}  // namespace intra::kernels::norm
