// Softmax attention with bf16 inputs, forward and backward, its products as bf16 dot products
// (vdpbf16ps: two bf16 products summed into each fp32 lane) rather than converting every
// operand to float. Built with -march=x86-64-v4 -mavx512bf16 and chosen where the CPU has
// avx512_bf16 (AMD Zen 4, Intel Cooper Lake and Sapphire Rapids on). No ATen in here.
//
// What it computes, per head, as the bf16 reference does (bf16 operands, fp32 sums):
// scores = q k^T in fp32; e = exp(scale * (scores - rowmax)) rounded to bf16; out = (e v) / sum(e)
// rounded to bf16 once; lse = scale * rowmax + log(sum(e)) in fp32 for the backward, which
// recomputes P from it (softmaxBackwardHead) unless the forward kept P = e / sum(e) in bf16
// (from the fp32 exponentials, one rounding: what the bf16 reference's softmax hands its backward).
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>

#define INTRA_VECTOR_BYTES 64
#include "../gemm.h"
#include "../simd.h"
#include "fused_kernels.h"

namespace intra::kernels::fused {
namespace {

constexpr int64_t kLanes = 16;                // fp32 lanes of one zmm
constexpr int64_t kTileColumns = 2 * kLanes;  // a register tile's columns: two vectors
constexpr int64_t kBlockTiles = 8;            // row tiles per block, so a block's scores stay in cache

// bf16 values travel as uint16_t and bf16 pairs (two neighbours along a product's inner
// dimension, the lower index in the low half) as uint32_t: vdpbf16ps's operand layout.
using Pair = uint32_t;

inline __m512bh asBf16(__m512i v) { return (__m512bh)v; }
inline __m512i asBits(__m512bh v) { return (__m512i)v; }
inline __m256i asBits(__m256bh v) { return (__m256i)v; }

// The first min(n, 16) of 16 fp32 lanes, and the first min(n, 32) of 32 bf16 lanes (n >= 0).
inline __mmask16 lanesUpTo(int64_t n) { return n >= kLanes ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
inline __mmask32 halvesUpTo(int64_t n) {
  return n >= kTileColumns ? ~__mmask32(0) : (__mmask32(1) << n) - 1;
}

// C[M x N] (+)= op(A) * B in fp32, M a multiple of Mr, N of kTileColumns, the inner dimension
// in K2 pairs. op(A) = A[M x K2 pairs] (row i's pairs at A + i*lda) or, transposedA, A stored
// [K2 x M] (pair k of row i at A + k*lda + i). B row k (pairs of inner indices 2k, 2k+1) at B + k*ldb.
template <int64_t Mr, bool transposedA>
void pairProductTile(const Pair* __restrict A, int64_t lda, const Pair* __restrict B, int64_t ldb, float* __restrict C,
                     int64_t ldc, int64_t M, int64_t N, int64_t K2, bool accumulate) {
  for (int64_t j = 0; j < N; j += kTileColumns) {
    for (int64_t i = 0; i < M; i += Mr) {
      __m512 acc0[Mr], acc1[Mr];
      for (int64_t r = 0; r < Mr; ++r) {
        acc0[r] = accumulate ? _mm512_loadu_ps(C + (i + r) * ldc + j) : _mm512_setzero_ps();
        acc1[r] = accumulate ? _mm512_loadu_ps(C + (i + r) * ldc + j + kLanes) : _mm512_setzero_ps();
      }
      for (int64_t k = 0; k < K2; ++k) {
        const __m512bh b0 = asBf16(_mm512_loadu_si512(B + k * ldb + j));
        const __m512bh b1 = asBf16(_mm512_loadu_si512(B + k * ldb + j + kLanes));
        for (int64_t r = 0; r < Mr; ++r) {
          const Pair x = transposedA ? A[k * lda + i + r] : A[(i + r) * lda + k];
          const __m512bh a = asBf16(_mm512_set1_epi32(static_cast<int>(x)));
          acc0[r] = _mm512_dpbf16_ps(acc0[r], a, b0);
          acc1[r] = _mm512_dpbf16_ps(acc1[r], a, b1);
        }
      }
      for (int64_t r = 0; r < Mr; ++r) {
        _mm512_storeu_ps(C + (i + r) * ldc + j, acc0[r]);
        _mm512_storeu_ps(C + (i + r) * ldc + j + kLanes, acc1[r]);
      }
    }
  }
}

template <bool transposedA = false>
void pairProduct(int64_t mr, const Pair* A, int64_t lda, const Pair* B, int64_t ldb, float* C, int64_t ldc, int64_t M,
                 int64_t N, int64_t K2, bool accumulate = false) {
  if (mr == 7) return pairProductTile<7, transposedA>(A, lda, B, ldb, C, ldc, M, N, K2, accumulate);
  if (mr == 8) return pairProductTile<8, transposedA>(A, lda, B, ldb, C, ldc, M, N, K2, accumulate);
  pairProductTile<kMr, transposedA>(A, lda, B, ldb, C, ldc, M, N, K2, accumulate);
}

// Carves typed buffers, 64-byte aligned, out of a byte scratch (or, on null, only counts the bytes).
struct ByteCarver {
  char* memory;
  int64_t used = 0;
  template <typename T>
  T* take(int64_t elements) {
    T* p = memory ? reinterpret_cast<T*>(memory + used) : nullptr;
    used += roundUp(static_cast<int64_t>(sizeof(T)) * elements, 64);
    return p;
  }
};

// Where one head's buffers lie in the caller's scratch (bytes, 64-byte aligned).
struct Bf16SoftmaxScratch {
  int64_t S, dqk, dv, mr, blockRows, dqkPairs, sPairs, nPad, dvPad;
  Pair *kPairsT, *vPairs, *qCopy, *kCopy;
  float *scores, *outBlock, *rowScale;
  uint16_t* expBlock;

  Bf16SoftmaxScratch(int64_t S, int64_t dqk, int64_t dv)
      : S(S), dqk(dqk), dv(dv), mr(rowTileFor(S)), blockRows(kBlockTiles * mr), dqkPairs((dqk + 1) / 2),
        sPairs((S + 1) / 2), nPad(roundUp(S, kTileColumns)), dvPad(roundUp(dv, kTileColumns)) {}

  // Carves the buffers from `memory` (or, with null, only counts the bytes).
  int64_t carve(char* memory) {
    ByteCarver c{memory};
    kPairsT = c.take<Pair>(dqkPairs * nPad);
    vPairs = c.take<Pair>(sPairs * dvPad);
    qCopy = c.take<Pair>(blockRows * dqkPairs);
    kCopy = c.take<Pair>(S * dqkPairs);
    scores = c.take<float>(blockRows * nPad);
    expBlock = c.take<uint16_t>(blockRows * nPad);
    outBlock = c.take<float>(blockRows * dvPad);
    rowScale = c.take<float>(blockRows);
    return c.used;
  }
};

// Rows of bf16 (rows x cols, row stride ld) as rows of pairs: in place when every row starts
// on a pair and holds whole pairs; otherwise copied into `copy` (rowsPad x ceil(cols/2)),
// the odd column and rows past `rows` zero.
struct PairRows {
  const Pair* data;
  int64_t ld;  // in pairs
};
PairRows pairRows(const uint16_t* in, int64_t rows, int64_t rowsPad, int64_t cols, int64_t ld, Pair* copy) {
  if (rows == rowsPad && cols % 2 == 0 && ld % 2 == 0 && reinterpret_cast<uintptr_t>(in) % 4 == 0)
    return {reinterpret_cast<const Pair*>(in), ld / 2};
  const int64_t pairs = (cols + 1) / 2;
  std::memset(copy, 0, 4 * rowsPad * pairs);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(copy + r * pairs, in + r * ld, 2 * cols);
  return {copy, pairs};
}

// The S rows of bf16 (S x cols, row stride ld) transposed as pairs, as B of a product against
// them (k of q k^T, v of dO v^T): row p holds pair p of every row, rows past S zero to nPad.
void pairsTransposed(const uint16_t* in, int64_t S, int64_t cols, int64_t ld, Pair* copy, Pair* out, int64_t nPad) {
  const PairRows rows = pairRows(in, S, S, cols, ld, copy);
  const int64_t pairs = (cols + 1) / 2;
  padTranspose(rows.data, S, pairs, rows.ld, out, pairs, nPad);
}

// Rows of bf16 (rows x cols, row stride ld) paired down the columns, as B of a product over
// those rows (v of e v, dO of P^T dO): row t holds the pairs (in[2t][c], in[2t+1][c]) for c
// to colsPad; the row past `rows` (odd rows) and the columns past cols are zero.
void packRowPairs(const uint16_t* in, int64_t ld, int64_t rows, int64_t cols, int64_t colsPad, Pair* out) {
  static const __m512i low = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38,
                                              6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  static const __m512i high = _mm512_set_epi16(63, 31, 62, 30, 61, 29, 60, 28, 59, 27, 58, 26, 57, 25, 56, 24, 55, 23,
                                               54, 22, 53, 21, 52, 20, 51, 19, 50, 18, 49, 17, 48, 16);
  for (int64_t t = 0; 2 * t < rows; ++t) {
    const uint16_t* even = in + 2 * t * ld;
    const uint16_t* odd = 2 * t + 1 < rows ? even + ld : nullptr;
    for (int64_t c = 0; c < colsPad; c += kTileColumns) {
      const __mmask32 mask = halvesUpTo(cols > c ? cols - c : 0);
      const __m512i a = _mm512_maskz_loadu_epi16(mask, even + c);
      const __m512i b = odd ? _mm512_maskz_loadu_epi16(mask, odd + c) : _mm512_setzero_si512();
      _mm512_storeu_si512(out + t * colsPad + c, _mm512_permutex2var_epi16(a, low, b));
      _mm512_storeu_si512(out + t * colsPad + c + kLanes, _mm512_permutex2var_epi16(a, high, b));
    }
  }
}

typedef float Floats __attribute__((vector_size(64)));

// The lanes of v folded in halves by shuffles (four dependent steps, all in registers).
template <typename Op>
float foldLanes(Floats v, Op op) {
  typedef float Floats8 __attribute__((vector_size(32)));
  typedef float Floats4 __attribute__((vector_size(16)));
  const Floats8 v8 = op(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
                        __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
  const Floats4 v4 = op(__builtin_shufflevector(v8, v8, 0, 1, 2, 3), __builtin_shufflevector(v8, v8, 4, 5, 6, 7));
  const Floats4 v2 = op(v4, __builtin_shufflevector(v4, v4, 2, 3, 0, 1));
  const Floats4 v1 = op(v2, __builtin_shufflevector(v2, v2, 1, 0, 3, 2));
  return v1[0];
}

// max of s[0:n] by whole vectors (s is readable to a whole vector past n).
float rowMaximum(const float* s, int64_t n) {
  __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t j = 0; j < n; j += kLanes) {
    best = _mm512_mask_max_ps(best, lanesUpTo(n - j), best, _mm512_loadu_ps(s + j));
  }
  return foldLanes((Floats)best, [](auto a, auto b) { return a > b ? a : b; });
}

// Each of the block's rows: e = exp(scale * (s - max)) over the first S scores, as bf16 with
// zeros to nPad; lse = scale * max + log(sum e); rowScale = 1 / sum e.
void exponentiateRows(const Bf16SoftmaxScratch& w, int64_t rows, float scale, float* lse) {
  for (int64_t r = 0; r < rows; ++r) {
    float* s = w.scores + r * w.nPad;
    const float shift = scale * rowMaximum(s, w.S);
#pragma omp simd
    for (int64_t j = 0; j < w.S; ++j) s[j] = vexp(scale * s[j] - shift);
    for (int64_t j = w.S; j < w.nPad; ++j) s[j] = 0.0f;
    // Sum what the product will see: e rounded to bf16, so that out is a weighted mean.
    uint16_t* e = w.expBlock + r * w.nPad;
    // (GCC vector operations rather than GCC 12's shift and reduce intrinsics, whose
    // _mm512_undefined operands draw false "may be used uninitialized" warnings.)
    typedef int32_t Words __attribute__((vector_size(64)));
    Floats total{};
    for (int64_t j = 0; j < w.nPad; j += kTileColumns) {
      const __m512i bits = asBits(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + j + kLanes), _mm512_loadu_ps(s + j)));
      _mm512_storeu_si512(e + j, bits);
      // bf16 -> fp32 is a 16-bit shift: the low halves, then the high halves.
      const Words words = (Words)bits;
      total += (Floats)(words << 16);
      total += (Floats)(words & int32_t(0xFFFF0000u));
    }
    const float sum = foldLanes(total, [](auto a, auto b) { return a + b; });
    lse[r] = shift + std::log(sum);
    w.rowScale[r] = 1.0f / sum;
  }
}

// Rows of fp32 (row stride ldIn), each times its rowScale (or 1 without), rounded once to
// bf16 rows of `cols` (row stride ldOut).
void storeBf16Rows(const float* in, int64_t ldIn, const float* rowScale, int64_t rows, int64_t cols, uint16_t* out,
                   int64_t ldOut) {
  for (int64_t r = 0; r < rows; ++r) {
    const __m512 scale = _mm512_set1_ps(rowScale ? rowScale[r] : 1.0f);
    for (int64_t c = 0; c < cols; c += kLanes) {
      const __m256bh v = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(in + r * ldIn + c), scale));
      _mm256_mask_storeu_epi16(out + r * ldOut + c, lanesUpTo(cols - c), asBits(v));
    }
  }
}

