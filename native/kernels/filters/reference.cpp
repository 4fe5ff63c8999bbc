#include <cmath>
#include <vector>

#include "filters.h"

namespace intra::kernels {

namespace {

// Depthwise 2-D correlation with a (kh, kw) kernel, replicated borders, same size out.
at::Tensor depthwise(const at::Tensor& image, const at::Tensor& kernel2d) {
  const int64_t channels = image.size(1);
  const int64_t kh = kernel2d.size(0), kw = kernel2d.size(1);
  at::Tensor padded = at::replication_pad2d(image, {kw / 2, kw / 2, kh / 2, kh / 2});
  at::Tensor weight = kernel2d.to(image.options()).expand({channels, 1, kh, kw}).contiguous();
  return at::conv2d(padded, weight, c10::nullopt, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, channels);
}

at::Tensor separable(const at::Tensor& image, const at::Tensor& taps) {
  const int64_t k = taps.size(0);
  at::Tensor out = depthwise(image, taps.view({1, k}));
  return depthwise(out, taps.view({k, 1}));
}

}  // namespace

at::Tensor gaussianTaps(int64_t kernel, double sigma) {
  std::vector<double> taps(kernel);
  double sum = 0;
  for (int64_t i = 0; i < kernel; ++i) {
    double x = static_cast<double>(i - kernel / 2);
    taps[i] = std::exp(-x * x / (2 * sigma * sigma));
    sum += taps[i];
  }
  for (double& t : taps) t /= sum;
  return at::tensor(taps, at::kDouble);
}

at::Tensor gradientMagnitude(const at::Tensor& image) {
  const double third = 1.0 / 3.0;
  at::Tensor hx = at::tensor({third, 0.0, -third, third, 0.0, -third, third, 0.0, -third}, at::kDouble).view({3, 3});
  at::Tensor hy = hx.t().contiguous();
  at::Tensor gx = depthwise(image, hx);
  at::Tensor gy = depthwise(image, hy);
  // The epsilon keeps sqrt differentiable where the image is flat.
  return at::sqrt(gx * gx + gy * gy + 1e-12);
}

at::Tensor gmsMap(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ma = gradientMagnitude(a), mb = gradientMagnitude(b);
  at::Tensor gms = (2 * ma * mb + kGmsConstant) / (ma * ma + mb * mb + kGmsConstant);
  return gms.mean(1, /*keepdim=*/true);
}

at::Tensor ssimMap(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor taps = gaussianTaps(kSsimWindow, kSsimSigma);
  at::Tensor muA = separable(a, taps), muB = separable(b, taps);
  at::Tensor varA = separable(a * a, taps) - muA * muA;
  at::Tensor varB = separable(b * b, taps) - muB * muB;
  at::Tensor cov = separable(a * b, taps) - muA * muB;
  at::Tensor ssim = ((2 * muA * muB + kSsimC1) * (2 * cov + kSsimC2)) /
                    ((muA * muA + muB * muB + kSsimC1) * (varA + varB + kSsimC2));
  return ssim.mean(1, /*keepdim=*/true);
}

at::Tensor meanFilter(const at::Tensor& image, int64_t kernel) {
  return separable(image, at::full({kernel}, 1.0 / static_cast<double>(kernel), at::kDouble));
}

at::Tensor gaussianBlur(const at::Tensor& image, int64_t kernel, double sigma) {
  return separable(image, gaussianTaps(kernel, sigma));
}

int64_t smoothingKernel(int64_t kernelAt512, int64_t imageSide) {
  // Linear in the image side, rounded to the nearest odd size, at least 3.
  double scaled = static_cast<double>(kernelAt512) * static_cast<double>(imageSide) / 512.0;
  int64_t odd = 2 * static_cast<int64_t>(std::lround((scaled - 1.0) / 2.0)) + 1;
  return odd < 3 ? 3 : odd;
}

at::Tensor multiScaleGmsDiff(const at::Tensor& image, const at::Tensor& reconstruction, Impl impl) {
  const int64_t height = image.size(2), width = image.size(3);
  const int64_t factors[] = {2, 4};
  const int64_t kernelsAt512[] = {21, 11};
  at::Tensor total;
  for (int i = 0; i < 2; ++i) {
    // Downscaling by an integer factor with area averaging (what a resize to 1/f does).
    at::Tensor a = at::avg_pool2d(image, factors[i]);
    at::Tensor b = at::avg_pool2d(reconstruction, factors[i]);
    const int64_t kernel = smoothingKernel(kernelsAt512[i], height);
    at::Tensor m = 1 - gmsMap(a, b, impl);
    m = gaussianBlur(meanFilter(m, kernel, impl), kernel, 2.0, impl);
    m = at::upsample_bilinear2d(m, {height, width}, /*align_corners=*/false);
    total = i == 0 ? m : total + m;
  }
  return total / 2;
}

}  // namespace intra::kernels
