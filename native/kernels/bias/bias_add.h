// y = x + bias (+ residual), where x is a matrix product taken without its bias: one pass adds
// the bias and the residual stream, where linear-then-add writes the bias into the product's
// output before the product and adds the residual in a pass of its own. The backward sums
// the bias gradient in the compute type in the same pass that narrows the incoming gradient
// to the product's type (bf16 training: the fp32 residual stream's gradient to bf16), where
// autocast casts it in one pass and ATen 1.13 sums bf16 columns in a fill and a slow
// reduction of their own. The ATen reference and each device's fused kernel, at one dispatch
// point keyed by device and implementation.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "../dispatch.h"

namespace intra::kernels {

// x (..., N), bias (N), residual undefined or x's shape -> x + bias (+ residual), in x's type
// (the promoted type of x and residual where there is one). Autograd gives dx, dbias, dresidual.
at::Tensor biasAdd(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual, Implementation impl);
// Reference: residual + (x + bias in x's type), as linear's bias and a residual add compute it.
at::Tensor biasAddReference(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual);

// One device's fused bias add on (rows, N) contiguous x; bias in the compute type (float, or
// double for double x); residual undefined, or (rows, N) contiguous in x's type or the compute type.
struct BiasFunctions {
  // -> y (rows, N) in the residual's type where there is one, else x's
  at::Tensor (*forward)(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual);
  // dy (rows, N) in y's type -> {dx (rows, N) in xType (dy itself where the types agree),
  // dbias (N) in the compute type}
  std::vector<at::Tensor> (*backward)(const at::Tensor& dy, at::ScalarType xType);
};
const BiasFunctions& cpuFusedBias();  // fused_cpu.cpp
const BiasFunctions& emulatedCudaFusedBias();  // fused_cuda_emulated.cpp
#ifdef INTRA_CUDA_KERNELS
const BiasFunctions& cudaFusedBias();  // fused_cuda_adapter.cpp
#endif
// The fused bias add for (device, implementation), or null when this build has none.
const BiasFunctions* fusedBias(Device device, Implementation implementation);

}  // namespace intra::kernels