void softmaxForwardHead(const uint16_t* q, int64_t qs, const uint16_t* k, int64_t ks, const uint16_t* v, int64_t vs,
                        uint16_t* out, float* lse, uint16_t* probs, float scale, Bf16SoftmaxScratch& w) {
  pairsTransposed(k, w.S, w.dqk, ks, w.kCopy, w.kPairsT, w.nPad);
  packRowPairs(v, vs, w.S, w.dv, w.dvPad, w.vPairs);
  for (int64_t i0 = 0; i0 < w.S; i0 += w.blockRows) {
    const int64_t rows = w.blockRows < w.S - i0 ? w.blockRows : w.S - i0, m = roundUp(rows, w.mr);
    const PairRows qRows = pairRows(q + i0 * qs, rows, m, w.dqk, qs, w.qCopy);
    pairProduct(w.mr, qRows.data, qRows.ld, w.kPairsT, w.nPad, w.scores, w.nPad, m, w.nPad, w.dqkPairs);
    exponentiateRows(w, rows, scale, lse + i0);
    if (probs) storeBf16Rows(w.scores, w.nPad, w.rowScale, rows, w.S, probs + i0 * w.S, w.S);
    // Rows of a partial tile past `rows` are never stored; zeros keep them finite.
    std::memset(w.expBlock + rows * w.nPad, 0, 2 * (m - rows) * w.nPad);
    pairProduct(w.mr, reinterpret_cast<const Pair*>(w.expBlock), w.nPad / 2, w.vPairs, w.dvPad, w.outBlock, w.dvPad, m,
                w.dvPad, w.sPairs);
    storeBf16Rows(w.outBlock, w.dvPad, w.rowScale, rows, w.dv, out + i0 * w.dv, w.dv);
  }
}

