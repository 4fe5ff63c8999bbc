// CUDA attention kernels over windows, as device-generic source: compiled by nvcc in
// fused_cuda.cu and by the CPU emulation in fused_cuda_emulated.cpp (device_code.h).
//
// Softmax attention, one thread per query row (forward, dq) or key row (dk, dv): the row's
// query, accumulators and a tile of scores stay in registers, keys and values (or queries
// and output gradients) are staged through shared memory kTile rows at a time, so a
// window's K and V (S = 49: 49 rows) pass through shared memory in two tiles and nothing of
// size S x S is ever stored. The forward keeps the row log-sum-exp; the backward recomputes
// probabilities from it (FlashAttention's scheme, with plain FMA: at S = 49 and d = 64 the
// work per window is small and the kernel is bound by reading q, k, v once).
// Head widths are template parameters (rows in registers need compile-time sizes); a call
// takes the smallest instantiated pair (dqk, dv) that holds its widths, zero-padded.
//
// Linear attention (elu + 1), one block per (window, head): phi(K)^T V (dqk x dv) and
// sum phi(K) are built in shared memory and never reach global memory.
#pragma once
#include "../dispatch_types.h"
#include "fused_cuda.h"
#include "window_mma.cuh"


namespace intra::kernels::device::INTRA_DEVICE_BUILD::attention {

constexpr int kRows = 64;  // rows per block of the softmax kernels, one per thread
constexpr int kTile = 32;  // rows staged in shared memory at once
constexpr unsigned kLinearThreads = 128;

template <typename F>
void withWidths(int64_t dqk, int64_t dv, F&& f) {
  if (dqk <= 16 && dv <= 16) return f(Widths<16, 16>{});
  if (dqk <= 16 && dv <= 32) return f(Widths<16, 32>{});
  if (dqk <= 32 && dv <= 32) return f(Widths<32, 32>{});
  if (dqk <= 32 && dv <= 64) return f(Widths<32, 64>{});
  if (dqk <= 64 && dv <= 64) return f(Widths<64, 64>{});
  if (dqk <= 128 && dv <= 128) return f(Widths<128, 128>{});
  throw unsupported("the CUDA softmax attention takes head widths up to 128, not dqk " + std::to_string(dqk) +
                    " and dv " + std::to_string(dv) + "; use kernels 'reference'");
}

// Rows [first, first + count) of a head, `width` wide, into shared memory as D-wide rows
// of A, zero-padded (rows past count and columns past width), scaled by `scale`.
template <int D, typename T, typename A>
INTRA_DEVICE void stageRows(A* dst, const T* src, int64_t rowStride, int64_t first, int64_t count, int64_t width,
                            A scale) {
  for (int idx = threadIdx.x; idx < kTile * D; idx += blockDim.x) {
    const int r = idx / D, c = idx % D;
    dst[idx] = (r < count && c < width) ? widen<A>(src[(first + r) * rowStride + c]) * scale : A(0);
  }
}

template <typename T, typename A, int DQK, int DV>
INTRA_KERNEL void softmaxForwardKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v,
                                       HeadLayout vl, T* out,  // (heads, S, dv)
                                       A* lse,                 // (heads, S)
                                       int64_t S, int64_t dqk, int64_t dv, A scale) {
  A* keys = dynamicShared<A>();  // kTile x DQK
  A* values = keys + kTile * DQK;  // kTile x DV
  const int64_t head = blockIdx.x;
  const int64_t row = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.x;
  const bool active = row < S;
  const T* qh = q + ql.offset(head);
  const T* kh = k + kl.offset(head);
  const T* vh = v + vl.offset(head);
  A query[DQK], acc[DV];
  for (int c = 0; c < DQK; ++c) query[c] = active && c < dqk ? widen<A>(qh[row * ql.rowStride + c]) * scale : A(0);
  for (int c = 0; c < DV; ++c) acc[c] = A(0);
  A rowMax = negativeInfinity<A>(), rowSum = A(0);
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();  // the previous tile is consumed
    stageRows<DQK>(keys, kh, kl.rowStride, first, count, dqk, A(1));
    stageRows<DV>(values, vh, vl.rowStride, first, count, dv, A(1));
    blockBarrier();
    if (!active) continue;
    A scores[kTile];
    A tileMax = negativeInfinity<A>();
    for (int j = 0; j < kTile; ++j) {
      A dot = A(0);
      for (int c = 0; c < DQK; ++c) dot += query[c] * keys[j * DQK + c];
      scores[j] = j < count ? dot : negativeInfinity<A>();
      tileMax = maxOf(tileMax, scores[j]);
    }
    const A newMax = maxOf(rowMax, tileMax);
    const A correction = expOf(rowMax - newMax);  // 0 on the first tile
    rowSum *= correction;
    for (int c = 0; c < DV; ++c) acc[c] *= correction;
    for (int j = 0; j < kTile; ++j) {
      const A p = j < count ? expOf(scores[j] - newMax) : A(0);
      rowSum += p;
      for (int c = 0; c < DV; ++c) acc[c] += p * values[j * DV + c];
    }
    rowMax = newMax;
  }
  if (!active) return;  // after the last barrier: every thread reached the same ones
  T* o = out + (head * S + row) * dv;
  for (int c = 0; c < DV; ++c) {
    if (c < dv) o[c] = narrow<T>(acc[c] / rowSum);
  }
  lse[head * S + row] = rowMax + logOf(rowSum);
}

