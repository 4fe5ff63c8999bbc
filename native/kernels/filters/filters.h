// Image filters of the loss and the anomaly map, on float images (B, C, H, W) in [0, 1].
// Plain ATen ops (autograd gives the backward the loss needs).
#pragma once
#include <ATen/ATen.h>

#include "../impl.h"

namespace intra::kernels {

// RIAD's stabilising constant for GMS on images in [0, 1] (Zavrtanik et al. 2021).
constexpr double kGmsConstant = 0.0026;
// SSIM's constants for a dynamic range of 1 (Wang et al. 2004: K1 = 0.01, K2 = 0.03).
constexpr double kSsimC1 = 0.01 * 0.01;
constexpr double kSsimC2 = 0.03 * 0.03;
// A 16x16 patch leaves only 6x6 valid pixels under the usual 11x11 window; a 7x7 Gaussian
// (sigma 1.5) with replicated borders keeps SSIM local and gives a full 16x16 map.
constexpr int64_t kSsimWindow = 7;
constexpr double kSsimSigma = 1.5;

// Dispatch: the reference (ATen composites) or the fused CPU kernels. The fused GMS and
// SSIM maps have their own backward (autograd Functions); the smoothing filters are
// forward only (the anomaly map needs no gradient).
at::Tensor gmsMap(const at::Tensor& a, const at::Tensor& b, Impl impl);
at::Tensor ssimMap(const at::Tensor& a, const at::Tensor& b, Impl impl);
at::Tensor meanFilter(const at::Tensor& image, int64_t kernel, Impl impl);
at::Tensor gaussianBlur(const at::Tensor& image, int64_t kernel, double sigma, Impl impl);
at::Tensor multiScaleGmsDiff(const at::Tensor& image, const at::Tensor& reconstruction, Impl impl);

at::Tensor gmsMapFusedCpu(const at::Tensor& a, const at::Tensor& b);
at::Tensor ssimMapFusedCpu(const at::Tensor& a, const at::Tensor& b);
at::Tensor separableFilterFusedCpu(const at::Tensor& image, const at::Tensor& taps);  // forward only
at::Tensor gaussianTaps(int64_t kernel, double sigma);  // double, normalised

// References. Prewitt gradient magnitude (kernels with 1/3 entries), replicated borders: (B, C, H, W).
at::Tensor gradientMagnitude(const at::Tensor& image);
// GMS map averaged over channels: (B, 1, H, W).
at::Tensor gmsMap(const at::Tensor& a, const at::Tensor& b);
// SSIM map averaged over channels: (B, 1, H, W).
at::Tensor ssimMap(const at::Tensor& a, const at::Tensor& b);
// Mean filter and Gaussian blur, odd kernel, replicated borders, separable.
at::Tensor meanFilter(const at::Tensor& image, int64_t kernel);
at::Tensor gaussianBlur(const at::Tensor& image, int64_t kernel, double sigma);

// The paper's diff map (eq. 6-7 before the training mean): for scales 1/2 and 1/4, 1 - GMS
// of the downscaled images, mean filter then Gaussian blur (sigma 2), resized back,
// averaged over scales. Kernels are 21 and 11 at 512 pixels, scaled linearly.
int64_t smoothingKernel(int64_t kernelAt512, int64_t imageSide);

}  // namespace intra::kernels
