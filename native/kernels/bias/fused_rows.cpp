// The bias add's row loops, left to the vectoriser and built once per CPU set (cpu_sets.h)
// through function target attributes. No ATen in here.
#include "fused_rows.h"

#include "../bf16_bits.h"
#include "../cpu_sets.h"

namespace intra::kernels::bias {

namespace {

template <typename X, typename A>
__attribute__((always_inline)) inline void addRowsOf(const X* __restrict x, const A* __restrict b, const X* __restrict r,
                                                     int64_t N, int64_t begin, int64_t end, X* __restrict y) {
  for (int64_t row = begin; row < end; ++row) {
    const X* __restrict xr = x + row * N;
    X* __restrict yr = y + row * N;
    if (r == nullptr) {
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) store(load<A>(xr[c]) + b[c], yr + c);
    } else {
      const X* __restrict rr = r + row * N;
      // The reference's order: the bias onto the product, then the residual.
#pragma omp simd
      for (int64_t c = 0; c < N; ++c) store(load<A>(rr[c]) + (load<A>(xr[c]) + b[c]), yr + c);
    }
  }
}

template <typename X, typename A>
__attribute__((always_inline)) inline void addWideRowsOf(const X* __restrict x, const A* __restrict b,
                                                         const A* __restrict r, int64_t N, int64_t begin, int64_t end,
                                                         A* __restrict y) {
  for (int64_t row = begin; row < end; ++row) {
    const X* __restrict xr = x + row * N;
    const A* __restrict rr = r + row * N;
    A* __restrict yr = y + row * N;
#pragma omp simd
    for (int64_t c = 0; c < N; ++c) yr[c] = rr[c] + (load<A>(xr[c]) + b[c]);
  }
}

template <typename X, typename A>
__attribute__((always_inline)) inline void sumRowsOf(const X* __restrict dy, int64_t N, int64_t begin, int64_t end,
                                                     A* __restrict db) {
  for (int64_t row = begin; row < end; ++row) {
    const X* __restrict dyr = dy + row * N;
#pragma omp simd
    for (int64_t c = 0; c < N; ++c) db[c] += load<A>(dyr[c]);
  }
}

template <typename X, typename A>
__attribute__((always_inline)) inline void narrowSumRowsOf(const A* __restrict dy, int64_t N, int64_t begin,
                                                           int64_t end, X* __restrict dx, A* __restrict db) {
  for (int64_t row = begin; row < end; ++row) {
    const A* __restrict dyr = dy + row * N;
    X* __restrict dxr = dx + row * N;
#pragma omp simd
    for (int64_t c = 0; c < N; ++c) {
      store(dyr[c], dxr + c);
      db[c] += dyr[c];
    }
  }
}

// Each set's entry points: the same loops compiled for its instructions.
#define INTRA_ROW_SET(Name, Target)                                                                             \
  template <typename X, typename A>                                                                             \
  Target void add##Name(const X* x, const A* b, const X* r, int64_t N, int64_t begin, int64_t end, X* y) {      \
    addRowsOf(x, b, r, N, begin, end, y);                                                                       \
  }                                                                                                             \
  template <typename X, typename A>                                                                             \
  Target void addWide##Name(const X* x, const A* b, const A* r, int64_t N, int64_t begin, int64_t end, A* y) {  \
    addWideRowsOf(x, b, r, N, begin, end, y);                                                                   \
  }                                                                                                             \
  template <typename X, typename A>                                                                             \
  Target void sum##Name(const X* dy, int64_t N, int64_t begin, int64_t end, A* db) {                            \
    sumRowsOf(dy, N, begin, end, db);                                                                           \
  }                                                                                                             \
  template <typename X, typename A>                                                                             \
  Target void narrowSum##Name(const A* dy, int64_t N, int64_t begin, int64_t end, X* dx, A* db) {               \
    narrowSumRowsOf(dy, N, begin, end, dx, db);                                                                 \
  }                                                                                                             \
  RowKernels Name##Set() {                                                                                      \
    return {INTRA_BY_STORAGE(add##Name), INTRA_BY_STORAGE(addWide##Name), INTRA_BY_STORAGE(sum##Name),          \
            INTRA_BY_STORAGE(narrowSum##Name)};                                                                 \
  }
INTRA_FOR_EACH_CPU_SET(INTRA_ROW_SET)

}  // namespace

RowKernels rowKernels(CpuVectorSet set) { return INTRA_SET_OF(set); }

}  // namespace intra::kernels::bias
