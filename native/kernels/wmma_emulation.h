// WMMA (nvcuda::wmma) for the CPU emulation (cuda_emulation.h), so that the tensor-core
// kernels are checked against float64 on machines without a GPU.
//
// CUDA spreads a fragment over the warp's registers in a layout it does not document; no
// kernel of ours reads a fragment element by element (only load, fill, mma and store), so here
// every lane holds the whole tile. Loads and the product are computed by every lane alike; a
// store writes each element once, from lane (element % 32), so the warp's stores never race;
// the kernels' warp barrier after a store makes the tile visible, as on the GPU. The product
// accumulates in float in k order: tensor cores take the same exact products of 16-bit inputs
// and accumulate in float in an order of their own.
#pragma once
#include <type_traits>

#include "cuda_emulation.h"

namespace intra::kernels::emulation::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  float x[rows * cols];  // the tile, row-major
};

template <int M, int N, int K, typename T>
void fill_fragment(fragment<accumulator, M, N, K, T>& f, float value) {
  for (float& v : f.x) v = value;
}

// A matrix_a or matrix_b tile from memory: element (r, c) at p[r * ldm + c] (row_major) or
// p[c * ldm + r] (col_major), as CUDA's layouts are defined.
template <typename Use, int M, int N, int K, typename T, typename Layout, typename S>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const S* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int r = 0; r < F::rows; ++r) {
    for (int c = 0; c < F::cols; ++c) {
      const S& e = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[c * ldm + r];
      f.x[r * F::cols + c] = static_cast<float>(e);
    }
  }
}

template <int M, int N, int K, typename T, typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LayoutA>& a,
              const fragment<matrix_b, M, N, K, T, LayoutB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      float sum = c.x[i * N + j];
      for (int k = 0; k < K; ++k) sum += a.x[i * K + k] * b.x[k * N + j];
      out[i * N + j] = sum;
    }
  }
  for (int e = 0; e < M * N; ++e) d.x[e] = out[e];
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  for (int e = static_cast<int>(current().lane); e < M * N; e += 32) {
    const int r = e / N, c = e % N;
    p[layout == mem_row_major ? r * ldm + c : c * ldm + r] = f.x[e];
  }
}

}  // namespace intra::kernels::emulation::wmma
