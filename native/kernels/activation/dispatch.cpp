// The one dispatch point of bias + GELU: the table keyed by (device, implementation), and an
// autograd Function that calls the chosen forward and backward.
#include <ATen/record_function.h>
#include <torch/torch.h>

#include "../../common/errors.h"
#include "../cpu_rows.h"
#include "bias_gelu.h"

namespace intra::kernels {

namespace {

KernelTable<ActivationFunctions>& table() {
  static KernelTable<ActivationFunctions> entries([](KernelTable<ActivationFunctions>& t) {
    t.set(Device::Cpu, Implementation::Fused, &cpuFusedActivation());
    t.set(Device::Cpu, Implementation::CudaEmulated, &emulatedCudaFusedActivation());
#ifdef INTRA_CUDA_KERNELS
    t.set(Device::Cuda, Implementation::Fused, &cudaFusedActivation());
#endif
  });
  return entries;
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class BiasGeluFunction : public torch::autograd::Function<BiasGeluFunction> {
 public:
  // x (..., N) -> (..., N); bias (N) in any floating type.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias, int64_t impl) {
    RECORD_USER_SCOPE("intra::bias + GELU");
    const ActivationFunctions& functions = table().require("bias + GELU", x, static_cast<Implementation>(impl));
    const at::Tensor rows = kernelRows(x);
    const at::Tensor b = bias.to(rowComputeType(rows)).contiguous();
    ctx->save_for_backward({rows, b});
    ctx->saved_data["impl"] = impl;
    ctx->saved_data["biasType"] = static_cast<int64_t>(bias.scalar_type());
    return functions.biasGeluForward(rows, b).view(x.sizes()).to(x.scalar_type());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    RECORD_USER_SCOPE("intra::bias + GELU backward");
    auto s = ctx->get_saved_variables();
    const ActivationFunctions& functions = table().require("bias + GELU", s[0], static_cast<Implementation>(ctx->saved_data["impl"].toInt()));
    const at::Tensor dy = rowsLike(grads[0], s[0]);
    std::vector<at::Tensor> d = functions.biasGeluBackward(dy, s[0], s[1]);
    const auto biasType = static_cast<at::ScalarType>(ctx->saved_data["biasType"].toInt());
    return {d[0].view(grads[0].sizes()).to(grads[0].scalar_type()), d[1].to(biasType), at::Tensor()};
  }
};

}  // namespace

const ActivationFunctions* fusedActivation(Device device, Implementation implementation) {
  return table().find(device, implementation);
}

at::Tensor biasGelu(const at::Tensor& x, const at::Tensor& bias, Implementation impl) {
  TORCH_CHECK(x.dim() >= 1 && bias.dim() == 1 && bias.size(0) == x.size(-1), "bias + GELU expects x (..., N) and bias (N)");
  if (impl == Implementation::Reference) return biasGeluReference(x, bias);
  return BiasGeluFunction::apply(x, bias, static_cast<int64_t>(impl));
}

}  // namespace intra::kernels
