// bias + GELU's row loops, left to the vectoriser and built once per CPU set (cpu_sets.h)
// through function target attributes. No ATen in here.
#include "fused_rows.h"

#include <cmath>

#include "../bf16_bits.h"
#include "../cpu_sets.h"
#include "../simd.h"

namespace intra::kernels::activation {

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), branch-free so that loops over it
// vectorise; ATen's vectorised fp32 erf is the same formula. Doubles use std::erf.
template <typename A>
inline A erfOf(A x) {
  if constexpr (sizeof(A) == 8) {
    return std::erf(x);
  } else {
    const float a = x < 0.0f ? -x : x;
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float r = 1.0f - poly * vexp(-a * a);
    return x < 0.0f ? -r : r;
  }
}

template <typename A>
inline A expOf(A x) {
  if constexpr (sizeof(A) == 8) return std::exp(x);
  else return vexp(x);
}

template <typename X, typename A>
__attribute__((always_inline)) inline void forwardRowsOf(const X* __restrict x, const A* __restrict b, int64_t N,
                                                         int64_t begin, int64_t end, X* __restrict y) {
  for (int64_t r = begin; r < end; ++r) {
    const X* __restrict xr = x + r * N;
    X* __restrict yr = y + r * N;
#pragma omp simd
    for (int64_t c = 0; c < N; ++c) {
      const A v = load<A>(xr[c]) + b[c];
      store(A(0.5) * v * (A(1) + erfOf(v * A(kInvSqrt2))), yr + c);
    }
  }
}

// GELU'(v) = Phi(v) + v * phi(v): the normal's distribution and density.
template <typename X, typename A>
__attribute__((always_inline)) inline void backwardRowsOf(const X* __restrict dy, const X* __restrict x,
                                                          const A* __restrict b, int64_t N, int64_t begin, int64_t end,
                                                          X* __restrict dx, A* __restrict db) {
  for (int64_t r = begin; r < end; ++r) {
    const X* __restrict dyr = dy + r * N;
    const X* __restrict xr = x + r * N;
    X* __restrict dxr = dx + r * N;
#pragma omp simd
    for (int64_t c = 0; c < N; ++c) {
      const A v = load<A>(xr[c]) + b[c];
      const A slope = A(0.5) * (A(1) + erfOf(v * A(kInvSqrt2))) + v * A(kInvSqrt2Pi) * expOf(A(-0.5) * v * v);
      const A g = load<A>(dyr[c]) * slope;
      store(g, dxr + c);
      db[c] += g;
    }
  }
}

// Each set's entry points: the same loops compiled for its instructions.
#define INTRA_ROW_SET(Name, Target)                                                                          \
  template <typename X, typename A>                                                                          \
  Target void forward##Name(const X* x, const A* b, int64_t N, int64_t begin, int64_t end, X* y) {           \
    forwardRowsOf(x, b, N, begin, end, y);                                                                   \
  }                                                                                                          \
  template <typename X, typename A>                                                                          \
  Target void backward##Name(const X* dy, const X* x, const A* b, int64_t N, int64_t begin, int64_t end, X* dx, \
                             A* db) {                                                                        \
    backwardRowsOf(dy, x, b, N, begin, end, dx, db);                                                         \
  }                                                                                                          \
  RowKernels Name##Set() { return {INTRA_BY_STORAGE(forward##Name), INTRA_BY_STORAGE(backward##Name)}; }
INTRA_FOR_EACH_CPU_SET(INTRA_ROW_SET)

}  // namespace

RowKernels rowKernels(CpuVectorSet set) { return INTRA_SET_OF(set); }

}  // namespace intra::kernels::activation
