// The CUDA Adam kernel as device-generic source (compiled by nvcc in fused_cuda.cu, without
// fused multiply-adds, and by the CPU emulation in fused_cuda_emulated.cpp): every parameter
// in one launch, a block per slice, each element read once (p, g, m, v) and written once (p,
// m, v, and the bf16 working copy where there is one), in the reference's arithmetic and order
// (adam_rows.cpp is the CPU twin). Replaces libtorch's step: eight launches per parameter.
#pragma once
#include "../dispatch_types.h"
#include "fused_cuda.h"

namespace intra::kernels::device::INTRA_DEVICE_BUILD::optim {

constexpr unsigned kThreads = 256;

template <typename T, typename G>
INTRA_KERNEL void INTRA_LAUNCH_BOUNDS(kThreads) adamKernel(const AdamSlice* slices) {
  const AdamSlice s = slices[blockIdx.x];
  T* p = static_cast<T*>(s.param);
  const G* g = static_cast<const G*>(s.grad);
  T* m = static_cast<T*>(s.expAvg);
  T* v = static_cast<T*>(s.expAvgSq);
  Bf16* w = static_cast<Bf16*>(s.working);
  const T beta1 = T(s.beta1), oneMinusBeta1 = T(s.oneMinusBeta1), beta2 = T(s.beta2), oneMinusBeta2 = T(s.oneMinusBeta2);
  const T sqrtCorrection2 = T(s.sqrtCorrection2), eps = T(s.eps), negativeStepSize = T(s.negativeStepSize);
  for (int64_t i = threadIdx.x; i < s.size; i += blockDim.x) {
    const T grad = widen<T>(g[i]);
    const T mi = m[i] * beta1 + oneMinusBeta1 * grad;
    const T vi = v[i] * beta2 + oneMinusBeta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    const T denom = sqrtOf(vi) / sqrtCorrection2 + eps;
    const T updated = p[i] + negativeStepSize * (mi / denom);
    p[i] = updated;
    if (w != nullptr) w[i] = narrow<Bf16>(updated);
  }
}

inline void adam(ElementType param, ElementType grad, const AdamSlice* slices, int64_t count, void* stream) {
  if (count == 0) return;
  if (count > 0x7fffffff) throw invalidArgument("the CUDA Adam takes at most 2^31 - 1 slices in one launch");
  const dim3 grid(static_cast<unsigned>(count));
  if (param == ElementType::F64 && grad == ElementType::F64) {
    INTRA_LAUNCH((adamKernel<double, double>), grid, dim3(kThreads), 0, stream, slices);
  } else if (param == ElementType::F32 && grad == ElementType::F32) {
    INTRA_LAUNCH((adamKernel<float, float>), grid, dim3(kThreads), 0, stream, slices);
  } else if (param == ElementType::F32 && grad == ElementType::BF16) {
    INTRA_LAUNCH((adamKernel<float, Bf16>), grid, dim3(kThreads), 0, stream, slices);
  } else {
    throw invalidArgument("the CUDA Adam updates float or double parameters with gradients of their type (or bf16 for float)");
  }
}

inline OptimizerLaunchers launchers() { return {adam}; }

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD::optim
