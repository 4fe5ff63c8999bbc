// CUDA image-filter kernels as device-generic source (compiled by nvcc in fused_cuda.cu and
// by the CPU emulation in fused_cuda_emulated.cpp): replicated borders everywhere, as in the
// references and the CPU kernels.
// - GMS and SSIM maps: one thread per output pixel, all channels in one pass (the 3x3 and
//   7x7 stencils are read straight from global memory through the cache).
// - Their backward: one pass computes each pixel's coefficients, a second gathers them
//   through the adjoint of the clamped stencil. SSIM's statistics are accumulated in double
//   (forward and backward): its local variances cancel.
// - Separable smoothing: a 16x16 tile and its halo in shared memory, the horizontal pass
//   into shared memory, the vertical pass out: one read of the image, one write.
#pragma once
#include "../dispatch_types.h"
#include "constants.h"
#include "fused_cuda.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::filters {

constexpr unsigned kThreads = 256;
constexpr int kTileSide = 16;

struct SsimTaps {
  double w[kSsimWindow];
};

#define INTRA_GRID_STRIDE(index, total) \
  for (int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; index < (total); \
       index += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Prewitt responses (1/3 weights) at (y, x) of one plane: gx = (left - right) / 3 summed
// over three rows, gy = (up - down) / 3 summed over three columns.
template <typename A, typename T>
INTRA_DEVICE void prewitt(const T* plane, int64_t H, int64_t W, int64_t y, int64_t x, A& gx, A& gy) {
  const int64_t up = clampIndex(y - 1, H) * W, mid = y * W, down = clampIndex(y + 1, H) * W;
  const int64_t l = clampIndex(x - 1, W), r = clampIndex(x + 1, W);
  auto at = [&](int64_t row, int64_t col) { return widen<A>(plane[row + col]); };
  const A third = A(1) / A(3);
  gx = third * (at(up, l) + at(mid, l) + at(down, l) - at(up, r) - at(mid, r) - at(down, r));
  gy = third * (at(up, l) + at(up, x) + at(up, r) - at(down, l) - at(down, x) - at(down, r));
}

template <typename A>
INTRA_DEVICE A gradientMagnitude(A gx, A gy) { return sqrtOf(gx * gx + gy * gy + A(kGradientEpsilon)); }

template <typename T, typename A>
INTRA_KERNEL void gmsForwardKernel(const T* a, const T* b, T* out,  // (B, C, H, W) x2 -> (B, 1, H, W)
                                   int64_t B, int64_t C, int64_t H, int64_t W) {
  const int64_t n = H * W;
  INTRA_GRID_STRIDE(index, B * n) {
    const int64_t image = index / n, pixel = index % n, y = pixel / W, x = pixel % W;
    A sum = A(0);
    for (int64_t c = 0; c < C; ++c) {
      A gxa, gya, gxb, gyb;
      prewitt<A>(a + (image * C + c) * n, H, W, y, x, gxa, gya);
      prewitt<A>(b + (image * C + c) * n, H, W, y, x, gxb, gyb);
      const A ma = gradientMagnitude(gxa, gya), mb = gradientMagnitude(gxb, gyb);
      sum += (2 * ma * mb + A(kGmsConstant)) / (ma * ma + mb * mb + A(kGmsConstant));
    }
    out[index] = narrow<T>(sum / A(C));
  }
}

// coefficients: (4, B, C, H, W) doubles: d(map)/d(gx_a), d/d(gy_a), d/d(gx_b), d/d(gy_b) per pixel.
template <typename T>
INTRA_KERNEL void gmsCoefficientsKernel(const T* a, const T* b, const T* dout, double* coefficients, int64_t B,
                                        int64_t C, int64_t H, int64_t W) {
  const int64_t n = H * W, total = B * C * n;
  INTRA_GRID_STRIDE(index, total) {
    const int64_t plane = index / n, pixel = index % n, y = pixel / W, x = pixel % W, image = plane / C;
    double gxa, gya, gxb, gyb;
    prewitt<double>(a + plane * n, H, W, y, x, gxa, gya);
    prewitt<double>(b + plane * n, H, W, y, x, gxb, gyb);
    const double ma = gradientMagnitude(gxa, gya), mb = gradientMagnitude(gxb, gyb);
    const double num = 2 * ma * mb + kGmsConstant, den = ma * ma + mb * mb + kGmsConstant;
    const double up = widen<double>(dout[image * n + pixel]) / static_cast<double>(C) / (den * den);
    const double dma = up * (2 * mb * den - num * 2 * ma) / ma;  // d/d(gx) = dma * gx / ma
    const double dmb = up * (2 * ma * den - num * 2 * mb) / mb;
    coefficients[index] = dma * gxa;
    coefficients[total + index] = dma * gya;
    coefficients[2 * total + index] = dmb * gxb;
    coefficients[3 * total + index] = dmb * gyb;
  }
}

// da, db: the adjoint of the clamped Prewitt stencil, gathered. Output pixel q feeds input p
// through tap (dy, dx) when clamp(q + (dy, dx)) = p, which needs |q - p| <= 1 on each axis.
template <typename T>
INTRA_KERNEL void gmsGatherKernel(const double* coefficients, T* da, T* db, int64_t B, int64_t C, int64_t H, int64_t W) {
  const int64_t n = H * W, total = B * C * n;
  const double third = 1.0 / 3.0;
  INTRA_GRID_STRIDE(index, total) {
    const int64_t plane = index / n, pixel = index % n, py = pixel / W, px = pixel % W;
    double sumA = 0, sumB = 0;
    for (int64_t qy = py - 1; qy <= py + 1; ++qy) {
      if (qy < 0 || qy >= H) continue;
      for (int64_t qx = px - 1; qx <= px + 1; ++qx) {
        if (qx < 0 || qx >= W) continue;
        const int64_t q = plane * n + qy * W + qx;
        for (int dy = -1; dy <= 1; ++dy) {
          if (clampIndex(qy + dy, H) != py) continue;
          for (int dx = -1; dx <= 1; ++dx) {
            if (clampIndex(qx + dx, W) != px) continue;
            const double wx = third * (dx == -1 ? 1 : dx == 1 ? -1 : 0);
            const double wy = third * (dy == -1 ? 1 : dy == 1 ? -1 : 0);
            sumA += wx * coefficients[q] + wy * coefficients[total + q];
            sumB += wx * coefficients[2 * total + q] + wy * coefficients[3 * total + q];
          }
        }
      }
    }
    da[index] = narrow<T>(sumA);
    db[index] = narrow<T>(sumB);
  }
}

// The five local statistics at (y, x) under the 7x7 Gaussian: E[a], E[b], E[a^2], E[b^2], E[ab].
template <typename A, typename T>
INTRA_DEVICE void ssimStatistics(const T* a, const T* b, int64_t H, int64_t W, int64_t y, int64_t x, const SsimTaps& taps,
                                 A stats[5]) {
  for (int s = 0; s < 5; ++s) stats[s] = A(0);
  constexpr int r = kSsimWindow / 2;
  for (int i = 0; i < kSsimWindow; ++i) {
    const int64_t row = clampIndex(y + i - r, H) * W;
    for (int j = 0; j < kSsimWindow; ++j) {
      const int64_t p = row + clampIndex(x + j - r, W);
      const A w = static_cast<A>(taps.w[i] * taps.w[j]);
      const A va = widen<A>(a[p]), vb = widen<A>(b[p]);
      stats[0] += w * va;
      stats[1] += w * vb;
      stats[2] += w * va * va;
      stats[3] += w * vb * vb;
      stats[4] += w * va * vb;
    }
  }
}

template <typename T>
INTRA_KERNEL void ssimForwardKernel(const T* a, const T* b, T* out, int64_t B, int64_t C, int64_t H, int64_t W,
                                    SsimTaps taps) {
  const int64_t n = H * W;
  INTRA_GRID_STRIDE(index, B * n) {
    const int64_t image = index / n, pixel = index % n, y = pixel / W, x = pixel % W;
    // In double whatever T: the local variances E[a^2] - E[a]^2 cancel, and in float that
    // costs more digits than the float reference loses (the map is small: 16x16 patches).
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) {
      double s[5];
      ssimStatistics<double>(a + (image * C + c) * n, b + (image * C + c) * n, H, W, y, x, taps, s);
      const double a1 = 2 * s[0] * s[1] + kSsimC1, a2 = 2 * (s[4] - s[0] * s[1]) + kSsimC2;
      const double b1 = s[0] * s[0] + s[1] * s[1] + kSsimC1, b2 = s[2] - s[0] * s[0] + s[3] - s[1] * s[1] + kSsimC2;
      sum += (a1 * a2) / (b1 * b2);
    }
    out[index] = narrow<T>(sum / static_cast<double>(C));
  }
}

