// CUDA bias-add kernels as device-generic source (compiled by nvcc in fused_cuda.cu and by the
// CPU emulation in fused_cuda_emulated.cpp), the twins of the CPU row loops (fused_rows.cpp):
// y = x + bias (+ residual) in one pass, arithmetic in the accumulation type; the backward
// sums the bias gradient per column (row_reductions.cuh, deterministic) in the same pass that
// narrows the gradient to the product's type where it must (bf16 training's fp32 stream).
#pragma once
#include <type_traits>

#include "../row_reductions.cuh"
#include "fused_cuda.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::bias {

constexpr unsigned kThreads = 256;

// R: the residual's storage (X, or A for a wide one), also the output's; residual may be null.
template <typename X, typename R, typename A>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kThreads)
    forwardKernel(const X* x, const A* bias, const R* residual, int64_t count, int64_t N, R* y) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count * N;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // The reference's order: the bias onto the product, then the residual.
    const A sum = widen<A>(x[i]) + bias[i % N];
    y[i] = narrow<R>(residual == nullptr ? sum : widen<A>(residual[i]) + sum);
  }
}

// dbias += dy, and dx = dy narrowed (D: its storage) where dx is not null.
template <typename G, typename D, typename A>
struct BiasTerms {
  static constexpr int kTerms = 1;
  const G* dy;
  D* dx;
  int64_t N;
  INTRA_DEVICE void operator()(int64_t r, int64_t c, A* sums) const {
    const int64_t i = r * N + c;
    const A g = widen<A>(dy[i]);
    if (dx != nullptr) dx[i] = narrow<D>(g);
    sums[0] += g;
  }
};

inline void forward(const RowProblem& p, const void* x, const void* bias, const void* residual, ElementType residualType,
                    void* y, void* stream) {
  withTypes(p.type, [&](auto types) {
    using X = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    const dim3 grid(blocksFor(p.rows * p.width, kThreads));
    const bool wide = residual != nullptr && residualType != p.type;
    if (wide) {
      if constexpr (std::is_same_v<X, A>) {
        throw invalidArgument("bias add: a residual of another type than x is in the accumulation type");
      } else {
        INTRA_LAUNCH((forwardKernel<X, A, A>), grid, dim3(kThreads), 0, stream, static_cast<const X*>(x),
                     static_cast<const A*>(bias), static_cast<const A*>(residual), p.rows, p.width, static_cast<A*>(y));
      }
      return;
    }
    INTRA_LAUNCH((forwardKernel<X, X, A>), grid, dim3(kThreads), 0, stream, static_cast<const X*>(x),
                 static_cast<const A*>(bias), static_cast<const X*>(residual), p.rows, p.width, static_cast<X*>(y));
  });
}

inline int64_t scratchElements(const RowProblem& p) { return rows::columnScratchElements(p.rows, p.width, 1); }

inline void backward(const RowProblem& p, const void* dy, void* dx, ElementType narrowType, void* dbias, void* scratch,
                     void* stream) {
  if (dx != nullptr) {
    if (p.type != ElementType::F32 || narrowType != ElementType::BF16) {
      throw invalidArgument("bias add: a narrowed gradient is bf16 of float");
    }
    const BiasTerms<float, Bf16, float> terms{static_cast<const float*>(dy), static_cast<Bf16*>(dx), p.width};
    rows::columnSums<float>(terms, p.rows, p.width, static_cast<float*>(scratch), static_cast<float*>(dbias), stream);
    return;
  }
  withTypes(p.type, [&](auto types) {
    using X = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    const BiasTerms<X, X, A> terms{static_cast<const X*>(dy), nullptr, p.width};
    rows::columnSums<A>(terms, p.rows, p.width, static_cast<A*>(scratch), static_cast<A*>(dbias), stream);
  });
}

inline BiasLaunchers launchers() { return {forward, scratchElements, backward}; }

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::bias
