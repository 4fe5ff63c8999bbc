// A register-blocked small matrix product for the fused kernels: C (+)= A * B, row-major,
// with M a multiple of kMr and N a multiple of kNr (callers pad their scratch). One
// (batch, head) of attention is a handful of such products on cache-resident tiles.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace intra::kernels {
namespace {  // internal linkage: compiled once per instruction set

#ifndef INTRA_VECTOR_BYTES
#define INTRA_VECTOR_BYTES 32
#endif

// One machine vector: 64 bytes with AVX-512, 32 with AVX2 (wider GCC vectors than the
// machine's spill and run ten times slower).
template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(INTRA_VECTOR_BYTES)));
  static constexpr int64_t lanes = INTRA_VECTOR_BYTES / sizeof(T);
};

template <typename T>
constexpr int64_t kNr = 2 * Vec<T>::lanes;  // columns per tile: two vectors
constexpr int64_t kMr = 6;                  // rows per tile: 12 accumulators in registers

// Row tiles a caller may ask for by the size of its problem: 7 and 8 fit beside their two B
// vectors only in AVX-512's 32 registers (AVX2 and SSE have 16), so narrower sets keep 6.
constexpr bool kWideRowTiles = INTRA_VECTOR_BYTES >= 64;
constexpr int64_t kMaxMr = kWideRowTiles ? 8 : kMr;

inline int64_t roundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// C[M x N] (+)= op(A) * B[K x N], op(A) = A[M x K] (A row i at A + i*lda) or, when
// transposedA, A^T with A stored [K x M] (A row k at A + k*lda): the same register tile
// reads its six A values from one row instead of one column, so no transpose is needed.
template <typename T, bool transposedA, int64_t Mr = kMr>
void gemmTile(const T* __restrict A, int64_t lda, const T* __restrict B, int64_t ldb, T* __restrict C, int64_t ldc,
              int64_t M, int64_t N, int64_t K, bool accumulate) {
  using V = typename Vec<T>::type;
  constexpr int64_t lanes = Vec<T>::lanes;
  for (int64_t j = 0; j < N; j += 2 * lanes) {
    for (int64_t i = 0; i < M; i += Mr) {
      V acc0[Mr], acc1[Mr];
      for (int64_t r = 0; r < Mr; ++r) {
        if (accumulate) {
          std::memcpy(&acc0[r], C + (i + r) * ldc + j, sizeof(V));
          std::memcpy(&acc1[r], C + (i + r) * ldc + j + lanes, sizeof(V));
        } else {
          acc0[r] = V{};
          acc1[r] = V{};
        }
      }
      const T* b = B + j;
      for (int64_t k = 0; k < K; ++k) {
        V b0, b1;
        std::memcpy(&b0, b + k * ldb, sizeof(V));
        std::memcpy(&b1, b + k * ldb + lanes, sizeof(V));
        for (int64_t r = 0; r < Mr; ++r) {
          const T x = transposedA ? A[k * lda + i + r] : A[(i + r) * lda + k];
          acc0[r] += x * b0;
          acc1[r] += x * b1;
        }
      }
      for (int64_t r = 0; r < Mr; ++r) {
        std::memcpy(C + (i + r) * ldc + j, &acc0[r], sizeof(V));
        std::memcpy(C + (i + r) * ldc + j + lanes, &acc1[r], sizeof(V));
      }
    }
  }
}

// C[M x lanes] = A[M x K] * B[K x lanes], one vector of columns (no accumulation): the strip
// a product narrower than two vectors ends with (S = 49 keys: two tiles of two vectors, one
// strip, one column). Its own loop: gemmTile generalised to a vector count cost ~2% on every
// product (S = 49, one thread).
template <typename T, int64_t Mr>
void gemmStrip(const T* __restrict A, int64_t lda, const T* __restrict B, int64_t ldb, T* __restrict C, int64_t ldc,
               int64_t M, int64_t K) {
  using V = typename Vec<T>::type;
  for (int64_t i = 0; i < M; i += Mr) {
    V acc[Mr];
    for (int64_t r = 0; r < Mr; ++r) acc[r] = V{};
    for (int64_t k = 0; k < K; ++k) {
      V b;
      std::memcpy(&b, B + k * ldb, sizeof(V));
      for (int64_t r = 0; r < Mr; ++r) acc[r] += A[(i + r) * lda + k] * b;
    }
    for (int64_t r = 0; r < Mr; ++r) std::memcpy(C + (i + r) * ldc, &acc[r], sizeof(V));
  }
}