// dq, one thread per query row; also writes rowDot_i = dout_i . out_i for the key pass.
template <typename T, typename A, int DQK, int DV>
INTRA_KERNEL void softmaxBackwardQueryKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v,
                                             HeadLayout vl, const T* out,  // (heads, S, dv)
                                             const T* dout, HeadLayout gl, const A* lse,
                                             A* rowDot,  // (heads, S), written
                                             T* dq,      // (heads, S, dqk)
                                             int64_t S, int64_t dqk, int64_t dv, A scale) {
  A* keys = dynamicShared<A>();
  A* values = keys + kTile * DQK;
  const int64_t head = blockIdx.x;
  const int64_t row = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.x;
  const bool active = row < S;
  const T* qh = q + ql.offset(head);
  const T* gh = dout + gl.offset(head);
  A query[DQK], grad[DV], dquery[DQK];
  A delta = A(0), logSum = A(0);
  for (int c = 0; c < DQK; ++c) {
    query[c] = active && c < dqk ? widen<A>(qh[row * ql.rowStride + c]) * scale : A(0);
    dquery[c] = A(0);
  }
  for (int c = 0; c < DV; ++c) {
    grad[c] = active && c < dv ? widen<A>(gh[row * gl.rowStride + c]) : A(0);
    if (active && c < dv) delta += grad[c] * widen<A>(out[(head * S + row) * dv + c]);
  }
  if (active) {
    rowDot[head * S + row] = delta;
    logSum = lse[head * S + row];
  }
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();
    stageRows<DQK>(keys, k + kl.offset(head), kl.rowStride, first, count, dqk, A(1));
    stageRows<DV>(values, v + vl.offset(head), vl.rowStride, first, count, dv, A(1));
    blockBarrier();
    if (!active) continue;
    for (int j = 0; j < count; ++j) {
      A s = A(0), dp = A(0);
      for (int c = 0; c < DQK; ++c) s += query[c] * keys[j * DQK + c];
      for (int c = 0; c < DV; ++c) dp += grad[c] * values[j * DV + c];
      const A ds = expOf(s - logSum) * (dp - delta);
      for (int c = 0; c < DQK; ++c) dquery[c] += ds * keys[j * DQK + c];
    }
  }
  if (!active) return;
  T* d = dq + (head * S + row) * dqk;
  for (int c = 0; c < DQK; ++c) {
    if (c < dqk) d[c] = narrow<T>(dquery[c] * scale);
  }
}

