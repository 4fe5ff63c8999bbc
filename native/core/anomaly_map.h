// The anomaly maps' diff (before the training mean), method rules built from the filter kernels:
// the paper's (eqs. 6-7) and the thesis's (eqs. 4.12-4.13). The paper's map is (diff - mean diff)^2;
// MapConfig (config.h) adds an intensity term beside the structure (GMS) term, a standardised
// deviation over the training images' per-pixel spread, and a top-k image score.
#pragma once
#include <ATen/ATen.h>

#include "../kernels/dispatch.h"
#include "config.h"

namespace intra {

// The paper's map (§4.2): "Given an image size of 512x512, a kernel size of 21 (resp. 11) is
// used for averaging and Gaussian blur (with sigma = 2)" at scales 1/2 (resp. 1/4).
constexpr int64_t kPaperMapScales[] = {2, 4};  // downscaling factors
constexpr int64_t kPaperKernelsAt512[] = {21, 11};
constexpr double kPaperBlurSigma = 2.0;
// The thesis's map (eqs. 4.12-4.13): MSGMS over scales 1, 1/2, 1/4, then "a mean filter of (21 x 21)".
constexpr int64_t kThesisMapScales[] = {1, 2, 4};
constexpr int64_t kThesisMeanFilter = 21;

// The smoothing kernel's size at an image side: `kernelAt512` at 512 pixels, scaled
// linearly, rounded to the nearest odd size, at least 3.
int64_t smoothingKernel(int64_t kernelAt512, int64_t imageSide);

// What a diff compares: structure, 1 - GMS (the paper's), or intensity, |x - x^| (averaged over
// channels), which sees a smooth brightness change that has no gradient to compare.
enum class MapTerm { Structure, Intensity };
constexpr int kMapTerms = 2;

// The spread of a term's normal diffs is floored at this share of its mean over the image (and
// at kSpreadFloorMinimum), so that a region that never varied does not turn any deviation into
// an enormous z: the standardised map only ever lowers the weight of regions that vary more
// than is usual for the image.
constexpr double kSpreadFloorShare = 1.0;
constexpr double kSpreadFloorMinimum = 1e-6;

// The diff map before the training mean: for scales 1/2 and 1/4, 1 - GMS of the downscaled
// images, mean filter then Gaussian blur (sigma 2), resized back, averaged over scales.
// Kernels are 21 and 11 at 512 pixels (at sqrt(H*W) for an image that is not square: one
// isotropic size, as its pixels are square). (B, C, H, W) images -> (B, 1, H, W).
// The intensity term (MapTerm::Intensity) replaces 1 - GMS with |x - x^| at each scale.
at::Tensor multiScaleGmsDiff(const at::Tensor& image, const at::Tensor& reconstruction,
                             kernels::Implementation impl, MapTerm term = MapTerm::Structure);

// The thesis's diff: MSGMS = the mean over scales 1, 1/2 and 1/4 (average pooling) of the GMS
// map, each resized back (bilinear), eq. 4.12; diff = 1 - MSGMS * mean, a 21x21 mean filter at
// every image size (replicated borders), eq. 4.13. (B, C, H, W) images -> (B, 1, H, W).
// The intensity term: the 21x21 mean filter of the mean over scales of |x - x^|.
at::Tensor thesisMsgmsDiff(const at::Tensor& image, const at::Tensor& reconstruction,
                           kernels::Implementation impl, MapTerm term = MapTerm::Structure);

// The diff of the model's map kind for one term.
at::Tensor anomalyDiff(AnomalyMapKind kind, const at::Tensor& image, const at::Tensor& reconstruction,
                       kernels::Implementation impl, MapTerm term = MapTerm::Structure);

// One term's anomaly map from its diffs (n, H, W) and the training images' per-pixel mean and
// spread (H, W): (diff - mean)^2 (eq. 7), or under MapNormalisation::Z ((diff - mean) / s)^2
// with s the spread floored (kSpreadFloorShare). The squares keep eq. 7's form, so a term's
// standardised map is its paper map divided by s^2.
at::Tensor termAnomaly(const at::Tensor& diff, const at::Tensor& mean, const at::Tensor& spread, MapNormalisation normalise);

// Image scores (n) of maps (n, H, W): the maximum, or the mean of the largest
// ceil(topkArea * H * W) values (at least one).
at::Tensor imageScores(const at::Tensor& maps, const MapConfig& config);

}  // namespace intra
