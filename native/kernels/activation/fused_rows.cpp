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

// erf(x) = x P(x^2) / Q(x^2) on x clamped to +-3.92 (past it erf is 1 within 5e-8): a rational
// minimax fit of ours, degree 5 over 5. Its coefficients are all positive, so Horner's rule
// does not cancel: |error| < 4.1e-7 in fp32 arithmetic, against 5.3e-7 for Abramowitz &
// Stegun 7.1.26 (ATen's vectorised erf), at about half the instructions: no exponential, no
// division by a polynomial of |x| and no sign fix-up. Doubles use std::erf.
template <typename A>
inline A erfOf(A x) {
  if constexpr (sizeof(A) == 8) {
    return std::erf(x);
  } else {
    x = x < -3.92f ? -3.92f : x;
    x = x > 3.92f ? 3.92f : x;
    const float t = x * x;
    const float p = 1.12837899f + t * (0.192757517f + t * (0.0530592985f + t * (0.00386794843f + t * (2.87454110e-4f + t * 2.03457512e-6f))));
    const float q = 1.0f + t * (0.504158556f + t * (0.115081623f + t * (0.0151715670f + t * (0.00118799089f + t * 3.80676356e-5f))));
    return x * p / q;
  }
}

// GELU'(v) = Phi(v) + v phi(v) (the normal's distribution and density) = 1/2 + v S(v^2), S
// even, on v clamped to +-5.8 (past it GELU' is 0 or 1 within 1.2e-7): S as a rational
// minimax fit of ours, degree 7 over 6 in v^2 (3e-9 in exact arithmetic), |error| < 2.7e-7 in
// fp32 (the erf-and-exponential form: 3.2e-7, and a larger mean error), in half the
// instructions. Doubles use erf and exp exactly.
template <typename A>
inline A geluSlopeOf(A v) {
  if constexpr (sizeof(A) == 8) {
    return A(0.5) * (A(1) + std::erf(v * A(kInvSqrt2))) + v * A(kInvSqrt2Pi) * std::exp(A(-0.5) * v * v);
  } else {
    v = v < -5.8f ? -5.8f : v;
    v = v > 5.8f ? 5.8f : v;
    const float t = v * v;
    const float p = 0.7978845239f + t * (-0.02289986610f + t * (0.01376366615f + t * (1.973952749e-4f + t * (3.205905523e-5f +
                    t * (8.916712773e-7f + t * (1.153302520e-8f + t * -2.808038177e-11f))))));
    const float q = 1.0f + t * (0.3046323061f + t * (0.04379517958f + t * (0.003901933786f + t * (2.369230933e-4f +
                    t * (9.681903066e-6f + t * 3.023344561e-7f)))));
    return 0.5f + v * p / q;
  }
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
      const A g = load<A>(dyr[c]) * geluSlopeOf(v);
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
