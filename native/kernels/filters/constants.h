// The filters' constants, shared by the references and the CPU and CUDA kernels (no ATen here).
#pragma once
#include <cstdint>

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
// Keeps the gradient magnitude's square root differentiable where the image is flat.
constexpr double kGradientEpsilon = 1e-12;

}  // namespace intra::kernels
