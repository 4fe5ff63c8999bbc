// Image filters of the loss and the anomaly map, on float images (B, C, H, W) in [0, 1]:
// the ATen references and each device's fused kernels, chosen at one dispatch point (the
// table of FilterFunctions keyed by device and implementation, in dispatch.cpp).
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "../dispatch.h"
#include "constants.h"

namespace intra::kernels {

// Dispatch. The GMS and SSIM maps have their own backward (autograd Functions); the
// smoothing filters are forward only (the anomaly map needs no gradient).
at::Tensor gmsMap(const at::Tensor& a, const at::Tensor& b, Implementation impl);
at::Tensor ssimMap(const at::Tensor& a, const at::Tensor& b, Implementation impl);
at::Tensor meanFilter(const at::Tensor& image, int64_t kernel, Implementation impl);
at::Tensor gaussianBlur(const at::Tensor& image, int64_t kernel, double sigma, Implementation impl);

// References. Prewitt gradient magnitude (kernels with 1/3 entries), replicated borders: (B, C, H, W).
at::Tensor gradientMagnitude(const at::Tensor& image);
// GMS map averaged over channels: (B, 1, H, W).
at::Tensor gmsMapReference(const at::Tensor& a, const at::Tensor& b);
// SSIM map averaged over channels: (B, 1, H, W).
at::Tensor ssimMapReference(const at::Tensor& a, const at::Tensor& b);
// Separable filter with odd taps (a double tensor), replicated borders, same size out.
at::Tensor separableFilterReference(const at::Tensor& image, const at::Tensor& taps);
at::Tensor gaussianTaps(int64_t kernel, double sigma);  // double, normalised
at::Tensor meanTaps(int64_t kernel);                     // double, 1/kernel each

// One device's fused filters. Inputs as `prepare` made them; results contiguous, possibly
// in a wider type than the inputs (the caller casts).
struct FilterFunctions {
  at::Tensor (*prepare)(const at::Tensor& t);
  at::Tensor (*gmsForward)(const at::Tensor& a, const at::Tensor& b);  // -> (B, 1, H, W)
  std::vector<at::Tensor> (*gmsBackward)(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout);
  at::Tensor (*ssimForward)(const at::Tensor& a, const at::Tensor& b);  // -> (B, 1, H, W)
  std::vector<at::Tensor> (*ssimBackward)(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout);
  at::Tensor (*separable)(const at::Tensor& image, const at::Tensor& taps);  // taps: double (k)
};

const FilterFunctions& cpuFusedFilters();           // fused_cpu.cpp
const FilterFunctions& emulatedCudaFusedFilters();  // fused_cuda_emulated.cpp
#ifdef INTRA_CUDA_KERNELS
const FilterFunctions& cudaFusedFilters();          // fused_cuda_adapter.cpp
#endif
const FilterFunctions* fusedFilters(Device device, Implementation implementation);
// Puts `functions` in the table's slot and returns the previous entry: the checks' deliberately
// wrong kernels only (harness.cpp), never while an engine of this process runs.
const FilterFunctions* exchangeFusedFilters(Device device, Implementation implementation, const FilterFunctions* functions);

}  // namespace intra::kernels
