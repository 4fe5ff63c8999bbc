// A register-blocked small matrix product for the fused kernels: C (+)= A * B, row-major,
// with M a multiple of kMr and N a multiple of kNr (callers pad their scratch). One
// (batch, head) of attention is a handful of such products on cache-resident tiles.
#pragma once
#include <cstdint>
#include <cstring>

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

inline int64_t roundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// C[M x N] (+)= op(A) * B[K x N], op(A) = A[M x K] (A row i at A + i*lda) or, when
// transposedA, A^T with A stored [K x M] (A row k at A + k*lda): the same register tile
// reads its six A values from one row instead of one column, so no transpose is needed.
template <typename T, bool transposedA>
void gemmTile(const T* __restrict A, int64_t lda, const T* __restrict B, int64_t ldb, T* __restrict C, int64_t ldc,
              int64_t M, int64_t N, int64_t K, bool accumulate) {
  using V = typename Vec<T>::type;
  constexpr int64_t lanes = Vec<T>::lanes;
  for (int64_t j = 0; j < N; j += 2 * lanes) {
    for (int64_t i = 0; i < M; i += kMr) {
      V acc0[kMr], acc1[kMr];
      for (int64_t r = 0; r < kMr; ++r) {
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
        for (int64_t r = 0; r < kMr; ++r) {
          const T x = transposedA ? A[k * lda + i + r] : A[(i + r) * lda + k];
          acc0[r] += x * b0;
          acc1[r] += x * b1;
        }
      }
      for (int64_t r = 0; r < kMr; ++r) {
        std::memcpy(C + (i + r) * ldc + j, &acc0[r], sizeof(V));
        std::memcpy(C + (i + r) * ldc + j + lanes, &acc1[r], sizeof(V));
      }
    }
  }
}

// C[M x N] (+)= A[M x K] * B[K x N]
template <typename T>
void gemm(const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t M, int64_t N, int64_t K,
          bool accumulate) {
  gemmTile<T, false>(A, lda, B, ldb, C, ldc, M, N, K, accumulate);
}

// C[M x N] (+)= A^T * B, A stored [K x M'] with M' >= M columns readable.
template <typename T>
void gemmTransposedA(const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, int64_t M, int64_t N,
                     int64_t K, bool accumulate) {
  gemmTile<T, true>(A, lda, B, ldb, C, ldc, M, N, K, accumulate);
}

// Copies a (rows x cols) block into a zeroed (rowsPad x colsPad) buffer.
template <typename T>
void padCopy(const T* in, int64_t rows, int64_t cols, int64_t ldIn, T* out, int64_t rowsPad, int64_t colsPad) {
  std::memset(out, 0, sizeof(T) * rowsPad * colsPad);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * colsPad, in + r * ldIn, sizeof(T) * cols);
}

// Transposes (rows x cols, leading dimension ldIn) into a zeroed (colsPad x rowsPad) buffer,
// in 8 x 8 tiles so that reads and writes both stay within a few cache lines.
template <typename T>
void padTranspose(const T* in, int64_t rows, int64_t cols, int64_t ldIn, T* out, int64_t colsPad, int64_t rowsPad) {
  std::memset(out, 0, sizeof(T) * rowsPad * colsPad);
  constexpr int64_t tile = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    const int64_t r1 = r0 + tile < rows ? r0 + tile : rows;
    for (int64_t c0 = 0; c0 < cols; c0 += tile) {
      const int64_t c1 = c0 + tile < cols ? c0 + tile : cols;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) out[c * rowsPad + r] = in[r * ldIn + c];
    }
  }
}

}  // namespace
}  // namespace intra::kernels
