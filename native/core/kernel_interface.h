// What the addon binds of the kernels layer, reached through core: the checks and benches of
// every kernel (kernels/checks/harness.h), the kernel registry, and the method's constants as
// the engine uses them.
#pragma once
#include <vector>

#include "../kernels/checks/harness.h"
#include "../kernels/dispatch.h"
#include "../kernels/registry.h"

namespace intra {

// The constants a kernel shares with its reference, and the anomaly maps' and Adam's, for a
// check against their published values (a wrong one would agree with itself in every kernel
// check).
struct MethodConstants {
  double gmsConstant, ssimC1, ssimC2, ssimSigma, paperBlurSigma;
  int64_t ssimWindow, thesisMeanFilter;
  std::vector<int64_t> paperMapScales, paperKernelsAt512, thesisMapScales;
  double adamBeta1, adamBeta2, adamEps, adamWeightDecay;
};
MethodConstants methodConstants();  // method_constants.cpp

}  // namespace intra
