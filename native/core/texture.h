#pragma once
// Local texture descriptors of an image at its own resolution: what a region's grinding,
// weave or polish looks like, which a model that sees the image downscaled cannot. The
// anomaly map's terms compare x with its reconstruction at the model's size; fine streaks a
// few pixels wide are gone there, and a region finished differently (a band ground across
// instead of along) reconstructs as well as the rest. These descriptors are measured before the
// downscale and brought to the model's size afterwards.
//
// Per scale S (a box of S x S pixels of the original image), on the grey image divided by its
// median (so that a brighter or darker exposure of the same surface describes the same):
//   anisotropy  log mean|dx| - log mean|dy|     (streaks along y vs along x)
//   energy      (log mean|dx| + log mean|dy|) / 2
//   orientation (Jxx - Jyy) / (Jxx + Jyy), 2 Jxy / (Jxx + Jyy) with J the box-averaged
//               structure tensor of the same differences (its dominant direction, doubled angle)
//   relative    anisotropy minus its median along the pixel's column, and along its row; the
//               same for energy (libtorch's median: the lower middle value). A region against the
//               rest of its own image, whatever the whole image's finish.
// Per scale, in this order: anisotropy, energy, the two orientations, anisotropy against the
// column, against the row, energy against the column, against the row.
// dx, dy are differences of neighbouring pixels (no smoothing: the finest streaks are the point).
#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace intra {

constexpr int64_t kTextureDescriptorsPerScale = 8;
// In pixels of the original image: a few streaks, a region, a band of the part.
inline const std::vector<int64_t> kTextureScales{9, 33, 65};
inline const int64_t kTextureDescriptors = kTextureDescriptorsPerScale * static_cast<int64_t>(kTextureScales.size());

// image: (H, W, C) uint8 at its own size. Returns (scales.size() * 8, outHeight, outWidth)
// float: the descriptors, each scale's box clipped to the image's smaller side, resized
// bilinearly to the output size.
torch::Tensor textureDescriptors(const torch::Tensor& image, const std::vector<int64_t>& scales, int64_t outHeight, int64_t outWidth);

// The texture term: a Gaussian per pixel over the training images' descriptors (their mean and
// full covariance, as PaDiM models CNN features per position), and an image's squared
// Mahalanobis distance to it. The covariance, not the descriptors' spreads alone: the
// descriptors are correlated (energy and anisotropy at neighbouring scales), and a sum of
// per-descriptor squares would count one change several times.
//
// The sums of the training descriptors, accumulated batch by batch in double: (D, H, W) and the
// outer products (H, W, D, D).
struct TextureSums {
  int64_t count = 0;
  torch::Tensor sum, outer;
  void add(const torch::Tensor& descriptors);  // (n, D, H, W)
};

// Ridge added to every pixel's covariance, as a share of the mean variance per descriptor over
// the image: what a region that never varied cannot go below (the map terms' spread floor).
constexpr double kTextureRidgeShare = 0.01;

// An unseen normal image lies farther from a Gaussian fitted on n images than from the true one:
// by Hotelling's T^2, (n + 1)(n - 1) / (n (n - D - 2)) times farther on average (squared). The
// precision is multiplied by the inverse, so that the term weighs the same beside the other map
// terms whether a category has 40 training images or 700 (n - D - 2 is floored at 1: with fewer
// images than descriptors the term counts for little).
double textureSampleCorrection(int64_t count, int64_t descriptors);

// From the sums (count >= 2): the per-pixel mean, float (D, H, W), and the inverse of the
// covariance, shrunk toward its diagonal by D / (count + D), plus the ridge, times the sample
// correction, float (H, W, D, D), exactly symmetric (the model file keeps one triangle).
std::pair<torch::Tensor, torch::Tensor> textureGaussian(const TextureSums& sums);

// A symmetric (..., D, D) as its upper triangle, row by row: (..., D (D + 1) / 2); and back.
torch::Tensor packSymmetric(const torch::Tensor& matrices);
torch::Tensor unpackSymmetric(const torch::Tensor& triangles, int64_t size);

// Squared Mahalanobis distance of descriptors (n, D, H, W) to the Gaussians: (n, H, W).
torch::Tensor textureAnomaly(const torch::Tensor& descriptors, const torch::Tensor& mean, const torch::Tensor& precision);

}  // namespace intra
