// Softmax attention over one window on the tensor cores: bf16/fp16 inputs, S <= 64 (windows
// up to 8 x 8; the model's 7 x 7 is 49), head widths up to 64; the row kernels of
// fused_cuda.cuh serve every other case. Compiled by nvcc, and by the CPU emulation with its
// WMMA (wmma_emulation.h), so that CI checks these kernels against float64 without a GPU.
//
// One block of four warps per (window, head): the window's Q, K, V (and dO) are staged once
// in shared memory with 16-byte loads, rows padded to 64 with zeros; warp w owns rows
// [16w, 16w + 16) of every S x S and S x d product (WMMA 16 x 16 x 16, fp32 accumulation).
// Why not the row kernels: at S = 49 one thread per row left 15 of 64 threads idle, read
// rows with 2-byte strided loads and ran each dot product as one serial FMA chain; the
// whole window's products here are a few dozen MMAs. The backward recomputes P from the
// saved log-sum-exp (no S x S tensor in global memory) and takes delta = dO . O per row.
#pragma once
#if defined(__CUDACC__)
#include <cuda_pipeline.h>
#include <mma.h>
#else
#include "../wmma_emulation.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <type_traits>

#include "../device_code.h"
#include "fused_cuda.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::attention::window_mma {

constexpr int kWarps = 4, kThreads = 32 * kWarps, kMaxS = 64, kMaxWidth = 64;
constexpr int kPad = 8;  // elements added to each 16-bit row: rows start in different banks

template <int D>
struct Padded {
  static constexpr int ld = D + kPad;
};
constexpr int kLdP = kMaxS + kPad;  // P and dS, 16-bit
constexpr int kLdF = kMaxS + 4;     // fp32 scratch (the widest product: 64 columns)

#if defined(__CUDACC__)
using namespace nvcuda;
#else
namespace wmma = ::intra::kernels::emulation::wmma;
#endif
template <typename T>
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major>;
template <typename T>
using FragAT = wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::col_major>;
template <typename T>
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major>;
template <typename T>
using FragBT = wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// `rows` x `width` elements of a head (row stride in elements) into a 64 x LD shared tile,
// zeros past them. Aligned whole 16-byte chunks go through asynchronous copies (cp.async):
// every thread's loads of every tile are in flight at once, where plain loads followed by
// their shared-memory stores left one DRAM latency per chunk in sequence. The caller waits
// with copiesDone() before its barrier.
template <int LD, typename T>
INTRA_DEVICE void stage(T* dst, const T* src, int64_t rowStride, int rows, int width) {
  constexpr int kChunks = LD / 8;  // 8 elements per 16 bytes
  for (int idx = threadIdx.x; idx < kMaxS * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    T* d = dst + r * LD + c;
    const T* s = src + r * rowStride + c;
    if (r < rows && c + 8 <= width && (reinterpret_cast<uintptr_t>(s) & 15) == 0) {
#if defined(__CUDACC__)
      __pipeline_memcpy_async(d, s, 16);
#else
      for (int e = 0; e < 8; ++e) d[e] = s[e];  // the emulation's copy is done at once
#endif
    } else {
      for (int e = 0; e < 8; ++e) d[e] = (r < rows && c + e < width) ? s[e] : narrow<T>(0.f);
    }
  }
}
INTRA_DEVICE void copiesDone() {
#if defined(__CUDACC__)
  __pipeline_commit();
  __pipeline_wait_prior(0);
#endif
}

