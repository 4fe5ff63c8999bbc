// Tensors in, raw CUDA-kernel calls out, for bias + GELU: shared by the real CUDA table entry
// (fused_cuda_adapter.cpp) and the emulated one (fused_cuda_emulated.cpp). Checks the device
// and the layout before anything is launched; outputs are poisoned where the context asks.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "../cuda_contexts.h"
#include "bias_gelu.h"
#include "fused_cuda.h"

namespace intra::kernels::cuda_adapter {

// The bias + GELU kernels' launchers where `Context` runs them.
template <typename Context>
const ActivationLaunchers& activationLaunchersFor();
template <>
inline const ActivationLaunchers& activationLaunchersFor<EmulatedCudaContext>() { return emulatedActivationLaunchers(); }
#ifdef INTRA_CUDA_KERNELS
template <>
inline const ActivationLaunchers& activationLaunchersFor<CudaContext>() { return cudaActivationLaunchers(); }
#endif

template <typename Context>
struct ActivationAdapter {
  static at::Tensor biasGeluForward(const at::Tensor& x, const at::Tensor& bias) {
    const RowProblem p = rowProblemOf<Context>("bias + GELU", x);
    [[maybe_unused]] auto guard = Context::guard(x);
    at::Tensor y = Context::poison(at::empty_like(x));
    if (p.rows * p.width > 0) activationLaunchersFor<Context>().biasGeluForward(p, x.data_ptr(), bias.data_ptr(), y.data_ptr(), Context::stream(x));
    return y;
  }
  static std::vector<at::Tensor> biasGeluBackward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& bias) {
    const RowProblem p = rowProblemOf<Context>("bias + GELU", x);
    [[maybe_unused]] auto guard = Context::guard(x);
    at::Tensor dx = Context::poison(at::empty_like(x)), dbias = Context::poison(at::empty({p.width}, bias.options()));
    if (p.width > 0) {
      const ActivationLaunchers& launch = activationLaunchersFor<Context>();
      at::Tensor scratch = at::empty({std::max<int64_t>(launch.biasGeluScratchElements(p), 1)}, bias.options());
      launch.biasGeluBackward(p, dy.data_ptr(), x.data_ptr(), bias.data_ptr(), dx.data_ptr(), dbias.data_ptr(), scratch.data_ptr(),
                              Context::stream(x));
    }
    return {dx, dbias};
  }

  static const ActivationFunctions& functions() {
    static const ActivationFunctions table{biasGeluForward, biasGeluBackward};
    return table;
  }
};

}  // namespace intra::kernels::cuda_adapter