// dk and dv, one thread per key row: the block's own key and value rows sit in shared
// memory (one padded row per thread), queries and output gradients pass through in tiles.
template <typename T, typename A, int DQK, int DV>
INTRA_KERNEL void softmaxBackwardKeyKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v,
                                           HeadLayout vl, const T* dout, HeadLayout gl, const A* lse,
                                           const A* rowDot,  // (heads, S)
                                           T* dk,            // (heads, S, dqk)
                                           T* dvOut,         // (heads, S, dv)
                                           int64_t S, int64_t dqk, int64_t dv, A scale) {
  constexpr int kOwnWidth = DQK + DV + 1;  // +1: a thread's row starts in its own bank
  A* own = dynamicShared<A>();             // kRows x kOwnWidth: this thread's k then v
  A* queries = own + kRows * kOwnWidth;    // kTile x DQK, scaled
  A* grads = queries + kTile * DQK;        // kTile x DV
  A* logSums = grads + kTile * DV;         // kTile
  A* deltas = logSums + kTile;             // kTile
  const int64_t head = blockIdx.x;
  const int64_t row = static_cast<int64_t>(blockIdx.y) * kRows + threadIdx.x;
  const bool active = row < S;
  A* mine = own + threadIdx.x * kOwnWidth;
  for (int c = 0; c < DQK; ++c) mine[c] = active && c < dqk ? widen<A>(k[kl.offset(head) + row * kl.rowStride + c]) : A(0);
  for (int c = 0; c < DV; ++c) {
    mine[DQK + c] = active && c < dv ? widen<A>(v[vl.offset(head) + row * vl.rowStride + c]) : A(0);
  }
  A dkey[DQK], dvalue[DV];
  for (int c = 0; c < DQK; ++c) dkey[c] = A(0);
  for (int c = 0; c < DV; ++c) dvalue[c] = A(0);
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();
    stageRows<DQK>(queries, q + ql.offset(head), ql.rowStride, first, count, dqk, scale);
    stageRows<DV>(grads, dout + gl.offset(head), gl.rowStride, first, count, dv, A(1));
    for (int r = threadIdx.x; r < kTile; r += blockDim.x) {
      logSums[r] = r < count ? lse[head * S + first + r] : A(0);
      deltas[r] = r < count ? rowDot[head * S + first + r] : A(0);
    }
    blockBarrier();
    if (!active) continue;
    for (int i = 0; i < count; ++i) {
      A s = A(0), dp = A(0);
      for (int c = 0; c < DQK; ++c) s += queries[i * DQK + c] * mine[c];
      for (int c = 0; c < DV; ++c) dp += grads[i * DV + c] * mine[DQK + c];
      const A p = expOf(s - logSums[i]);
      const A ds = p * (dp - deltas[i]);
      for (int c = 0; c < DV; ++c) dvalue[c] += p * grads[i * DV + c];
      for (int c = 0; c < DQK; ++c) dkey[c] += ds * queries[i * DQK + c];  // queries carry the scale
    }
  }
  if (!active) return;
  for (int c = 0; c < DQK; ++c) {
    if (c < dqk) dk[(head * S + row) * dqk + c] = narrow<T>(dkey[c]);
  }
  for (int c = 0; c < DV; ++c) {
    if (c < dv) dvOut[(head * S + row) * dv + c] = narrow<T>(dvalue[c]);
  }
}

// ---- linear attention ----------------------------------------------------------------------

template <typename A>
INTRA_DEVICE A phi(A x) { return x > A(0) ? x + A(1) : expOf(x); }  // elu(x) + 1
template <typename A>
INTRA_DEVICE A phiDerivative(A x) { return x > A(0) ? A(1) : expOf(x); }

// Rows [first, first + count) of a head, `width` wide, densely into shared memory, through
// phi when `throughPhi`.
template <typename T, typename A>
INTRA_DEVICE void stageDense(A* dst, const T* src, int64_t rowStride, int64_t first, int64_t count, int64_t width,
                             bool throughPhi) {
  for (int64_t idx = threadIdx.x; idx < count * width; idx += blockDim.x) {
    const A x = widen<A>(src[(first + idx / width) * rowStride + idx % width]);
    dst[idx] = throughPhi ? phi(x) : x;
  }
}

// Shared memory of the linear kernels, in elements of A: kv and its gradient (dqk x dv each),
// two sums (dqk each), a tile of rows of three kinds (kTile x (dqk + 2 dv)) and two per-row values.
inline int64_t linearSharedElements(int64_t dqk, int64_t dv) {
  return 2 * dqk * dv + 2 * dqk + kTile * (dqk + 2 * dv) + 2 * kTile;
}

// sums (dqk x dv) += sum_r left_r right_r^T and columnSums (dqk) += sum_r w_r left_r over the
// `count` staged rows, w_r = rowWeights[r] (1 when null): phi(K)^T V with sum phi(K), and
// in the backward phi(Q)^T dnum with sum dn phi(Q). Each entry has one owner thread.
template <typename A>
INTRA_DEVICE void accumulateProducts(A* sums, A* columnSums, const A* left, const A* right, const A* rowWeights,
                                     int64_t count, int64_t dqk, int64_t dv) {
  for (int64_t e = threadIdx.x; e < dqk * dv; e += blockDim.x) {
    const int64_t a = e / dv, b = e % dv;
    A sum = A(0);
    for (int64_t r = 0; r < count; ++r) sum += left[r * dqk + a] * right[r * dv + b];
    sums[e] += sum;
  }
  for (int64_t a = threadIdx.x; a < dqk; a += blockDim.x) {
    A sum = A(0);
    for (int64_t r = 0; r < count; ++r) sum += (rowWeights ? rowWeights[r] : A(1)) * left[r * dqk + a];
    columnSums[a] += sum;
  }
}

