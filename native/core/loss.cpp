#include "loss.h"

#include "../common/profile.h"
#include "../kernels/filters/filters.h"

namespace intra {

PatchLoss patchLoss(const TrainConfig& train, const at::Tensor& predicted, const at::Tensor& target,
                    kernels::Implementation filters) {
  const at::Tensor& a = predicted;
  const at::Tensor& b = target;
  PatchLoss loss;
  {
    ProfileScope scope("loss / l2");
    loss.l2 = at::mse_loss(a, b);
  }
  {
    ProfileScope scope("loss / gms");
    loss.gms = (1 - kernels::gmsMap(a, b, filters)).mean();
    if (train.gmsScales > 1) {
      // The thesis's MSGMS loss, RIAD's (config.h says why not eq. 4.7's 1/l): scale l is the
      // patch average-pooled by 2^(l-1), each scale's mean(1 - GMS), scales weighted equally.
      at::Tensor pa = a, pb = b;
      for (int64_t l = 2; l <= train.gmsScales; ++l) {
        pa = at::avg_pool2d(pa, 2);
        pb = at::avg_pool2d(pb, 2);
        loss.gms = loss.gms + (1 - kernels::gmsMap(pa, pb, filters)).mean();
      }
      loss.gms = loss.gms / static_cast<double>(train.gmsScales);
    }
  }
  {
    ProfileScope scope("loss / ssim");
    loss.ssim = (1 - kernels::ssimMap(a, b, filters)).mean();
  }
  loss.total = loss.l2 + train.alpha * loss.gms + train.beta * loss.ssim;
  return loss;
}

}  // namespace intra
