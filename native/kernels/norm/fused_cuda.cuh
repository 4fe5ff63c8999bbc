// CUDA layer-norm kernels as device-generic source (compiled by nvcc in fused_cuda.cu and by
// the CPU emulation in fused_cuda_emulated.cpp), the twins of the CPU row loops (fused_rows.cpp):
// a warp per row, statistics in the accumulation type from two passes over the row (no
// cancellation in the variance), the row read in its own type and written in the output's.
// The parameter gradients are column sums over rows (row_reductions.cuh), deterministic.
#pragma once
#include <string>
#include <type_traits>

#include "../row_reductions.cuh"
#include "fused_cuda.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::norm {

using rows::kRowThreads;

// y = (x - mean) * rstd * w + b per row; mean and rstd saved. X: the rows' storage, Y: the output's.
template <typename X, typename Y, typename A>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kRowThreads)
    forwardKernel(const X* x, const A* w, const A* b, A eps, int64_t count, int64_t D, Y* y, A* mean, A* rstd) {
  const rows::RowWalk walk = rows::rowWalk();
  for (int64_t r = walk.first; r < count; r += walk.stride) {
    const X* xr = x + r * D;
    A sum = A(0);
    for (int64_t c = walk.lane; c < D; c += rows::kWarp) sum += widen<A>(xr[c]);
    const A mu = warpSum(sum) / A(D);
    A squares = A(0);
    for (int64_t c = walk.lane; c < D; c += rows::kWarp) {
      const A d = widen<A>(xr[c]) - mu;
      squares += d * d;
    }
    const A inv = A(1) / sqrtOf(warpSum(squares) / A(D) + eps);
    for (int64_t c = walk.lane; c < D; c += rows::kWarp) y[r * D + c] = narrow<Y>((widen<A>(xr[c]) - mu) * inv * w[c] + b[c]);
    if (walk.lane == 0) {
      mean[r] = mu;
      rstd[r] = inv;
    }
  }
}

// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * w, xhat = (x - mean) * rstd.
// G: the gradient's storage (X, or bf16 for float rows).
template <typename G, typename X, typename A>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kRowThreads)
    backwardKernel(const G* dy, const X* x, const A* w, const A* mean, const A* rstd, int64_t count, int64_t D, X* dx) {
  const rows::RowWalk walk = rows::rowWalk();
  for (int64_t r = walk.first; r < count; r += walk.stride) {
    const G* dyr = dy + r * D;
    const X* xr = x + r * D;
    const A mu = mean[r], inv = rstd[r];
    A sumG = A(0), sumGXhat = A(0);
    for (int64_t c = walk.lane; c < D; c += rows::kWarp) {
      const A g = widen<A>(dyr[c]) * w[c];
      sumG += g;
      sumGXhat += g * (widen<A>(xr[c]) - mu) * inv;
    }
    const A meanG = warpSum(sumG) / A(D), meanGXhat = warpSum(sumGXhat) / A(D);
    for (int64_t c = walk.lane; c < D; c += rows::kWarp) {
      const A xhat = (widen<A>(xr[c]) - mu) * inv;
      dx[r * D + c] = narrow<X>(inv * (widen<A>(dyr[c]) * w[c] - meanG - xhat * meanGXhat));
    }
  }
}

// dweight += dy * xhat, dbias += dy, per column.
template <typename G, typename X, typename A>
struct ParameterTerms {
  static constexpr int kTerms = 2;
  const G* dy;
  const X* x;
  const A* mean;
  const A* rstd;
  int64_t D;
  INTRA_DEVICE void operator()(int64_t r, int64_t c, A* sums) const {
    const A d = widen<A>(dy[r * D + c]);
    sums[0] += d * (widen<A>(x[r * D + c]) - mean[r]) * rstd[r];
    sums[1] += d;
  }
};

// Calls f(Types<X, A>{}, Y or G tag) for the rows' type with a second storage type that is
// the rows' own, or bf16 for float rows (`other` says which).
template <typename F>
void withRowAndOther(const RowProblem& p, ElementType other, const char* what, F&& f) {
  if (p.type == ElementType::F32 && other == ElementType::BF16) return f(Types<float, float>{}, static_cast<Bf16*>(nullptr));
  if (other != p.type) throw invalidArgument(std::string("layer norm's ") + what + " is in the rows' type, or bf16 for float rows");
  withTypes(p.type, [&](auto types) {
    using X = typename decltype(types)::T;
    f(types, static_cast<X*>(nullptr));
  });
}

inline void forward(const RowProblem& p, ElementType output, const void* x, const void* weight, const void* bias,
                    double eps, void* y, void* mean, void* rstd, void* stream) {
  withRowAndOther(p, output, "output", [&](auto types, auto* outputTag) {
    using X = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    using Y = std::remove_pointer_t<decltype(outputTag)>;
    INTRA_LAUNCH((forwardKernel<X, Y, A>), dim3(rows::rowBlocks(p.rows)), dim3(kRowThreads), 0, stream,
                 static_cast<const X*>(x), static_cast<const A*>(weight), static_cast<const A*>(bias), static_cast<A>(eps),
                 p.rows, p.width, static_cast<Y*>(y), static_cast<A*>(mean), static_cast<A*>(rstd));
  });
}

inline int64_t backwardScratchElements(const RowProblem& p) { return rows::columnScratchElements(p.rows, p.width, 2); }

inline void backward(const RowProblem& p, ElementType gradient, const void* dy, const void* x, const void* weight,
                     const void* mean, const void* rstd, void* dx, void* dparams, void* scratch, void* stream) {
  withRowAndOther(p, gradient, "gradient", [&](auto types, auto* gradientTag) {
    using X = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    using G = std::remove_pointer_t<decltype(gradientTag)>;
    INTRA_LAUNCH((backwardKernel<G, X, A>), dim3(rows::rowBlocks(p.rows)), dim3(kRowThreads), 0, stream,
                 static_cast<const G*>(dy), static_cast<const X*>(x), static_cast<const A*>(weight),
                 static_cast<const A*>(mean), static_cast<const A*>(rstd), p.rows, p.width, static_cast<X*>(dx));
    const ParameterTerms<G, X, A> terms{static_cast<const G*>(dy), static_cast<const X*>(x), static_cast<const A*>(mean),
                                        static_cast<const A*>(rstd), p.width};
    rows::columnSums<A>(terms, p.rows, p.width, static_cast<A*>(scratch), static_cast<A*>(dparams), stream);
  });
}

inline NormLaunchers launchers() { return {forward, backwardScratchElements, backward}; }

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::norm
