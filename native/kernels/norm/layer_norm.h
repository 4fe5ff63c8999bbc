// Layer norm over the last dimension: the ATen reference and each device's fused kernel, at
// one dispatch point keyed by device and implementation like the other families. The fused
// CPU kernel reads and writes bf16 rows itself (one pass, fp32 statistics), where the
// reference converts bf16 to fp32 and back around ATen's fp32 layer norm (ATen 1.13's own bf16
// layer norm on the CPU is several times slower still).
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <vector>

#include "../dispatch.h"

namespace intra::kernels {

// The model's epsilon (torch::nn::LayerNorm's default), what the checks use.
constexpr double kModelLayerNormEps = 1e-5;

// x (..., D); weight, bias (D) -> (..., D) in `output` (x's type when absent). Autograd gives
// dx, dweight, dbias. bf16 training asks for bf16 from float x, what the products read: the
// fused CPU kernel writes it in its one pass (and takes the bf16 gradient back), where the
// reference casts, as autocast would for each product.
at::Tensor layerNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                     Implementation impl, std::optional<at::ScalarType> output = std::nullopt);
// Reference: at::layer_norm in fp32 (fp64 for double), the result in x's type.
at::Tensor layerNormReference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps);

// One device's fused layer norm on (rows, D) contiguous x; weight and bias in the compute type
// (float, or double for double x).
struct NormFunctions {
  // -> {y (rows, D) in `output` (x's type, or bf16 for float x), mean (rows), rstd (rows) in
  // the compute type}
  std::vector<at::Tensor> (*forward)(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                                     at::ScalarType output);
  // -> {dx (rows, D) in x's type, dweight, dbias (D) in the compute type}; dy in x's type, or
  // bf16 for float x
  std::vector<at::Tensor> (*backward)(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& weight,
                                      const at::Tensor& mean, const at::Tensor& rstd);
};
const NormFunctions& cpuFusedNorm();  // fused_cpu.cpp
const NormFunctions& emulatedCudaFusedNorm();  // fused_cuda_emulated.cpp
#ifdef INTRA_CUDA_KERNELS
const NormFunctions& cudaFusedNorm();  // fused_cuda_adapter.cpp
#endif
// The fused layer norm for (device, implementation), or null when this build has none.
const NormFunctions* fusedNorm(Device device, Implementation implementation);
// Puts `functions` in the table's slot and returns the previous entry: the checks' deliberately
// wrong kernels only (harness.cpp), never while an engine of this process runs.
const NormFunctions* exchangeFusedNorm(Device device, Implementation implementation, const NormFunctions* functions);

}  // namespace intra::kernels
