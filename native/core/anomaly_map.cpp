#include "anomaly_map.h"

#include <cmath>
#include <iterator>

#include "../kernels/filters/filters.h"

namespace intra {

int64_t smoothingKernel(int64_t kernelAt512, int64_t imageSide) {
  double scaled = static_cast<double>(kernelAt512) * static_cast<double>(imageSide) / 512.0;
  int64_t odd = 2 * static_cast<int64_t>(std::lround((scaled - 1.0) / 2.0)) + 1;
  return odd < 3 ? 3 : odd;
}

at::Tensor multiScaleGmsDiff(const at::Tensor& image, const at::Tensor& reconstruction,
                             kernels::Implementation impl) {
  const int64_t height = image.size(2), width = image.size(3);
  // Pixels are square whatever the image's aspect, so the smoothing stays isotropic: its size
  // follows the image's side at the same pixel count, sqrt(H*W) (the side itself when square).
  const int64_t side = std::llround(std::sqrt(static_cast<double>(height) * static_cast<double>(width)));
  at::Tensor total;
  for (int i = 0; i < 2; ++i) {
    // Downscaling by an integer factor with area averaging (what a resize to 1/f does).
    at::Tensor a = at::avg_pool2d(image, kPaperMapScales[i]);
    at::Tensor b = at::avg_pool2d(reconstruction, kPaperMapScales[i]);
    const int64_t kernel = smoothingKernel(kPaperKernelsAt512[i], side);
    at::Tensor m = 1 - kernels::gmsMap(a, b, impl);
    m = kernels::gaussianBlur(kernels::meanFilter(m, kernel, impl), kernel, kPaperBlurSigma, impl);
    m = at::upsample_bilinear2d(m, {height, width}, /*align_corners=*/false);
    total = i == 0 ? m : total + m;
  }
  return total / 2;
}

at::Tensor thesisMsgmsDiff(const at::Tensor& image, const at::Tensor& reconstruction,
                           kernels::Implementation impl) {
  const int64_t height = image.size(2), width = image.size(3);
  at::Tensor msgms;
  for (int64_t factor : kThesisMapScales) {
    at::Tensor m = factor == 1 ? kernels::gmsMap(image, reconstruction, impl)
                               : at::upsample_bilinear2d(kernels::gmsMap(at::avg_pool2d(image, factor), at::avg_pool2d(reconstruction, factor), impl),
                                                         {height, width}, /*align_corners=*/false);
    msgms = msgms.defined() ? msgms + m : m;
  }
  return 1 - kernels::meanFilter(msgms / static_cast<double>(std::size(kThesisMapScales)), kThesisMeanFilter, impl);
}

at::Tensor anomalyDiff(AnomalyMapKind kind, const at::Tensor& image, const at::Tensor& reconstruction,
                       kernels::Implementation impl) {
  return kind == AnomalyMapKind::Thesis ? thesisMsgmsDiff(image, reconstruction, impl)
                                        : multiScaleGmsDiff(image, reconstruction, impl);
}

}  // namespace intra
