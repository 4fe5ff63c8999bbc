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
// dx, dy are differences of neighbouring pixels (no smoothing: the finest streaks are the point).
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace intra {

constexpr int64_t kTextureDescriptorsPerScale = 4;
// In pixels of the original image: a few streaks, a region, a band of the part.
inline const std::vector<int64_t> kTextureScales{9, 33, 65};
inline const int64_t kTextureDescriptors = kTextureDescriptorsPerScale * static_cast<int64_t>(kTextureScales.size());

// image: (H, W, C) uint8 at its own size. Returns (scales.size() * 4, outHeight, outWidth)
// float: the descriptors, each scale's box clipped to the image's smaller side, resized
// bilinearly to the output size.
torch::Tensor textureDescriptors(const torch::Tensor& image, const std::vector<int64_t>& scales, int64_t outHeight, int64_t outWidth);

// The texture term's map of images' descriptors (n, D, H, W) against the training images'
// per-pixel mean and spread (D, H, W): the sum over descriptors of ((d - mean) / s)^2, s each
// descriptor's spread floored at its mean over the image (as the map terms' z floors theirs).
// (n, H, W).
torch::Tensor textureAnomaly(const torch::Tensor& descriptors, const torch::Tensor& mean, const torch::Tensor& spread);

}  // namespace intra