// The row tile (6, 7 or 8 rows) that pads n rows least; ties go to the smaller tile. With a
// 7 x 7 window (S = 49) a 7-row tile pads nothing where 6 rows pad to 54.
inline int64_t rowTileFor(int64_t n) {
  int64_t best = kMr;
  for (int64_t mr = kMr + 1; mr <= kMaxMr; ++mr)
    if (roundUp(n, mr) < roundUp(n, best)) best = mr;
  return best;
}

// gemmTile with the row tile chosen at run time (M a multiple of mr).
template <typename T, bool transposedA>
void gemmWithRowTile(int64_t mr, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t M,
                     int64_t N, int64_t K, bool accumulate) {
  if constexpr (kWideRowTiles) {
    if (mr == 7) return gemmTile<T, transposedA, 7>(A, lda, B, ldb, C, ldc, M, N, K, accumulate);
    if (mr == 8) return gemmTile<T, transposedA, 8>(A, lda, B, ldb, C, ldc, M, N, K, accumulate);
  }
  gemmTile<T, transposedA, kMr>(A, lda, B, ldb, C, ldc, M, N, K, accumulate);
}

template <typename T>
void gemmStripWithRowTile(int64_t mr, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t M,
                          int64_t K) {
  if constexpr (kWideRowTiles) {
    if (mr == 7) return gemmStrip<T, 7>(A, lda, B, ldb, C, ldc, M, K);
    if (mr == 8) return gemmStrip<T, 8>(A, lda, B, ldb, C, ldc, M, K);
  }
  gemmStrip<T, kMr>(A, lda, B, ldb, C, ldc, M, K);
}

// C[M x N] (+)= A[M x K] * B[K x N], in tiles of mr rows (M a multiple of mr).
template <typename T>
void gemm(const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t M, int64_t N, int64_t K,
          bool accumulate, int64_t mr = kMr) {
  gemmWithRowTile<T, false>(mr, A, lda, B, ldb, C, ldc, M, N, K, accumulate);
}

// C[M x N] (+)= A^T * B, A stored [K x M'] with M' >= M columns readable.
template <typename T>
void gemmTransposedA(const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t M, int64_t N,
                     int64_t K, bool accumulate, int64_t mr = kMr) {
  gemmWithRowTile<T, true>(mr, A, lda, B, ldb, C, ldc, M, N, K, accumulate);
}

// Copies a (rows x cols) block into a zeroed (rowsPad x colsPad) buffer.
template <typename T>
void padCopy(const T* in, int64_t rows, int64_t cols, int64_t ldIn, T* out, int64_t rowsPad, int64_t colsPad) {
  std::memset(out, 0, sizeof(T) * rowsPad * colsPad);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * colsPad, in + r * ldIn, sizeof(T) * cols);
}

// An 8 x 8 block of 32-bit elements transposed in registers (three rounds of shuffles), floats
// times `scale` (other types are moved bit for bit: bf16 pairs travel as uint32): element-wise
// copies cost ~1.6 cycles per element here, most of a head's non-product time.
template <typename T>
inline void transpose8x8(const T* in, int64_t ldIn, T* out, int64_t ldOut, T scale) {
  static_assert(sizeof(T) == 4, "transpose8x8 moves 32-bit elements");
  typedef T V8 __attribute__((vector_size(32)));
  V8 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], in + i * ldIn, sizeof(V8));
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; ++i) {
    V8 low = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    V8 high = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    if constexpr (std::is_floating_point_v<T>) {
      low *= scale;
      high *= scale;
    }
    std::memcpy(out + i * ldOut, &low, sizeof(V8));
    std::memcpy(out + (i + 4) * ldOut, &high, sizeof(V8));
  }
}

// Transposes (rows x cols, leading dimension ldIn) into a zeroed (colsPad x rowsPad) buffer,
// times `scale`, in 8 x 8 tiles so that reads and writes both stay within a few cache lines.
template <typename T>
void padTranspose(const T* in, int64_t rows, int64_t cols, int64_t ldIn, T* out, int64_t colsPad, int64_t rowsPad,
                  T scale = T(1)) {
  std::memset(out, 0, sizeof(T) * rowsPad * colsPad);
  constexpr int64_t tile = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = r0 + tile < rows ? r0 + tile : rows;
    for (int64_t c0 = 0; c0 < cols; c0 += tile) {
      const int64_t c1 = c0 + tile < cols ? c0 + tile : cols;
      if constexpr (sizeof(T) == 4) {
        if (r1 - r0 == tile && c1 - c0 == tile) {
          transpose8x8(in + r0 * ldIn + c0, ldIn, out + c0 * rowsPad + r0, rowsPad, scale);
          continue;
        }
      }
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) out[c * rowsPad + r] = in[r * ldIn + c] * scale;
    }
  }
}

}  // namespace
}  // namespace intra::kernels