// ---- backward ------------------------------------------------------------------------

// 16 bf16 values (the lanes of `mask`, others 0) widened to fp32: a 16-bit shift.
inline __m512 loadBf16(const uint16_t* p, __mmask16 mask) {
  typedef uint16_t Halves __attribute__((vector_size(32)));
  typedef uint32_t Words __attribute__((vector_size(64)));
  const Halves halves = (Halves)_mm256_maskz_loadu_epi16(mask, p);
  return (__m512)(__builtin_convertvector(halves, Words) << 16);
}

// sum of a[e] * b[e] over n bf16 values, in fp32.
float dotBf16(const uint16_t* a, const uint16_t* b, int64_t n) {
  __m512 total = _mm512_setzero_ps();
  for (int64_t e = 0; e < n; e += kLanes) {
    total = _mm512_fmadd_ps(loadBf16(a + e, lanesUpTo(n - e)), loadBf16(b + e, lanesUpTo(n - e)), total);
  }
  return foldLanes((Floats)total, [](auto x, auto y) { return x + y; });
}

// in[0:n] (n a multiple of kTileColumns) rounded to bf16.
void roundToBf16(const float* in, int64_t n, uint16_t* out) {
  for (int64_t j = 0; j < n; j += kTileColumns)
    _mm512_storeu_si512(out + j, asBits(_mm512_cvtne2ps_pbh(_mm512_loadu_ps(in + j + kLanes), _mm512_loadu_ps(in + j))));
}

