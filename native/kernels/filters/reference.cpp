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

}  // namespace

at::Tensor separableFilterReference(const at::Tensor& image, const at::Tensor& taps) {
  const int64_t k = taps.size(0);
  at::Tensor out = depthwise(image, taps.view({1, k}));
  return depthwise(out, taps.view({k, 1}));
}

at::Tensor meanTaps(int64_t kernel) { return at::full({kernel}, 1.0 / static_cast<double>(kernel), at::kDouble); }

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
  return at::sqrt(gx * gx + gy * gy + kGradientEpsilon);
}

at::Tensor gmsMapReference(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ma = gradientMagnitude(a), mb = gradientMagnitude(b);
  at::Tensor gms = (2 * ma * mb + kGmsConstant) / (ma * ma + mb * mb + kGmsConstant);
  return gms.mean(1, /*keepdim=*/true);
}

at::Tensor ssimMapReference(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor taps = gaussianTaps(kSsimWindow, kSsimSigma);
  at::Tensor muA = separableFilterReference(a, taps), muB = separableFilterReference(b, taps);
  at::Tensor varA = separableFilterReference(a * a, taps) - muA * muA;
  at::Tensor varB = separableFilterReference(b * b, taps) - muB * muB;
  at::Tensor cov = separableFilterReference(a * b, taps) - muA * muB;
  at::Tensor ssim = ((2 * muA * muB + kSsimC1) * (2 * cov + kSsimC2)) /
                    ((muA * muA + muB * muB + kSsimC1) * (varA + varB + kSsimC2));
  return ssim.mean(1, /*keepdim=*/true);
}

}  // namespace intra::kernels
