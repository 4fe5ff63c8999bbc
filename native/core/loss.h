// The inpainting loss on covered patches (paper eq. 4; thesis eq. 4.8), a method rule built
// from the filter kernels: L2 + alpha * mean(1 - GMS) + beta * mean(1 - SSIM).
#pragma once
#include <ATen/ATen.h>

#include "../kernels/dispatch.h"
#include "config.h"

namespace intra {

struct PatchLoss {
  at::Tensor total, l2, gms, ssim;  // scalars, differentiable in `predicted`
};

// predicted and target: (B, C, K, K) floats in [0, 1]. The GMS term is the paper's on the
// patch (gmsScales 1) or the thesis's MSGMS over gmsScales scales (config.h says which).
PatchLoss patchLoss(const TrainConfig& train, const at::Tensor& predicted, const at::Tensor& target,
                    kernels::Implementation filters);

}  // namespace intra