// One head's backward buffers: the forward's operands again (k^T as pairs), v^T and k as the
// other products want them, and each block's P and dS in fp32, bf16 and paired down the rows.
struct Bf16SoftmaxBackwardScratch {
  int64_t S, dqk, dv, mr, blockRows, blockPairs, dqkPairs, dvPairs, sPairs, nPad, dqkPad, dvPad;
  Pair *qCopy, *gCopy, *kCopy, *vCopy, *kPairsT, *vPairsT, *kRowPairs, *pPairsT, *dsPairsT, *qRowPairs, *gRowPairs;
  float *scores, *dScores, *dvAcc, *dkAcc, *dqBlock;
  uint16_t *pBf16, *dsBf16;

  Bf16SoftmaxBackwardScratch(int64_t S, int64_t dqk, int64_t dv)
      : S(S), dqk(dqk), dv(dv), mr(rowTileFor(S)), blockRows(kBlockTiles * mr), blockPairs((blockRows + 1) / 2),
        dqkPairs((dqk + 1) / 2), dvPairs((dv + 1) / 2), sPairs((S + 1) / 2), nPad(roundUp(S, kTileColumns)),
        dqkPad(roundUp(dqk, kTileColumns)), dvPad(roundUp(dv, kTileColumns)) {}

  int64_t carve(char* memory) {
    ByteCarver c{memory};
    qCopy = c.take<Pair>(blockRows * dqkPairs);
    gCopy = c.take<Pair>(blockRows * dvPairs);
    kCopy = c.take<Pair>(S * dqkPairs);
    vCopy = c.take<Pair>(S * dvPairs);
    kPairsT = c.take<Pair>(dqkPairs * nPad);
    vPairsT = c.take<Pair>(dvPairs * nPad);
    kRowPairs = c.take<Pair>(sPairs * dqkPad);
    pPairsT = c.take<Pair>(blockPairs * nPad);
    dsPairsT = c.take<Pair>(blockPairs * nPad);
    qRowPairs = c.take<Pair>(blockPairs * dqkPad);
    gRowPairs = c.take<Pair>(blockPairs * dvPad);
    scores = c.take<float>(blockRows * nPad);
    dScores = c.take<float>(blockRows * nPad);
    dvAcc = c.take<float>(nPad * dvPad);
    dkAcc = c.take<float>(nPad * dqkPad);
    dqBlock = c.take<float>(blockRows * dqkPad);
    pBf16 = c.take<uint16_t>(blockRows * nPad);
    dsBf16 = c.take<uint16_t>(blockRows * nPad);
    return c.used;
  }
};