// The warp's 16 rows of A (64 x D) times B^T (B: 64 x D, its rows read as columns) into
// `f` (fp32): the scores Q K^T, and in the backward dP = dO V^T.
template <typename T, int D>
INTRA_DEVICE void productRowsTransposedB(float* f, const T* a, const T* b, int warp) {
  constexpr int L = Padded<D>::ld;
  FragC acc[4];
  #pragma unroll
  for (int j = 0; j < 4; ++j) wmma::fill_fragment(acc[j], 0.f);
  #pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    FragA<T> fa;
    wmma::load_matrix_sync(fa, a + warp * 16 * L + kk * 16, L);
    #pragma unroll
    for (int j = 0; j < 4; ++j) {
      FragBT<T> fb;
      wmma::load_matrix_sync(fb, b + j * 16 * L + kk * 16, L);
      wmma::mma_sync(acc[j], fa, fb, acc[j]);
    }
  }
  #pragma unroll
  for (int j = 0; j < 4; ++j) wmma::store_matrix_sync(f + warp * 16 * kLdF + j * 16, acc[j], kLdF, wmma::mem_row_major);
}

// The warp's 16 rows of (16-bit A, 64 rows deep) x B (64 x D) into `f`; A row-major or
// transposed (read column-major from a row-major 64 x 64 tile), B row-major.
template <typename T, int D, bool TransposeA>
INTRA_DEVICE void productRows(float* f, const T* a, const T* b, int warp) {
  constexpr int LB = Padded<D>::ld;
  FragC acc[D / 16];
  #pragma unroll
  for (int c = 0; c < D / 16; ++c) wmma::fill_fragment(acc[c], 0.f);
  #pragma unroll
  for (int kk = 0; kk < kMaxS / 16; ++kk) {
    // A's 16 x 16 block (warp, kk): rows of A, or columns of the stored tile when transposed.
    std::conditional_t<TransposeA, FragAT<T>, FragA<T>> fa;
    wmma::load_matrix_sync(fa, TransposeA ? a + kk * 16 * kLdP + warp * 16 : a + warp * 16 * kLdP + kk * 16, kLdP);
    #pragma unroll
    for (int c = 0; c < D / 16; ++c) {
      FragB<T> fb;
      wmma::load_matrix_sync(fb, b + kk * 16 * LB + c * 16, LB);
      wmma::mma_sync(acc[c], fa, fb, acc[c]);
    }
  }
  #pragma unroll
  for (int c = 0; c < D / 16; ++c) wmma::store_matrix_sync(f + warp * 16 * kLdF + c * 16, acc[c], kLdF, wmma::mem_row_major);
}

// The warp's rows of `f` (times `scale`) to a dense (S, width) output.
template <typename T>
INTRA_DEVICE void writeRows(T* dst, const float* f, int warp, int S, int width, float scale) {
  const int lane = threadIdx.x & 31;
  for (int idx = lane; idx < 16 * width; idx += 32) {
    const int r = idx / width, c = idx % width, row = warp * 16 + r;
    if (row < S) dst[int64_t(row) * width + c] = narrow<T>(f[row * kLdF + c] * scale);
  }
}

template <int DQK, int DV>
constexpr size_t forwardShared(size_t element) {
  return (size_t(kMaxS) * (2 * Padded<DQK>::ld + Padded<DV>::ld + kLdP)) * element + size_t(kMaxS) * kLdF * sizeof(float);
}
template <int DQK, int DV>
constexpr size_t backwardShared(size_t element) {
  return (size_t(kMaxS) * (2 * Padded<DQK>::ld + 2 * Padded<DV>::ld + 2 * kLdP)) * element +
         size_t(kMaxS) * kLdF * sizeof(float) + 2 * kMaxS * sizeof(float);
}

template <typename T, int DQK, int DV>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kThreads) forwardKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl,
                                                          const T* v, HeadLayout vl, T* out, float* lse, int S,
                                                          int dqk, int dv, float scale) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  constexpr int LQ = Padded<DQK>::ld, LV = Padded<DV>::ld;
#if defined(__CUDACC__)
  extern __shared__ __align__(128) unsigned char pool[];
#else
  unsigned char* pool = dynamicShared<unsigned char>();
