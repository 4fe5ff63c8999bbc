// The CUDA Adam kernel's launch interface: raw pointers, no CUDA types and no ATen
// (fused_cuda_adapter.h turns parameters into these calls). Every parameter is cut into
// slices of at most kAdamSliceElements; one launch updates every slice of every parameter.
#pragma once
#include <cstdint>

#include "../element_type.h"

namespace intra::kernels {

constexpr int64_t kAdamSliceElements = 1 << 14;

// A piece of one parameter: its value, gradient and moments (and bf16 working copy, or null)
// from the same element on, and that parameter's step coefficients (libtorch's, in double;
// the kernel computes in the parameter's type as the CPU kernel does).
struct AdamSlice {
  void* param;
  const void* grad;
  void* expAvg;
  void* expAvgSq;
  void* working;
  int64_t size;
  double beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtCorrection2, eps, negativeStepSize;
};

struct OptimizerLaunchers {
  // `slices`: `count` slices in memory the kernel reads (device memory on a GPU); parameters in
  // `param` (F32 or F64), gradients in `grad` (the parameters' type, or BF16 for F32).
  void (*adam)(ElementType param, ElementType grad, const AdamSlice* slices, int64_t count, void* stream);
};

const OptimizerLaunchers& cudaOptimizerLaunchers();      // fused_cuda.cu
const OptimizerLaunchers& emulatedOptimizerLaunchers();  // fused_cuda_emulated.cpp

}  // namespace intra::kernels