// Row `row` of the forward's bf16 probabilities (S of them) as the backward's operand, zeros
// to nPad, and widened to fp32 for dS.
void loadProbabilities(const uint16_t* probs, int64_t S, int64_t nPad, uint16_t* pBf16, float* p) {
  for (int64_t j = 0; j < nPad; j += kLanes) {
    const __mmask16 mask = S > j ? lanesUpTo(S - j) : __mmask16(0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pBf16 + j), _mm256_maskz_loadu_epi16(mask, probs + j));
    _mm512_storeu_ps(p + j, loadBf16(probs + j, mask));
  }
}

// dq, dk, dv (bf16, contiguous S x d, rounded once from fp32 sums) of one head from q, k, v, out, dO (bf16) and the
// forward's lse or probabilities: P = exp(scale * q k^T - lse) or the kept P; dP = dO v^T; dS = P (dP - rowsum(dO * out)) * scale;
// dV = P^T dO, dK = dS^T q, dQ = dS k, with P and dS rounded to bf16 as operands (as the
// bf16 reference's autograd rounds them) and every sum in fp32.
void softmaxBackwardHead(const uint16_t* q, int64_t qs, const uint16_t* k, int64_t ks, const uint16_t* v, int64_t vs,
                         const uint16_t* out, const uint16_t* dout, int64_t gs, const float* lse, const uint16_t* probs,
                         uint16_t* dq, uint16_t* dk, uint16_t* dvOut, float scale, Bf16SoftmaxBackwardScratch& w) {
  const int64_t S = w.S, dqk = w.dqk, dv = w.dv, nPad = w.nPad, mr = w.mr, keyRows = roundUp(S, mr);
  if (!probs) pairsTransposed(k, S, dqk, ks, w.kCopy, w.kPairsT, nPad);
  pairsTransposed(v, S, dv, vs, w.vCopy, w.vPairsT, nPad);
  packRowPairs(k, ks, S, dqk, w.dqkPad, w.kRowPairs);
  for (int64_t i0 = 0; i0 < S; i0 += w.blockRows) {
    const int64_t rows = w.blockRows < S - i0 ? w.blockRows : S - i0, m = roundUp(rows, mr), rowPairs = (rows + 1) / 2;
    const bool accumulate = i0 > 0;
    // P again, from q k^T and the saved log-sum-exp, unless the forward kept it.
    if (!probs) {
      const PairRows qA = pairRows(q + i0 * qs, rows, m, dqk, qs, w.qCopy);
      pairProduct(mr, qA.data, qA.ld, w.kPairsT, nPad, w.scores, nPad, m, nPad, w.dqkPairs);
    }
    const PairRows gA = pairRows(dout + i0 * gs, rows, m, dv, gs, w.gCopy);
    pairProduct(mr, gA.data, gA.ld, w.vPairsT, nPad, w.dScores, nPad, m, nPad, w.dvPairs);
    for (int64_t r = 0; r < rows; ++r) {
      float* p = w.scores + r * nPad;
      float* ds = w.dScores + r * nPad;
      if (probs) {
        loadProbabilities(probs + (i0 + r) * S, S, nPad, w.pBf16 + r * nPad, p);
      } else {
        const float l = lse[i0 + r];
#pragma omp simd
        for (int64_t j = 0; j < S; ++j) p[j] = vexp(scale * p[j] - l);
        for (int64_t j = S; j < nPad; ++j) p[j] = 0.0f;
        roundToBf16(p, nPad, w.pBf16 + r * nPad);
      }
      const float rowDot = dotBf16(dout + (i0 + r) * gs, out + (i0 + r) * dv, dv);
#pragma omp simd
      for (int64_t j = 0; j < nPad; ++j) ds[j] = p[j] * (ds[j] - rowDot) * scale;
      roundToBf16(ds, nPad, w.dsBf16 + r * nPad);
    }
    // Rows of a partial tile past `rows` are zero: they add nothing to dK and dV.
    std::memset(w.pBf16 + rows * nPad, 0, 2 * (m - rows) * nPad);
    std::memset(w.dsBf16 + rows * nPad, 0, 2 * (m - rows) * nPad);
    // dV (+)= P^T dO and dK (+)= dS^T q, over this block's queries in pairs.
    packRowPairs(w.pBf16, nPad, rows, nPad, nPad, w.pPairsT);
    packRowPairs(w.dsBf16, nPad, rows, nPad, nPad, w.dsPairsT);
    packRowPairs(dout + i0 * gs, gs, rows, dv, w.dvPad, w.gRowPairs);
    packRowPairs(q + i0 * qs, qs, rows, dqk, w.dqkPad, w.qRowPairs);
    pairProduct<true>(mr, w.pPairsT, nPad, w.gRowPairs, w.dvPad, w.dvAcc, w.dvPad, keyRows, w.dvPad, rowPairs, accumulate);
    pairProduct<true>(mr, w.dsPairsT, nPad, w.qRowPairs, w.dqkPad, w.dkAcc, w.dqkPad, keyRows, w.dqkPad, rowPairs,
                      accumulate);
    // dQ = dS k, over the keys in pairs.
    pairProduct(mr, reinterpret_cast<const Pair*>(w.dsBf16), nPad / 2, w.kRowPairs, w.dqkPad, w.dqBlock, w.dqkPad, m,
                w.dqkPad, w.sPairs);
    storeBf16Rows(w.dqBlock, w.dqkPad, nullptr, rows, dqk, dq + i0 * dqk, dqk);
  }
  storeBf16Rows(w.dvAcc, w.dvPad, nullptr, S, dv, dvOut, dv);
  storeBf16Rows(w.dkAcc, w.dqkPad, nullptr, S, dqk, dk, dqk);
}