#endif
  T* sq = reinterpret_cast<T*>(pool);
  T* sk = sq + kMaxS * LQ;
  T* sv = sk + kMaxS * LQ;
  T* sp = sv + kMaxS * LV;
  float* f = reinterpret_cast<float*>(sp + kMaxS * kLdP);
  const int64_t head = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  stage<LQ>(sq, q + ql.offset(head), ql.rowStride, S, dqk);
  stage<LQ>(sk, k + kl.offset(head), kl.rowStride, S, dqk);
  stage<LV>(sv, v + vl.offset(head), vl.rowStride, S, dv);
  copiesDone();
  blockBarrier();
  if (warp * 16 >= S) return;  // no barrier follows: every other warp works on its own rows
  productRowsTransposedB<T, DQK>(f, sq, sk, warp);  // Q K^T
  warpBarrier();
  #pragma unroll
  for (int r = 0; r < 16; ++r) {
    const int row = warp * 16 + r;
    const float s0 = lane < S ? f[row * kLdF + lane] * scale : -INFINITY;
    const float s1 = lane + 32 < S ? f[row * kLdF + lane + 32] * scale : -INFINITY;
    float m = fmaxf(s0, s1);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, shuffleXor(m, o));
    const float e0 = lane < S ? fastExp(s0 - m) : 0.f, e1 = lane + 32 < S ? fastExp(s1 - m) : 0.f;
    float sum = e0 + e1;
    for (int o = 16; o > 0; o >>= 1) sum += shuffleXor(sum, o);
    const float inv = 1.f / sum;
    sp[row * kLdP + lane] = narrow<T>(e0 * inv);
    sp[row * kLdP + lane + 32] = narrow<T>(e1 * inv);
    if (lane == 0 && row < S) lse[head * S + row] = m + fastLog(sum);
  }
  warpBarrier();
  productRows<T, DV, false>(f, sp, sv, warp);
  warpBarrier();
  writeRows(out + head * S * dv, f, warp, S, dv, 1.f);
#else
  __trap();  // no body below sm_80: never returns as if it had run (bodiesLoaded refuses it first)
#endif
}

template <typename T, int DQK, int DV>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kThreads) backwardKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl,
                                                           const T* v, HeadLayout vl, const T* out, const T* dout,
                                                           HeadLayout gl, const float* lse, T* dq, T* dk, T* dvOut,
                                                           int S, int dqk, int dv, float scale) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  constexpr int LQ = Padded<DQK>::ld, LV = Padded<DV>::ld;
#if defined(__CUDACC__)
  extern __shared__ __align__(128) unsigned char pool[];
#else
  unsigned char* pool = dynamicShared<unsigned char>();
