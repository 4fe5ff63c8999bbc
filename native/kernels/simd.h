// Small loops written so that the compiler vectorises them (kernels are built with
// -O3 -fno-math-errno and AVX2/FMA or wider; see CMakeLists.txt).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace intra::kernels {
// Internal linkage: these are compiled once per instruction set (see attention/isa_*.cpp),
// and copies built for different instruction sets must never be merged by the linker.
namespace {

// exp(x) by range reduction and a degree-6 polynomial: branch-free so loops over it
// vectorise (std::exp does not). Relative error < 2e-7 for float over [-87, 88].
template <typename T>
inline T vexp(T x) {
  if constexpr (sizeof(T) == 8) {
    return std::exp(x);  // doubles serve the tests, not speed
  } else {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float n = std::floor(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const float scale = __builtin_bit_cast(float, (static_cast<int32_t>(n) + 127) << 23);
    return p * scale;
  }
}

// y[0:n] += a * x[0:n]
template <typename T>
inline void axpy(int64_t n, T a, const T* __restrict x, T* __restrict y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

template <typename T>
inline T dot(int64_t n, const T* __restrict x, const T* __restrict y) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

// Asks for the next head's rows while this one computes: in the model's (B, S, heads, d)
// layout one head's rows are a few cache lines each, heads*d apart, and the first touch of
// each (K's transposition) otherwise waits on memory.
template <typename T>
void prefetchRows(const T* rows, int64_t count, int64_t cols, int64_t stride) {
  constexpr int64_t lineElements = 64 / sizeof(T);
  for (int64_t r = 0; r < count; ++r)
    for (int64_t c = 0; c < cols; c += lineElements) __builtin_prefetch(rows + r * stride + c);
}

// The rows of head `index` of q, k (dqk wide) and v (dv wide), through their layouts.
template <typename T, typename Layout>
void prefetchHead(int64_t index, int64_t S, const T* q, const Layout& ql, const T* k, const Layout& kl, int64_t dqk,
                  const T* v, const Layout& vl, int64_t dv) {
  prefetchRows(k + kl.offset(index), S, dqk, kl.rowStride);
  prefetchRows(v + vl.offset(index), S, dv, vl.rowStride);
  prefetchRows(q + ql.offset(index), S, dqk, ql.rowStride);
}

}  // namespace
}  // namespace intra::kernels