int64_t softmaxBackwardScratchBytes(int64_t S, int64_t dqk, int64_t dv) {
  return Bf16SoftmaxBackwardScratch(S, dqk, dv).carve(nullptr);
}

void softmaxBackward(const uint16_t* q, HeadLayout ql, const uint16_t* k, HeadLayout kl, const uint16_t* v,
                     HeadLayout vl, const uint16_t* out, const uint16_t* dout, HeadLayout gl, const float* lse,
                     const uint16_t* probs, uint16_t* dq, uint16_t* dk, uint16_t* dv, int64_t S, int64_t dqk,
                     int64_t dvSize, int64_t begin, int64_t end, void* scratch) {
  Bf16SoftmaxBackwardScratch w(S, dqk, dvSize);
  w.carve(static_cast<char*>(scratch));
  const float scale = 1.0f / std::sqrt(static_cast<float>(dqk));
  for (int64_t b = begin; b < end; ++b) {
    if (b + 1 < end) {
      prefetchHead(b + 1, S, q, ql, k, kl, dqk, v, vl, dvSize);
      prefetchRows(dout + gl.offset(b + 1), S, dvSize, gl.rowStride);
    }
    softmaxBackwardHead(q + ql.offset(b), ql.rowStride, k + kl.offset(b), kl.rowStride, v + vl.offset(b), vl.rowStride,
                        out + b * S * dvSize, dout + gl.offset(b), gl.rowStride, lse + b * S,
                        probs ? probs + b * S * S : nullptr, dq + b * S * dqk,
                        dk + b * S * dqk, dv + b * S * dvSize, scale, w);
  }
}

