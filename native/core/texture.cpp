#include "texture.h"

#include <algorithm>
#include <tuple>

#include "anomaly_map.h"

namespace intra {

namespace {

// Mean over an S x S box around each pixel, the image's edges replicated (every output pixel
// averages S*S values, so the edge does not read as a change of texture). Through summed areas
// in double: a box of 65 x 65 costs what one of 3 x 3 does.
torch::Tensor boxMean(const torch::Tensor& x, int64_t size) {
  const int64_t pad = size / 2, height = x.size(2), width = x.size(3);
  torch::Tensor padded = at::replication_pad2d(x, {pad, pad, pad, pad});
  // A leading zero row and column, so that every box is a difference of four sums.
  torch::Tensor sums = at::constant_pad_nd(padded.cumsum(2).cumsum(3), {1, 0, 1, 0}, 0.0);
  auto at = [&](int64_t dy, int64_t dx) { return sums.narrow(2, dy, height).narrow(3, dx, width); };
  return (at(size, size) - at(0, size) - at(size, 0) + at(0, 0)) / static_cast<double>(size * size);
}

}  // namespace

torch::Tensor textureDescriptors(const torch::Tensor& image, const std::vector<int64_t>& scales, int64_t outHeight, int64_t outWidth) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == torch::kByte, "textureDescriptors expects (H, W, C) uint8");
  TORCH_CHECK(outHeight > 0 && outWidth > 0 && !scales.empty(), "textureDescriptors expects an output size and scales");
  const int64_t height = image.size(0), width = image.size(1);
  // Grey, divided by its median: descriptors of the surface, not of the exposure.
  torch::Tensor grey = image.to(torch::kDouble).mean(2).div(255.0);
  const double median = grey.flatten().median().item<double>();
  grey = (grey / (median + 1.0 / 255.0)).view({1, 1, height, width});
  // Neighbour differences, zero on the first column / row (no neighbour there).
  torch::Tensor dx = torch::zeros_like(grey), dy = torch::zeros_like(grey);
  if (width > 1) dx.narrow(3, 1, width - 1).copy_(grey.narrow(3, 1, width - 1) - grey.narrow(3, 0, width - 1));
  if (height > 1) dy.narrow(2, 1, height - 1).copy_(grey.narrow(2, 1, height - 1) - grey.narrow(2, 0, height - 1));
  const torch::Tensor ax = dx.abs(), ay = dy.abs(), xx = dx * dx, yy = dy * dy, xy = dx * dy;
  constexpr double kLogFloor = 1e-3, kTensorFloor = 1e-6;
  std::vector<torch::Tensor> descriptors;
  for (int64_t scale : scales) {
    TORCH_CHECK(scale >= 1, "texture scales are positive");
    // An odd box no larger than the image's smaller side.
    int64_t size = std::min(scale, std::min(height, width));
    if (size % 2 == 0) --size;
    const torch::Tensor lx = (boxMean(ax, size) + kLogFloor).log(), ly = (boxMean(ay, size) + kLogFloor).log();
    const torch::Tensor jxx = boxMean(xx, size), jyy = boxMean(yy, size), jxy = boxMean(xy, size);
    const torch::Tensor trace = jxx + jyy + kTensorFloor;
    const torch::Tensor anisotropy = lx - ly, energy = (lx + ly) / 2;
    descriptors.push_back(anisotropy);
    descriptors.push_back(energy);
    descriptors.push_back((jxx - jyy) / trace);
    descriptors.push_back(2 * jxy / trace);
    // The same two against the image itself: minus their median along the pixel's column, and
    // along its row. A whole image finished a little rougher or smoother moves the absolute
    // descriptors (the training images differ so, and the Gaussian must let them), but not these;
    // a band finished unlike the rest of its own part moves them.
    for (const torch::Tensor& descriptor : {anisotropy, energy}) {
      descriptors.push_back(descriptor - std::get<0>(descriptor.median(2, /*keepdim=*/true)));
      descriptors.push_back(descriptor - std::get<0>(descriptor.median(3, /*keepdim=*/true)));
    }
  }
  torch::Tensor all = torch::cat(descriptors, 1).to(torch::kFloat);
  return at::upsample_bilinear2d(all, {outHeight, outWidth}, /*align_corners=*/false).squeeze(0).contiguous();
}

