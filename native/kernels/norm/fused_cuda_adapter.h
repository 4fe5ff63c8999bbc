// Tensors in, raw CUDA-kernel calls out, for layer norm: shared by the real CUDA table entry
// (fused_cuda_adapter.cpp) and the emulated one (fused_cuda_emulated.cpp). Checks the device
// and the layout before anything is launched; outputs are poisoned where the context asks.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../../common/errors.h"
#include "../cuda_contexts.h"
#include "fused_cuda.h"
#include "layer_norm.h"

namespace intra::kernels::cuda_adapter {

// The layer-norm kernels' launchers where `Context` runs them.
template <typename Context>
const NormLaunchers& normLaunchersFor();
template <>
inline const NormLaunchers& normLaunchersFor<EmulatedCudaContext>() { return emulatedNormLaunchers(); }
#ifdef INTRA_CUDA_KERNELS
template <>
inline const NormLaunchers& normLaunchersFor<CudaContext>() { return cudaNormLaunchers(); }
#endif

template <typename Context>
struct NormAdapter {
  static std::vector<at::Tensor> forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                                         at::ScalarType output) {
    const RowProblem p = rowProblemOf<Context>("layer norm", x);
    [[maybe_unused]] auto guard = Context::guard(x);
    at::Tensor y = Context::poison(at::empty_like(x, x.options().dtype(output)));
    at::Tensor mean = Context::poison(at::empty({p.rows}, x.options().dtype(accumulateType(x)))), rstd = Context::poison(at::empty_like(mean));
    if (p.rows * p.width > 0) {
      normLaunchersFor<Context>().forward(p, elementTypeOf(y), x.data_ptr(), weight.data_ptr(), bias.data_ptr(), eps, y.data_ptr(),
                                          mean.data_ptr(), rstd.data_ptr(), Context::stream(x));
    }
    return {y, mean, rstd};
  }
  static std::vector<at::Tensor> backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& weight,
                                          const at::Tensor& mean, const at::Tensor& rstd) {
    const RowProblem p = rowProblemOf<Context>("layer norm", x);
    [[maybe_unused]] auto guard = Context::guard(x);
    at::Tensor dx = Context::poison(at::empty_like(x));
    at::Tensor dparams = Context::poison(at::empty({2, p.width}, weight.options()));
    if (p.width > 0) {
      const NormLaunchers& launch = normLaunchersFor<Context>();
      at::Tensor scratch = at::empty({std::max<int64_t>(launch.backwardScratchElements(p), 1)}, weight.options());
      launch.backward(p, elementTypeOf(dy), dy.data_ptr(), x.data_ptr(), weight.data_ptr(), mean.data_ptr(), rstd.data_ptr(),
                      dx.data_ptr(), dparams.data_ptr(), scratch.data_ptr(), Context::stream(x));
    }
    return {dx, dparams[0], dparams[1]};
  }

  static const NormFunctions& functions() {
    static const NormFunctions table{forward, backward};
    return table;
  }
};

}  // namespace intra::kernels::cuda_adapter