// coefficients: (5, B, C, H, W) doubles: d(map)/d of E[a], E[b], E[a^2], E[b^2], E[ab] per pixel.
template <typename T>
INTRA_KERNEL void ssimCoefficientsKernel(const T* a, const T* b, const T* dout, double* coefficients, int64_t B,
                                         int64_t C, int64_t H, int64_t W, SsimTaps taps) {
  const int64_t n = H * W, total = B * C * n;
  INTRA_GRID_STRIDE(index, total) {
    const int64_t plane = index / n, pixel = index % n, y = pixel / W, x = pixel % W, image = plane / C;
    double s[5];
    ssimStatistics<double>(a + plane * n, b + plane * n, H, W, y, x, taps, s);
    const double ma = s[0], mb = s[1];
    const double a1 = 2 * ma * mb + kSsimC1, a2 = 2 * (s[4] - ma * mb) + kSsimC2;
    const double b1 = ma * ma + mb * mb + kSsimC1, b2 = s[2] - ma * ma + s[3] - mb * mb + kSsimC2;
    const double den = b1 * b2, ssim = a1 * a2 / den;
    const double u = widen<double>(dout[image * n + pixel]) / static_cast<double>(C);
    coefficients[index] = u * ((2 * mb * a2 - 2 * mb * a1) / den - ssim * (2 * ma / b1 - 2 * ma / b2));
    coefficients[total + index] = u * ((2 * ma * a2 - 2 * ma * a1) / den - ssim * (2 * mb / b1 - 2 * mb / b2));
    coefficients[2 * total + index] = -u * ssim / b2;
    coefficients[3 * total + index] = -u * ssim / b2;
    coefficients[4 * total + index] = u * 2 * a1 / den;
  }
}

