#include <torch/optim/adam.h>

#include <iterator>

#include "../kernels/filters/constants.h"
#include "anomaly_map.h"
#include "kernel_interface.h"

namespace intra {

MethodConstants methodConstants() {
  // The engine's Adam is libtorch's with its defaults but the learning rate (the fused update
  // takes the same options).
  const torch::optim::AdamOptions adam;
  return {kernels::kGmsConstant,
          kernels::kSsimC1,
          kernels::kSsimC2,
          kernels::kSsimSigma,
          kPaperBlurSigma,
          kernels::kSsimWindow,
          kThesisMeanFilter,
          {std::begin(kPaperMapScales), std::end(kPaperMapScales)},
          {std::begin(kPaperKernelsAt512), std::end(kPaperKernelsAt512)},
          {std::begin(kThesisMapScales), std::end(kThesisMapScales)},
          std::get<0>(adam.betas()),
          std::get<1>(adam.betas()),
          adam.eps(),
          adam.weight_decay()};
}

}  // namespace intra
