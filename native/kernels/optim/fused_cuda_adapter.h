// Parameters in, one raw CUDA-kernel call out, for Adam: shared by the real CUDA table entry
// (fused_cuda_adapter.cpp) and the emulated one (fused_cuda_emulated.cpp). Checks every
// tensor's device, type, size and layout before anything is launched, cuts the parameters
// into slices and hands the kernel their table (on the device, for a GPU).
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../common/errors.h"
#include "../cuda_contexts.h"
#include "adam.h"
#include "fused_cuda.h"

namespace intra::kernels::cuda_adapter {

// The Adam kernel's launchers where `Context` runs them.
template <typename Context>
const OptimizerLaunchers& optimizerLaunchersFor();
template <>
inline const OptimizerLaunchers& optimizerLaunchersFor<EmulatedCudaContext>() { return emulatedOptimizerLaunchers(); }
#ifdef INTRA_CUDA_KERNELS
template <>
inline const OptimizerLaunchers& optimizerLaunchersFor<CudaContext>() { return cudaOptimizerLaunchers(); }
#endif

template <typename Context>
struct OptimizerAdapter {
  // The slices of the parameters whose gradients are of `gradType`, each parameter cut every kAdamSliceElements.
  static std::vector<AdamSlice> slicesOf(const std::vector<AdamTensors>& tensors, at::ScalarType gradType, const AdamHyper& hyper) {
    std::vector<AdamSlice> slices;
    for (const AdamTensors& t : tensors) {
      if (t.grad.scalar_type() != gradType) continue;
      const AdamCorrections correction = adamCorrections(hyper, t.step);
      for (int64_t begin = 0; begin < t.param.numel(); begin += kAdamSliceElements) {
        auto from = [&](const at::Tensor& x) { return static_cast<char*>(x.data_ptr()) + begin * x.element_size(); };
        slices.push_back({from(t.param), from(t.grad), from(t.expAvg), from(t.expAvgSq), t.working.defined() ? from(t.working) : nullptr,
                          std::min(kAdamSliceElements, t.param.numel() - begin), hyper.beta1, 1 - hyper.beta1, hyper.beta2,
                          1 - hyper.beta2, std::sqrt(correction.second), hyper.eps, -hyper.lr / correction.first});
      }
    }
    return slices;
  }

  // One launch per gradient type (bf16 training: the linear layers' bf16 gradients, the others' float ones).
  static void adam(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper) {
    if (tensors.empty()) return;
    checkFusedAdamTensors(tensors, Context::accepts, Context::kDeviceName);
    const at::Tensor& like = tensors[0].param;
    [[maybe_unused]] auto guard = Context::guard(like);
    for (const at::ScalarType gradType : {like.scalar_type(), at::kBFloat16}) {
      const std::vector<AdamSlice> slices = slicesOf(tensors, gradType, hyper);
      if (slices.empty()) continue;
      const at::Tensor bytes = at::from_blob(const_cast<AdamSlice*>(slices.data()), {static_cast<int64_t>(slices.size() * sizeof(AdamSlice))},
                                             at::TensorOptions().dtype(at::kByte));
      const at::Tensor table = Context::upload(bytes, like);
      optimizerLaunchersFor<Context>().adam(elementTypeOf(like), gradType == at::kBFloat16 ? ElementType::BF16 : elementTypeOf(like),
                                            static_cast<const AdamSlice*>(table.data_ptr()), static_cast<int64_t>(slices.size()),
                                            Context::stream(like));
    }
  }

  static const OptimizerFunctions& functions() {
    static const OptimizerFunctions table{adam};
    return table;
  }
};

}  // namespace intra::kernels::cuda_adapter