// kv = sum_j phi(k_j) v_j^T and ksum = sum_j phi(k_j) over the head's rows, into shared memory.
template <typename T, typename A>
INTRA_DEVICE void keyValueSums(const T* kh, int64_t kStride, const T* vh, int64_t vStride, int64_t S, int64_t dqk,
                               int64_t dv, A* kv, A* ksum, A* tileK, A* tileV) {
  for (int64_t e = threadIdx.x; e < dqk * dv; e += blockDim.x) kv[e] = A(0);
  for (int64_t a = threadIdx.x; a < dqk; a += blockDim.x) ksum[a] = A(0);
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();
    stageDense(tileK, kh, kStride, first, count, dqk, true);
    stageDense(tileV, vh, vStride, first, count, dv, false);
    blockBarrier();
    accumulateProducts(kv, ksum, tileK, tileV, static_cast<const A*>(nullptr), count, dqk, dv);
  }
  blockBarrier();
}

template <typename T, typename A>
INTRA_KERNEL void linearForwardKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v,
                                      HeadLayout vl, T* out,  // (heads, S, dv)
                                      int64_t S, int64_t dqk, int64_t dv) {
  A* kv = dynamicShared<A>();
  A* ksum = kv + 2 * dqk * dv;
  A* tileQ = ksum + 2 * dqk;
  A* tileV = tileQ + kTile * dqk;
  A* normaliser = tileV + 2 * kTile * dv;
  const int64_t head = blockIdx.x;
  keyValueSums(k + kl.offset(head), kl.rowStride, v + vl.offset(head), vl.rowStride, S, dqk, dv, kv, ksum, tileQ, tileV);
  const T* qh = q + ql.offset(head);
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();
    stageDense(tileQ, qh, ql.rowStride, first, count, dqk, true);
    blockBarrier();
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      A sum = A(kLinearAttentionEps);
      for (int64_t a = 0; a < dqk; ++a) sum += tileQ[r * dqk + a] * ksum[a];
      normaliser[r] = sum;
    }
    blockBarrier();
    for (int64_t idx = threadIdx.x; idx < count * dv; idx += blockDim.x) {
      const int64_t r = idx / dv, b = idx % dv;
      A num = A(0);
      for (int64_t a = 0; a < dqk; ++a) num += tileQ[r * dqk + a] * kv[a * dv + b];
      out[(head * S + first + r) * dv + b] = narrow<T>(num / normaliser[r]);
    }
  }
}

