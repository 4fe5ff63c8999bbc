// CUDA bias + GELU kernels as device-generic source (compiled by nvcc in fused_cuda.cu and by
// the CPU emulation in fused_cuda_emulated.cpp), the twins of the CPU row loops
// (fused_rows.cpp): GELU's exact (erf) form, arithmetic in the accumulation type. The
// backward writes dx and sums the bias gradient per column in one pass over dy and x
// (row_reductions.cuh: partials per chunk of rows, then their sum, deterministic).
#pragma once
#include "../row_reductions.cuh"
#include "fused_cuda.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::activation {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr unsigned kThreads = 256;

template <typename A>
INTRA_DEVICE A geluOf(A v) { return A(0.5) * v * (A(1) + erfOf(v * A(kInvSqrt2))); }
// GELU'(v) = Phi(v) + v phi(v).
template <typename A>
INTRA_DEVICE A geluSlopeOf(A v) {
  return A(0.5) * (A(1) + erfOf(v * A(kInvSqrt2))) + v * A(kInvSqrt2Pi) * expOf(A(-0.5) * v * v);
}

template <typename X, typename A>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kThreads) forwardKernel(const X* x, const A* bias, int64_t count, int64_t N, X* y) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count * N;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = narrow<X>(geluOf(widen<A>(x[i]) + bias[i % N]));
  }
}

// dx = dy * GELU'(x + bias), written as it goes; the bias gradient sums the unrounded terms.
template <typename X, typename A>
struct BiasGeluTerms {
  static constexpr int kTerms = 1;
  const X* dy;
  const X* x;
  const A* bias;
  X* dx;
  int64_t N;
  INTRA_DEVICE void operator()(int64_t r, int64_t c, A* sums) const {
    const int64_t i = r * N + c;
    const A g = widen<A>(dy[i]) * geluSlopeOf(widen<A>(x[i]) + bias[c]);
    dx[i] = narrow<X>(g);
    sums[0] += g;
  }
};

inline void biasGeluForward(const RowProblem& p, const void* x, const void* bias, void* y, void* stream) {
  withTypes(p.type, [&](auto types) {
    using X = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    INTRA_LAUNCH((forwardKernel<X, A>), dim3(blocksFor(p.rows * p.width, kThreads)), dim3(kThreads), 0, stream,
                 static_cast<const X*>(x), static_cast<const A*>(bias), p.rows, p.width, static_cast<X*>(y));
  });
}

inline int64_t biasGeluScratchElements(const RowProblem& p) { return rows::columnScratchElements(p.rows, p.width, 1); }

inline void biasGeluBackward(const RowProblem& p, const void* dy, const void* x, const void* bias, void* dx, void* dbias,
                             void* scratch, void* stream) {
  withTypes(p.type, [&](auto types) {
    using X = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    const BiasGeluTerms<X, A> terms{static_cast<const X*>(dy), static_cast<const X*>(x), static_cast<const A*>(bias),
                                    static_cast<X*>(dx), p.width};
    rows::columnSums<A>(terms, p.rows, p.width, static_cast<A*>(scratch), static_cast<A*>(dbias), stream);
  });
}

inline ActivationLaunchers launchers() { return {biasGeluForward, biasGeluScratchElements, biasGeluBackward}; }

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::activation