// The adjoint of the clamped 7x7 Gaussian, gathered: along each axis, output position q feeds
// input p with the sum of the taps i for which clamp(q + i - 3) = p (|q - p| <= 3).
template <typename T>
INTRA_KERNEL void ssimGatherKernel(const T* a, const T* b, const double* coefficients, T* da, T* db, int64_t B,
                                   int64_t C, int64_t H, int64_t W, SsimTaps taps) {
  const int64_t n = H * W, total = B * C * n;
  constexpr int r = kSsimWindow / 2;
  INTRA_GRID_STRIDE(index, total) {
    const int64_t plane = index / n, pixel = index % n, py = pixel / W, px = pixel % W;
    double wy[kSsimWindow], wx[kSsimWindow];
    for (int t = 0; t < kSsimWindow; ++t) {
      wy[t] = 0;
      wx[t] = 0;
      const int64_t qy = py - r + t, qx = px - r + t;
      for (int i = 0; i < kSsimWindow; ++i) {
        if (qy >= 0 && qy < H && clampIndex(qy + i - r, H) == py) wy[t] += taps.w[i];
        if (qx >= 0 && qx < W && clampIndex(qx + i - r, W) == px) wx[t] += taps.w[i];
      }
    }
    double sums[5] = {0, 0, 0, 0, 0};
    for (int ty = 0; ty < kSsimWindow; ++ty) {
      if (wy[ty] == 0) continue;
      const int64_t qy = py - r + ty;
      for (int tx = 0; tx < kSsimWindow; ++tx) {
        if (wx[tx] == 0) continue;
        const int64_t q = plane * n + qy * W + (px - r + tx);
        const double w = wy[ty] * wx[tx];
        for (int s = 0; s < 5; ++s) sums[s] += w * coefficients[s * total + q];
      }
    }
    const double va = widen<double>(a[index]), vb = widen<double>(b[index]);
    da[index] = narrow<T>(sums[0] + 2 * va * sums[2] + vb * sums[4]);
    db[index] = narrow<T>(sums[1] + 2 * vb * sums[3] + va * sums[4]);
  }
}