// out_i = num_i / n_i with num_i = kv^T phi(q_i), n_i = phi(q_i) . ksum + eps. Given dout:
//   dnum_i = dout_i / n_i, dn_i = -(dout_i . out_i) / n_i,
//   dphi(q_i) = kv dnum_i + dn_i ksum, dkv = sum_i phi(q_i) dnum_i^T, dksum = sum_i dn_i phi(q_i),
//   dphi(k_j) = dkv v_j + dksum, dv_j = dkv^T phi(k_j).
template <typename T, typename A>
INTRA_KERNEL void linearBackwardKernel(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v,
                                       HeadLayout vl, const T* out,  // (heads, S, dv)
                                       const T* dout, HeadLayout gl,
                                       T* dq, T* dk, T* dvOut,  // (heads, S, d)
                                       int64_t S, int64_t dqk, int64_t dv) {
  A* kv = dynamicShared<A>();
  A* dkv = kv + dqk * dv;
  A* ksum = dkv + dqk * dv;
  A* dksum = ksum + dqk;
  A* tileQ = dksum + dqk;           // kTile x dqk: phi(q) (or phi(k))
  A* tileG = tileQ + kTile * dqk;   // kTile x dv: dnum (or v)
  A* tileO = tileG + kTile * dv;    // kTile x dv: out
  A* rowNorm = tileO + kTile * dv;  // kTile
  A* rowDn = rowNorm + kTile;       // kTile
  const int64_t head = blockIdx.x;
  const T* qh = q + ql.offset(head);
  const T* kh = k + kl.offset(head);
  const T* vh = v + vl.offset(head);
  const T* gh = dout + gl.offset(head);
  keyValueSums(kh, kl.rowStride, vh, vl.rowStride, S, dqk, dv, kv, ksum, tileQ, tileG);
  for (int64_t e = threadIdx.x; e < dqk * dv; e += blockDim.x) dkv[e] = A(0);
  for (int64_t a = threadIdx.x; a < dqk; a += blockDim.x) dksum[a] = A(0);
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();
    stageDense(tileQ, qh, ql.rowStride, first, count, dqk, true);
    stageDense(tileG, gh, gl.rowStride, first, count, dv, false);
    stageDense(tileO, out + head * S * dv, dv, first, count, dv, false);
    blockBarrier();
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      A n = A(kLinearAttentionEps), c = A(0);
      for (int64_t a = 0; a < dqk; ++a) n += tileQ[r * dqk + a] * ksum[a];
      for (int64_t b = 0; b < dv; ++b) c += tileG[r * dv + b] * tileO[r * dv + b];
      rowNorm[r] = n;
      rowDn[r] = -c / n;
    }
    blockBarrier();
    for (int64_t idx = threadIdx.x; idx < count * dv; idx += blockDim.x) tileG[idx] /= rowNorm[idx / dv];  // dnum
    blockBarrier();
    for (int64_t idx = threadIdx.x; idx < count * dqk; idx += blockDim.x) {
      const int64_t r = idx / dqk, a = idx % dqk;
      A sum = rowDn[r] * ksum[a];
      for (int64_t b = 0; b < dv; ++b) sum += kv[a * dv + b] * tileG[r * dv + b];
      const A raw = widen<A>(qh[(first + r) * ql.rowStride + a]);
      dq[(head * S + first + r) * dqk + a] = narrow<T>(sum * phiDerivative(raw));
    }
    accumulateProducts(dkv, dksum, tileQ, tileG, rowDn, count, dqk, dv);
  }
  for (int64_t first = 0; first < S; first += kTile) {
    const int64_t count = S - first < kTile ? S - first : kTile;
    blockBarrier();  // also orders the last dkv and dksum updates before their use
    stageDense(tileQ, kh, kl.rowStride, first, count, dqk, true);
    stageDense(tileG, vh, vl.rowStride, first, count, dv, false);
    blockBarrier();
    for (int64_t idx = threadIdx.x; idx < count * dqk; idx += blockDim.x) {
      const int64_t r = idx / dqk, a = idx % dqk;
      A sum = dksum[a];
      for (int64_t b = 0; b < dv; ++b) sum += dkv[a * dv + b] * tileG[r * dv + b];
      const A raw = widen<A>(kh[(first + r) * kl.rowStride + a]);
      dk[(head * S + first + r) * dqk + a] = narrow<T>(sum * phiDerivative(raw));
    }
    for (int64_t idx = threadIdx.x; idx < count * dv; idx += blockDim.x) {
      const int64_t r = idx / dv, b = idx % dv;
      A sum = A(0);
      for (int64_t a = 0; a < dqk; ++a) sum += dkv[a * dv + b] * tileQ[r * dqk + a];
      dvOut[(head * S + first + r) * dv + b] = narrow<T>(sum);
    }
  }
}

// ---- launchers -------------------------------------------------------------------------------

template <typename A>
A inverseSqrt(int64_t d) { return static_cast<A>(1.0 / std::sqrt(static_cast<double>(d))); }

inline size_t softmaxForwardShared(int dqk, int dv, size_t element) { return size_t(kTile) * (dqk + dv) * element; }
inline size_t softmaxKeyShared(int dqk, int dv, size_t element) {
  return (size_t(kRows) * (dqk + dv + 1) + size_t(kTile) * (dqk + dv + 2)) * element;
}

// The problem's element types and compiled head widths, with the softmax kernels' grid (one
// block per head and kRows query rows), for the launchers below.
template <typename F>
void withSoftmaxShape(const AttentionProblem& p, F&& f) {
  withTypes(p.type, [&](auto types) {
    withWidths(p.dqk, p.dv, [&](auto widths) {
      f(types, widths, dim3(static_cast<unsigned>(p.heads), static_cast<unsigned>((p.S + kRows - 1) / kRows)));
    });
  });
}

