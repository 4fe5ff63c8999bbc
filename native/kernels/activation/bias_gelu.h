// y = GELU(x + bias), GELU's exact (erf) form as torch::gelu computes it, where x is a matrix
// product taken without its bias: one pass over the product's output adds the bias and
// applies GELU (and one pass back), where linear-then-GELU writes the bias into the output
// before the product and then reads it again for GELU. The ATen reference and each device's
// fused kernel, at one dispatch point keyed by device and implementation.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "../dispatch.h"

namespace intra::kernels {

// x (..., N), bias (N) -> (..., N) in x's type. Autograd gives dx and dbias.
at::Tensor biasGelu(const at::Tensor& x, const at::Tensor& bias, Implementation impl);
// Reference: at::gelu(x + bias), the bias in x's type.
at::Tensor biasGeluReference(const at::Tensor& x, const at::Tensor& bias);

// One device's fused bias + GELU on (rows, N) contiguous x; bias in the compute type (float,
// or double for double x).
struct ActivationFunctions {
  // -> y (rows, N) in x's type
  at::Tensor (*biasGeluForward)(const at::Tensor& x, const at::Tensor& bias);
  // -> {dx (rows, N) in x's type, dbias (N) in the compute type}
  std::vector<at::Tensor> (*biasGeluBackward)(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& bias);
};
const ActivationFunctions& cpuFusedActivation();  // fused_cpu.cpp
const ActivationFunctions& emulatedCudaFusedActivation();  // fused_cuda_emulated.cpp
#ifdef INTRA_CUDA_KERNELS
const ActivationFunctions& cudaFusedActivation();  // fused_cuda_adapter.cpp
#endif
// The fused activation for (device, implementation), or null when this build has none.
const ActivationFunctions* fusedActivation(Device device, Implementation implementation);

}  // namespace intra::kernels