// One 16x16 output tile per block and plane: the tile and its halo (clamped) into shared
// memory, the horizontal pass into shared memory, the vertical pass to the output.
template <typename T, typename A>
INTRA_KERNEL void separableKernel(const T* image, const A* taps, int64_t k, T* out, int64_t planes, int64_t H,
                                  int64_t W) {
  const int64_t r = k / 2, span = kTileSide + 2 * r;
  A* input = dynamicShared<A>();        // span x span
  A* horizontal = input + span * span;  // span x kTileSide
  A* weights = horizontal + span * kTileSide;  // k
  const int tid = threadIdx.y * kTileSide + threadIdx.x;
  const int threads = kTileSide * kTileSide;
  for (int64_t t = tid; t < k; t += threads) weights[t] = taps[t];
  const int64_t tileY = static_cast<int64_t>(blockIdx.y) * kTileSide, tileX = static_cast<int64_t>(blockIdx.x) * kTileSide;
  for (int64_t plane = blockIdx.z; plane < planes; plane += gridDim.z) {
    const T* in = image + plane * H * W;
    blockBarrier();  // the weights are in; the previous plane is done
    for (int64_t idx = tid; idx < span * span; idx += threads) {
      const int64_t yy = idx / span, xx = idx % span;
      input[idx] = widen<A>(in[clampIndex(tileY + yy - r, H) * W + clampIndex(tileX + xx - r, W)]);
    }
    blockBarrier();
    for (int64_t idx = tid; idx < span * kTileSide; idx += threads) {
      const int64_t yy = idx / kTileSide, xx = idx % kTileSide;
      A sum = A(0);
      for (int64_t t = 0; t < k; ++t) sum += weights[t] * input[yy * span + xx + t];
      horizontal[idx] = sum;
    }
    blockBarrier();
    const int64_t y = tileY + threadIdx.y, x = tileX + threadIdx.x;
    if (y < H && x < W) {
      A sum = A(0);
      for (int64_t t = 0; t < k; ++t) sum += weights[t] * horizontal[(threadIdx.y + t) * kTileSide + threadIdx.x];
      out[plane * H * W + y * W + x] = narrow<T>(sum);
    }
  }
}

// ---- launchers -------------------------------------------------------------------------------

inline SsimTaps ssimTaps() {
  SsimTaps taps{};
  double sum = 0;
  for (int i = 0; i < kSsimWindow; ++i) {
    const double x = static_cast<double>(i - kSsimWindow / 2);
    taps.w[i] = std::exp(-x * x / (2 * kSsimSigma * kSsimSigma));
    sum += taps.w[i];
  }
  for (double& w : taps.w) w /= sum;
  return taps;
}

inline int64_t gmsScratchElements(const ImageProblem& p) { return 4 * p.batch * p.channels * p.height * p.width; }
inline int64_t ssimScratchElements(const ImageProblem& p) { return 5 * p.batch * p.channels * p.height * p.width; }