#endif
  T* sq = reinterpret_cast<T*>(pool);
  T* sk = sq + kMaxS * LQ;
  T* sv = sk + kMaxS * LQ;
  T* sg = sv + kMaxS * LV;  // dO
  T* sp = sg + kMaxS * LV;  // P
  T* sd = sp + kMaxS * kLdP;  // dS
  float* f = reinterpret_cast<float*>(sd + kMaxS * kLdP);
  static_assert(LV <= kLdP, "O is staged where P goes later");
  float* rowLse = f + kMaxS * kLdF;
  float* rowDelta = rowLse + kMaxS;
  const int64_t head = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  stage<LQ>(sq, q + ql.offset(head), ql.rowStride, S, dqk);
  stage<LQ>(sk, k + kl.offset(head), kl.rowStride, S, dqk);
  stage<LV>(sv, v + vl.offset(head), vl.rowStride, S, dv);
  stage<LV>(sg, dout + gl.offset(head), gl.rowStride, S, dv);
  stage<LV>(sp, out + head * S * dv, dv, S, dv);  // O, until P takes its place
  copiesDone();
  blockBarrier();
  // delta_i = dO_i . O_i, one warp per row
  for (int row = warp; row < kMaxS; row += kWarps) {
    float d = 0.f;
    for (int c = lane; c < DV; c += 32) d += widen<float>(sg[row * LV + c]) * widen<float>(sp[row * LV + c]);
    for (int off = 16; off > 0; off >>= 1) d += shuffleXor(d, off);
    if (lane == 0) {
      rowDelta[row] = d;
      rowLse[row] = row < S ? lse[head * S + row] : 0.f;
    }
  }
  blockBarrier();
  // P and dS for the warp's rows; P stays in registers between the two passes.
  productRowsTransposedB<T, DQK>(f, sq, sk, warp);  // Q K^T
  warpBarrier();
  float p0[16], p1[16];
  #pragma unroll
  for (int r = 0; r < 16; ++r) {
    const int row = warp * 16 + r;
    const bool live = row < S;
    p0[r] = live && lane < S ? fastExp(f[row * kLdF + lane] * scale - rowLse[row]) : 0.f;
    p1[r] = live && lane + 32 < S ? fastExp(f[row * kLdF + lane + 32] * scale - rowLse[row]) : 0.f;
    sp[row * kLdP + lane] = narrow<T>(p0[r]);
    sp[row * kLdP + lane + 32] = narrow<T>(p1[r]);
  }
  warpBarrier();
  productRowsTransposedB<T, DV>(f, sg, sv, warp);  // dP = dO V^T
  warpBarrier();
  #pragma unroll
  for (int r = 0; r < 16; ++r) {
    const int row = warp * 16 + r;
    const float delta = rowDelta[row];
    sd[row * kLdP + lane] = narrow<T>(p0[r] * (f[row * kLdF + lane] - delta));
    sd[row * kLdP + lane + 32] = narrow<T>(p1[r] * (f[row * kLdF + lane + 32] - delta));
  }
  blockBarrier();  // dK and dV sum over every warp's rows of P and dS
  productRows<T, DQK, false>(f, sd, sk, warp);  // dQ = dS K
  warpBarrier();
  writeRows(dq + head * S * dqk, f, warp, S, dqk, scale);
  warpBarrier();
  productRows<T, DQK, true>(f, sd, sq, warp);  // dK = dS^T Q
  warpBarrier();
  writeRows(dk + head * S * dqk, f, warp, S, dqk, scale);
  warpBarrier();
  productRows<T, DV, true>(f, sp, sg, warp);  // dV = P^T dO
  warpBarrier();
  writeRows(dvOut + head * S * dv, f, warp, S, dv, 1.f);
#else
  __trap();  // no body below sm_80: never returns as if it had run (bodiesLoaded refuses it first)
#endif
}

#if defined(__CUDACC__)
// Whether the code the runtime loaded for the current device holds `kernel`'s body: the bodies
// are compiled for sm_80 and up only. The loaded code is machine code built for the device's
// architecture or one below it of the same major (binaryVersion), or PTX of some virtual
// architecture that the driver compiled (ptxVersion): both must be 80 or more. Asked once per
// kernel and device.
inline bool hasBody(const void* kernel) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, bool> known;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = known.find({kernel, device});
  if (found != known.end()) return found->second;
  cudaFuncAttributes attributes{};
  const bool loaded = cudaFuncGetAttributes(&attributes, kernel) == cudaSuccess && attributes.binaryVersion >= 80 &&
                      attributes.ptxVersion >= 80;
  if (!loaded) cudaGetLastError();  // a kernel with no image for this device: not an error to keep
  known[{kernel, device}] = loaded;
  return loaded;
}

#endif

// The kernels' widths for a problem (the smallest instance that holds it), and `f` called with
// an element type and those widths.
template <typename F>
auto withShape(const AttentionProblem& p, F&& f) {
  auto widths = [&](auto type) {
    if (p.dqk <= 32 && p.dv <= 32) return f(type, Widths<32, 32>{});
    if (p.dqk <= 32) return f(type, Widths<32, 64>{});
    return f(type, Widths<64, 64>{});
  };
  return p.type == ElementType::BF16 ? widths(Bf16{}) : widths(F16{});
}