int64_t softmaxScratchBytes(int64_t S, int64_t dqk, int64_t dv) { return Bf16SoftmaxScratch(S, dqk, dv).carve(nullptr); }

void softmaxForward(const uint16_t* q, HeadLayout ql, const uint16_t* k, HeadLayout kl, const uint16_t* v, HeadLayout vl,
                    uint16_t* out, float* lse, uint16_t* probs, int64_t S, int64_t dqk, int64_t dv, int64_t begin,
                    int64_t end, void* scratch) {
  Bf16SoftmaxScratch w(S, dqk, dv);
  w.carve(static_cast<char*>(scratch));
  const float scale = 1.0f / std::sqrt(static_cast<float>(dqk));
  for (int64_t b = begin; b < end; ++b) {
    if (b + 1 < end) prefetchHead(b + 1, S, q, ql, k, kl, dqk, v, vl, dv);
    softmaxForwardHead(q + ql.offset(b), ql.rowStride, k + kl.offset(b), kl.rowStride, v + vl.offset(b), vl.rowStride,
                       out + b * S * dv, lse + b * S, probs ? probs + b * S * S : nullptr, scale, w);
  }
}

}  // namespace

Bf16SoftmaxKernels avx512Bf16SoftmaxKernels() {
  return {&softmaxScratchBytes, &softmaxForward, &softmaxBackwardScratchBytes, &softmaxBackward};
}

}  // namespace intra::kernels::fused
