// Adam's update as libtorch 1.13's Adam::step computes it (no weight decay, no AMSGrad):
// six ATen ops per parameter, each a pass over memory.
#include "adam.h"

namespace intra::kernels {

void adamUpdateReference(const std::vector<AdamTensors>& tensors, const AdamHyper& h) {
  for (const AdamTensors& t : tensors) {
    const AdamCorrections correction = adamCorrections(h, t.step);
    at::Tensor expAvg = t.expAvg, expAvgSq = t.expAvgSq, param = t.param;
    const at::Tensor grad = t.grad.to(param.scalar_type());  // a bf16 working copy's, widened
    expAvg.mul_(h.beta1).add_(grad, 1 - h.beta1);
    expAvgSq.mul_(h.beta2).addcmul_(grad, grad, 1 - h.beta2);
    at::Tensor denom = (expAvgSq.sqrt() / std::sqrt(correction.second)).add_(h.eps);
    param.addcdiv_(expAvg, denom, -h.lr / correction.first);
    if (t.working.defined()) t.working.copy_(param);
  }
}

}  // namespace intra::kernels