template <typename T, int DQK, int DV>
bool bodiesLoaded() {
#if defined(__CUDACC__)
  return hasBody(reinterpret_cast<const void*>(forwardKernel<T, DQK, DV>)) &&
         hasBody(reinterpret_cast<const void*>(backwardKernel<T, DQK, DV>));
#else
  return true;  // the emulation compiles the bodies as they are
#endif
}

// Whether these kernels take the problem: 16-bit types, S <= 64, widths <= 64, the kernels'
// bodies in the code loaded for this device (sm_80+: see hasBody), and INTRA_CUDA_ATTENTION
// not set to "rows" (the row kernels, kept selectable for comparison).
inline bool takes(const AttentionProblem& p) {
  if (p.type != ElementType::BF16 && p.type != ElementType::F16) return false;
  if (p.S > kMaxS || p.dqk > kMaxWidth || p.dv > kMaxWidth) return false;
  static const bool enabled = [] {
    const char* choice = std::getenv("INTRA_CUDA_ATTENTION");
    return choice == nullptr || std::string(choice) != "rows";
  }();
  return enabled && withShape(p, [](auto type, auto widths) {
           return bodiesLoaded<decltype(type), decltype(widths)::dqk, decltype(widths)::dv>();
         });
}

// A launch of kernels without their body would fail at the trap (and leave the CUDA context
// unusable): refused here with the reason instead.
template <typename T, int DQK, int DV>
void requireBodies() {
#if defined(__CUDACC__)
  if (!bodiesLoaded<T, DQK, DV>()) {
    int device = 0, major = 0, minor = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    throw IntraError("INTRA_DEVICE", "the tensor-core window attention has no body in this build's code for sm_" +
                                         std::to_string(major * 10 + minor) + " (it needs sm_80 or newer; this build has " INTRA_CUDA_TARGETS ")");
  }
#endif
}

inline void forward(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                    const void* v, HeadLayout vl, void* out, void* lse, void* stream) {
  withShape(p, [&](auto type, auto widths) {
    using T = decltype(type);
    constexpr int DQK = decltype(widths)::dqk, DV = decltype(widths)::dv;
    requireBodies<T, DQK, DV>();
    INTRA_LAUNCH((forwardKernel<T, DQK, DV>), dim3(static_cast<unsigned>(p.heads)), dim3(kThreads),
                 (forwardShared<DQK, DV>(sizeof(T))), stream, static_cast<const T*>(q), ql, static_cast<const T*>(k), kl,
                 static_cast<const T*>(v), vl, static_cast<T*>(out), static_cast<float*>(lse), int(p.S), int(p.dqk),
                 int(p.dv), static_cast<float>(1.0 / std::sqrt(double(p.dqk))));
  });
}

inline void backward(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                     const void* v, HeadLayout vl, const void* out, const void* dout, HeadLayout gl, const void* lse,
                     void* dq, void* dk, void* dv, void* stream) {
  withShape(p, [&](auto type, auto widths) {
    using T = decltype(type);
    constexpr int DQK = decltype(widths)::dqk, DV = decltype(widths)::dv;
    requireBodies<T, DQK, DV>();
    INTRA_LAUNCH((backwardKernel<T, DQK, DV>), dim3(static_cast<unsigned>(p.heads)), dim3(kThreads),
                 (backwardShared<DQK, DV>(sizeof(T))), stream, static_cast<const T*>(q), ql, static_cast<const T*>(k), kl,
                 static_cast<const T*>(v), vl, static_cast<const T*>(out), static_cast<const T*>(dout), gl,
                 static_cast<const float*>(lse), static_cast<T*>(dq), static_cast<T*>(dk), static_cast<T*>(dv),
                 int(p.S), int(p.dqk), int(p.dv), static_cast<float>(1.0 / std::sqrt(double(p.dqk))));
  });
}

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::attention::window_mma