inline void softmaxForward(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                           const void* v, HeadLayout vl, void* out, void* lse, void* stream) {
  if (window_mma::takes(p)) return window_mma::forward(p, q, ql, k, kl, v, vl, out, lse, stream);
  withSoftmaxShape(p, [&](auto types, auto widths, dim3 grid) {
    using T = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    constexpr int DQK = decltype(widths)::dqk, DV = decltype(widths)::dv;
    INTRA_LAUNCH((softmaxForwardKernel<T, A, DQK, DV>), grid, dim3(kRows), softmaxForwardShared(DQK, DV, sizeof(A)),
                 stream, static_cast<const T*>(q), ql, static_cast<const T*>(k), kl, static_cast<const T*>(v), vl,
                 static_cast<T*>(out), static_cast<A*>(lse), p.S, p.dqk, p.dv, inverseSqrt<A>(p.dqk));
  });
}

inline void softmaxBackward(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                            const void* v, HeadLayout vl, const void* out, const void* dout, HeadLayout gl,
                            const void* lse, void* rowDot, void* dq, void* dk, void* dv, void* stream) {
  if (window_mma::takes(p)) return window_mma::backward(p, q, ql, k, kl, v, vl, out, dout, gl, lse, dq, dk, dv, stream);
  withSoftmaxShape(p, [&](auto types, auto widths, dim3 grid) {
    using T = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    constexpr int DQK = decltype(widths)::dqk, DV = decltype(widths)::dv;
    const A scale = inverseSqrt<A>(p.dqk);
    INTRA_LAUNCH((softmaxBackwardQueryKernel<T, A, DQK, DV>), grid, dim3(kRows),
                 softmaxForwardShared(DQK, DV, sizeof(A)), stream, static_cast<const T*>(q), ql,
                 static_cast<const T*>(k), kl, static_cast<const T*>(v), vl, static_cast<const T*>(out),
                 static_cast<const T*>(dout), gl, static_cast<const A*>(lse), static_cast<A*>(rowDot),
                 static_cast<T*>(dq), p.S, p.dqk, p.dv, scale);
    INTRA_LAUNCH((softmaxBackwardKeyKernel<T, A, DQK, DV>), grid, dim3(kRows), softmaxKeyShared(DQK, DV, sizeof(A)),
                 stream, static_cast<const T*>(q), ql, static_cast<const T*>(k), kl, static_cast<const T*>(v), vl,
                 static_cast<const T*>(dout), gl, static_cast<const A*>(lse), static_cast<const A*>(rowDot),
                 static_cast<T*>(dk), static_cast<T*>(dv), p.S, p.dqk, p.dv, scale);
  });
}

inline size_t accumulateBytes(ElementType type) { return type == ElementType::F64 ? sizeof(double) : sizeof(float); }

inline size_t linearSharedBytes(const AttentionProblem& p) {
  return static_cast<size_t>(linearSharedElements(p.dqk, p.dv)) * accumulateBytes(p.type);
}

inline void linearForward(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                          const void* v, HeadLayout vl, void* out, void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    INTRA_LAUNCH((linearForwardKernel<T, A>), dim3(static_cast<unsigned>(p.heads)), dim3(kLinearThreads),
                 linearSharedBytes(p), stream, static_cast<const T*>(q), ql, static_cast<const T*>(k), kl,
                 static_cast<const T*>(v), vl, static_cast<T*>(out), p.S, p.dqk, p.dv);
  });
}

inline void linearBackward(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                           const void* v, HeadLayout vl, const void* out, const void* dout, HeadLayout gl, void* dq,
                           void* dk, void* dv, void* stream) {
  withTypes(p.type, [&](auto types) {
    using T = typename decltype(types)::T;
    using A = typename decltype(types)::A;
    INTRA_LAUNCH((linearBackwardKernel<T, A>), dim3(static_cast<unsigned>(p.heads)), dim3(kLinearThreads),
                 linearSharedBytes(p), stream, static_cast<const T*>(q), ql, static_cast<const T*>(k), kl,
                 static_cast<const T*>(v), vl, static_cast<const T*>(out), static_cast<const T*>(dout), gl,
                 static_cast<T*>(dq), static_cast<T*>(dk), static_cast<T*>(dv), p.S, p.dqk, p.dv);
  });
}

inline AttentionLaunchers launchers() {
  return {128, linearSharedBytes, sharedMemoryLimit, softmaxForward, softmaxBackward, linearForward, linearBackward};
}

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::attention
