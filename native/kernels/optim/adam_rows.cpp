// Adam's element loops, left to the vectoriser and built once per CPU set through function
// target attributes (this file is compiled with -ffp-contract=off: no fused multiply-adds).
#include "adam_rows.h"

#include <cmath>

#include "../bf16_bits.h"

namespace intra::kernels::optim {

namespace {

// The reference's arithmetic, element by element and in its order.
template <typename T, typename G, bool Working>
__attribute__((always_inline)) inline void adamRowsOf(T* __restrict p, const G* __restrict g, T* __restrict m,
                                                      T* __restrict v, uint16_t* __restrict w, int64_t n,
                                                      const AdamCoefficients<T>& c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T grad = load<T>(g[i]);
    const T mi = m[i] * c.beta1 + c.oneMinusBeta1 * grad;
    const T vi = v[i] * c.beta2 + c.oneMinusBeta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / c.sqrtCorrection2 + c.eps;
    const T updated = p[i] + c.negativeStepSize * (mi / denom);
    p[i] = updated;
    if constexpr (Working) w[i] = narrow(updated);
  }
}

#define INTRA_ADAM_SET(Name, Target)                                                                       \
  template <typename T, typename G>                                                                        \
  Target void adam##Name(T* p, const G* g, T* m, T* v, uint16_t* w, int64_t n, const AdamCoefficients<T>& c) { \
    if (w != nullptr) {                                                                                    \
      adamRowsOf<T, G, true>(p, g, m, v, w, n, c);                                                         \
    } else {                                                                                               \
      adamRowsOf<T, G, false>(p, g, m, v, w, n, c);                                                        \
    }                                                                                                      \
  }                                                                                                        \
  AdamRowKernels Name##Set() { return {&adam##Name<float, float>, &adam##Name<double, double>, &adam##Name<float, uint16_t>}; }
INTRA_FOR_EACH_CPU_SET(INTRA_ADAM_SET)

}  // namespace

AdamRowKernels adamRowKernels(CpuVectorSet set) { return INTRA_SET_OF(set); }

}  // namespace intra::kernels::optim