void TextureSums::add(const torch::Tensor& descriptors) {
  const torch::Tensor x = descriptors.to(torch::kDouble);
  const torch::Tensor batchSum = x.sum(0), batchOuter = at::einsum("ndhw,nehw->hwde", {x, x});
  sum = sum.defined() ? sum + batchSum : batchSum;
  outer = outer.defined() ? outer + batchOuter : batchOuter;
  count += descriptors.size(0);
}

double textureSampleCorrection(int64_t count, int64_t descriptors) {
  const double n = static_cast<double>(count), d = static_cast<double>(descriptors);
  return n * std::max(n - d - 2, 1.0) / ((n + 1) * (n - 1));
}

std::pair<torch::Tensor, torch::Tensor> textureGaussian(const TextureSums& sums) {
  TORCH_CHECK(sums.count >= 2, "texture statistics need at least two training images");
  const double n = static_cast<double>(sums.count);
  const torch::Tensor mean = sums.sum / n;                      // (D, H, W)
  const torch::Tensor centre = mean.permute({1, 2, 0});        // (H, W, D)
  torch::Tensor covariance = (sums.outer - n * centre.unsqueeze(3) * centre.unsqueeze(2)) / (n - 1);
  const int64_t d = covariance.size(3);
  // Shrunk toward its diagonal by D / (n + D): a few dozen images estimate D variances well and
  // D (D - 1) / 2 correlations poorly, and an unseen image's distance to a covariance fitted on
  // too few grows with the noise in the smallest eigenvalues.
  const double shrinkage = static_cast<double>(d) / (n + static_cast<double>(d));
  covariance = (1 - shrinkage) * covariance + shrinkage * torch::diag_embed(covariance.diagonal(0, 2, 3));
  const double meanVariance = covariance.diagonal(0, 2, 3).mean().item<double>();
  const double ridge = std::max(kTextureRidgeShare * meanVariance, kSpreadFloorMinimum);
  covariance = covariance + ridge * torch::eye(d, covariance.options());
  torch::Tensor precision = at::linalg_inv(covariance) * textureSampleCorrection(sums.count, d);
  precision = (precision + precision.transpose(2, 3)) / 2;
  return {mean.to(torch::kFloat).contiguous(), precision.to(torch::kFloat).contiguous()};
}

torch::Tensor packSymmetric(const torch::Tensor& matrices) {
  const torch::Tensor upper = torch::triu_indices(matrices.size(-1), matrices.size(-1)).to(matrices.device());
  return matrices.index({torch::indexing::Ellipsis, upper[0], upper[1]}).contiguous();
}

torch::Tensor unpackSymmetric(const torch::Tensor& triangles, int64_t size) {
  TORCH_CHECK(triangles.size(-1) == size * (size + 1) / 2, "expected ", size * (size + 1) / 2, " values per triangle");
  const torch::Tensor upper = torch::triu_indices(size, size).to(triangles.device());
  std::vector<int64_t> shape(triangles.sizes().begin(), triangles.sizes().end() - 1);
  shape.push_back(size);
  shape.push_back(size);
  torch::Tensor matrices = torch::zeros(shape, triangles.options());
  matrices.index_put_({torch::indexing::Ellipsis, upper[0], upper[1]}, triangles);
  matrices.index_put_({torch::indexing::Ellipsis, upper[1], upper[0]}, triangles);
  return matrices;
}

torch::Tensor textureAnomaly(const torch::Tensor& descriptors, const torch::Tensor& mean, const torch::Tensor& precision) {
  const torch::Tensor deviation = (descriptors - mean).permute({0, 2, 3, 1});  // (n, H, W, D)
  return at::einsum("nhwd,hwde,nhwe->nhw", {deviation, precision, deviation});
}

}  // namespace intra
