// Adam's element loops on raw pointers (no ATen), built for each CPU set (cpu_sets.h) with
// floating-point contraction off: every set, and the bf16-gradient loop beside the float one,
// does the reference's arithmetic in its order, so they agree bit for bit.
#pragma once
#include <cstdint>

#include "../cpu_sets.h"

namespace intra::kernels::optim {

template <typename T>
struct AdamCoefficients {
  T beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtCorrection2, eps, negativeStepSize;
};

// n elements of one parameter: p, m, v in T, the gradient g in G (T, or uint16_t for bf16),
// and w, where not null, the bf16 working copy rewritten from the updated p.
template <typename T, typename G>
using AdamRows = void (*)(T* p, const G* g, T* m, T* v, uint16_t* w, int64_t n, const AdamCoefficients<T>& c);
struct AdamRowKernels {
  AdamRows<float, float> f32;
  AdamRows<double, double> f64;
  AdamRows<float, uint16_t> bf16Gradients;
};

AdamRowKernels adamRowKernels(CpuVectorSet set);

}  // namespace intra::kernels::optim
