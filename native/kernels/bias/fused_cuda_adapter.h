// Tensors in, raw CUDA-kernel calls out, for the bias add: shared by the real CUDA table entry
// (fused_cuda_adapter.cpp) and the emulated one (fused_cuda_emulated.cpp). Checks the device
// and the layout before anything is launched; outputs are poisoned where the context asks.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "../cuda_contexts.h"
#include "bias_add.h"
#include "fused_cuda.h"

namespace intra::kernels::cuda_adapter {

// The bias-add kernels' launchers where `Context` runs them.
template <typename Context>
const BiasLaunchers& biasLaunchersFor();
template <>
inline const BiasLaunchers& biasLaunchersFor<EmulatedCudaContext>() { return emulatedBiasLaunchers(); }
#ifdef INTRA_CUDA_KERNELS
template <>
inline const BiasLaunchers& biasLaunchersFor<CudaContext>() { return cudaBiasLaunchers(); }
#endif

template <typename Context>
struct BiasAdapter {
  static at::Tensor forward(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual) {
    const RowProblem p = rowProblemOf<Context>("bias add", x);
    [[maybe_unused]] auto guard = Context::guard(x);
    if (residual.defined() && (residual.sizes() != x.sizes() || !residual.is_contiguous() || !Context::accepts(residual))) {
      throw invalidArgument("Expected a dense residual of x's shape and device for the bias add kernel");
    }
    at::Tensor y = Context::poison(residual.defined() ? at::empty_like(residual) : at::empty_like(x));
    if (p.rows * p.width > 0) {
      biasLaunchersFor<Context>().forward(p, x.data_ptr(), bias.data_ptr(), residual.defined() ? residual.data_ptr() : nullptr,
                                          residual.defined() ? elementTypeOf(residual) : p.type, y.data_ptr(), Context::stream(x));
    }
    return y;
  }
  static std::vector<at::Tensor> backward(const at::Tensor& dy, at::ScalarType xType) {
    const RowProblem p = rowProblemOf<Context>("bias add", dy);
    [[maybe_unused]] auto guard = Context::guard(dy);
    const at::TensorOptions sums = dy.options().dtype(accumulateType(dy));
    const bool narrowed = xType != dy.scalar_type();
    at::Tensor dx = narrowed ? Context::poison(at::empty(dy.sizes(), dy.options().dtype(xType))) : dy;
    at::Tensor dbias = Context::poison(at::empty({p.width}, sums));
    if (p.width > 0) {
      const BiasLaunchers& launch = biasLaunchersFor<Context>();
      at::Tensor scratch = at::empty({std::max<int64_t>(launch.scratchElements(p), 1)}, sums);
      launch.backward(p, dy.data_ptr(), narrowed ? dx.data_ptr() : nullptr, narrowed ? elementTypeOf(dx) : p.type, dbias.data_ptr(),
                      scratch.data_ptr(), Context::stream(dy));
    }
    return {dx, dbias};
  }

  static const BiasFunctions& functions() {
    static const BiasFunctions table{forward, backward};
    return table;
  }
};

}  // namespace intra::kernels::cuda_adapter