inline void gmsForward(const ImageProblem& p, const void* a, const void* b, void* out, void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    INTRA_LAUNCH((gmsForwardKernel<T, A>), dim3(blocksFor(p.batch * p.height * p.width, kThreads)), dim3(kThreads), 0,
                 stream, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), p.batch, p.channels,
                 p.height, p.width);
  });
}

inline void gmsBackward(const ImageProblem& p, const void* a, const void* b, const void* dout, void* da, void* db,
                        double* scratch, void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    const dim3 grid(blocksFor(p.batch * p.channels * p.height * p.width, kThreads));
    INTRA_LAUNCH((gmsCoefficientsKernel<T>), grid, dim3(kThreads), 0, stream, static_cast<const T*>(a),
                 static_cast<const T*>(b), static_cast<const T*>(dout), scratch, p.batch, p.channels, p.height, p.width);
    INTRA_LAUNCH((gmsGatherKernel<T>), grid, dim3(kThreads), 0, stream, static_cast<const double*>(scratch),
                 static_cast<T*>(da), static_cast<T*>(db), p.batch, p.channels, p.height, p.width);
  });
}

inline void ssimForward(const ImageProblem& p, const void* a, const void* b, void* out, void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    INTRA_LAUNCH((ssimForwardKernel<T>), dim3(blocksFor(p.batch * p.height * p.width, kThreads)), dim3(kThreads), 0,
                 stream, static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(out), p.batch, p.channels,
                 p.height, p.width, ssimTaps());
  });
}

inline void ssimBackward(const ImageProblem& p, const void* a, const void* b, const void* dout, void* da, void* db,
                         double* scratch, void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    const dim3 grid(blocksFor(p.batch * p.channels * p.height * p.width, kThreads));
    const SsimTaps taps = ssimTaps();
    INTRA_LAUNCH((ssimCoefficientsKernel<T>), grid, dim3(kThreads), 0, stream, static_cast<const T*>(a),
                 static_cast<const T*>(b), static_cast<const T*>(dout), scratch, p.batch, p.channels, p.height, p.width,
                 taps);
    INTRA_LAUNCH((ssimGatherKernel<T>), grid, dim3(kThreads), 0, stream, static_cast<const T*>(a),
                 static_cast<const T*>(b), static_cast<const double*>(scratch), static_cast<T*>(da),
                 static_cast<T*>(db), p.batch, p.channels, p.height, p.width, taps);
  });
}

inline void separable(const ImageProblem& p, const void* image, const void* taps, int64_t kernel, void* out,
                      void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    const int64_t span = kTileSide + 2 * (kernel / 2);
    const size_t shared = static_cast<size_t>(span * span + span * kTileSide + kernel) * sizeof(A);
    if (shared > sharedMemoryLimit()) {
      throw unsupported("the CUDA smoothing filter holds a tile and its halo in shared memory: a kernel of " +
                        std::to_string(kernel) + " taps does not fit; use kernels 'reference'");
    }
    const int64_t planes = p.batch * p.channels;
    const dim3 grid(static_cast<unsigned>((p.width + kTileSide - 1) / kTileSide),
                    static_cast<unsigned>((p.height + kTileSide - 1) / kTileSide),
                    static_cast<unsigned>(planes < 65535 ? planes : 65535));
    INTRA_LAUNCH((separableKernel<T, A>), grid, dim3(kTileSide, kTileSide), shared, stream, static_cast<const T*>(image),
                 static_cast<const A*>(taps), kernel, static_cast<T*>(out), planes, p.height, p.width);
  });
}

inline FilterLaunchers launchers() {
  return {gmsScratchElements, ssimScratchElements, gmsForward, gmsBackward, ssimForward, ssimBackward, separable};
}

#undef INTRA_GRID_STRIDE

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::filters
