#include "anomaly_map.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "../kernels/filters/filters.h"

namespace intra {

int64_t smoothingKernel(int64_t kernelAt512, int64_t imageSide) {
  double scaled = static_cast<double>(kernelAt512) * static_cast<double>(imageSide) / 512.0;
  int64_t odd = 2 * static_cast<int64_t>(std::lround((scaled - 1.0) / 2.0)) + 1;
  return odd < 3 ? 3 : odd;
}

namespace {

// A term's per-pixel difference of two images at one scale, (B, C, h, w) -> (B, 1, h, w).
at::Tensor termDifference(MapTerm term, const at::Tensor& a, const at::Tensor& b, kernels::Implementation impl) {
  if (term == MapTerm::Intensity) return (a - b).abs().mean(1, /*keepdim=*/true);
  return 1 - kernels::gmsMap(a, b, impl);
}

}  // namespace

at::Tensor multiScaleGmsDiff(const at::Tensor& image, const at::Tensor& reconstruction,
                             kernels::Implementation impl, MapTerm term) {
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
    at::Tensor m = termDifference(term, a, b, impl);
    m = kernels::gaussianBlur(kernels::meanFilter(m, kernel, impl), kernel, kPaperBlurSigma, impl);
    m = at::upsample_bilinear2d(m, {height, width}, /*align_corners=*/false);
    total = i == 0 ? m : total + m;
  }
  return total / 2;
}

at::Tensor thesisMsgmsDiff(const at::Tensor& image, const at::Tensor& reconstruction,
                           kernels::Implementation impl, MapTerm term) {
  const int64_t height = image.size(2), width = image.size(3);
  // Structure: the scales' GMS maps (1 - is taken after the filter, as eq. 4.13 writes it).
  auto atScale = [&](const at::Tensor& a, const at::Tensor& b) {
    return term == MapTerm::Intensity ? termDifference(term, a, b, impl) : kernels::gmsMap(a, b, impl);
  };
  at::Tensor msgms;
  for (int64_t factor : kThesisMapScales) {
    at::Tensor m = factor == 1 ? atScale(image, reconstruction)
                               : at::upsample_bilinear2d(atScale(at::avg_pool2d(image, factor), at::avg_pool2d(reconstruction, factor)),
                                                         {height, width}, /*align_corners=*/false);
    msgms = msgms.defined() ? msgms + m : m;
  }
  at::Tensor filtered = kernels::meanFilter(msgms / static_cast<double>(std::size(kThesisMapScales)), kThesisMeanFilter, impl);
  return term == MapTerm::Intensity ? filtered : 1 - filtered;
}

at::Tensor anomalyDiff(AnomalyMapKind kind, const at::Tensor& image, const at::Tensor& reconstruction,
                       kernels::Implementation impl, MapTerm term) {
  return kind == AnomalyMapKind::Thesis ? thesisMsgmsDiff(image, reconstruction, impl, term)
                                        : multiScaleGmsDiff(image, reconstruction, impl, term);
}

at::Tensor termAnomaly(const at::Tensor& diff, const at::Tensor& mean, const at::Tensor& spread, MapNormalisation normalise) {
  at::Tensor deviation = diff - mean;
  if (normalise == MapNormalisation::Mean) return deviation.pow(2);
  const double floor = std::max(kSpreadFloorShare * spread.mean().item<double>(), kSpreadFloorMinimum);
  return (deviation / spread.clamp_min(floor)).pow(2);
}

at::Tensor imageScores(const at::Tensor& maps, const MapConfig& config) {
  at::Tensor flat = maps.flatten(1);
  if (config.imageScore == ImageScoreRule::Max) return std::get<0>(flat.max(1));
  const int64_t pixels = flat.size(1);
  const int64_t k = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(config.topkArea * static_cast<double>(pixels) - 1e-9)), 1, pixels);
  return std::get<0>(flat.topk(k, 1)).mean(1);
}

}  // namespace intra
