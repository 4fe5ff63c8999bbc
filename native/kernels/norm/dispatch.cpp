// The one dispatch point of layer norm: the table keyed by (device, implementation), and an
// autograd Function that calls the chosen forward and backward.
#include <ATen/record_function.h>
#include <torch/torch.h>

#include "../../common/errors.h"
#include "../cpu_rows.h"
#include "layer_norm.h"

namespace intra::kernels {

namespace {

KernelTable<NormFunctions>& table() {
  static KernelTable<NormFunctions> entries([](KernelTable<NormFunctions>& t) {
    t.set(Device::Cpu, Implementation::Fused, &cpuFusedNorm());
    t.set(Device::Cpu, Implementation::CudaEmulated, &emulatedCudaFusedNorm());
#ifdef INTRA_CUDA_KERNELS
    t.set(Device::Cuda, Implementation::Fused, &cudaFusedNorm());
#endif
  });
  return entries;
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class LayerNormFunction : public torch::autograd::Function<LayerNormFunction> {
 public:
  // x (..., D) -> (..., D); weight and bias (D) in any floating type.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            double eps, int64_t impl, int64_t outputType) {
    RECORD_USER_SCOPE("intra::layer norm");
    const NormFunctions& functions = table().require("layer norm", x, static_cast<Implementation>(impl));
    const at::Tensor rows = kernelRows(x);
    const at::ScalarType type = rowComputeType(rows);
    const at::Tensor w = weight.to(type).contiguous(), b = bias.to(type).contiguous();
    // bf16 out of float rows where the kernel writes it itself; any other type by a cast.
    const auto output = static_cast<at::ScalarType>(outputType);
    const bool direct = output == rows.scalar_type() || (rows.scalar_type() == at::kFloat && output == at::kBFloat16);
    std::vector<at::Tensor> r = functions.forward(rows, w, b, eps, direct ? output : rows.scalar_type());
    ctx->save_for_backward({rows, w, r[1], r[2]});
    ctx->saved_data["inputType"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["gradientType"] = static_cast<int64_t>(r[0].scalar_type());
    ctx->saved_data["impl"] = impl;
    ctx->saved_data["weightType"] = static_cast<int64_t>(weight.scalar_type());
    ctx->saved_data["biasType"] = static_cast<int64_t>(bias.scalar_type());
    return r[0].view(x.sizes()).to(output);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    RECORD_USER_SCOPE("intra::layer norm backward");
    auto s = ctx->get_saved_variables();
    const NormFunctions& functions = table().require("layer norm", s[0], static_cast<Implementation>(ctx->saved_data["impl"].toInt()));
    const auto gradientType = static_cast<at::ScalarType>(ctx->saved_data["gradientType"].toInt());
    const at::Tensor dy = grads[0].reshape({-1, s[0].size(1)}).to(gradientType).contiguous();
    std::vector<at::Tensor> d = functions.backward(dy, s[0], s[1], s[2], s[3]);
    const auto weightType = static_cast<at::ScalarType>(ctx->saved_data["weightType"].toInt());
    const auto biasType = static_cast<at::ScalarType>(ctx->saved_data["biasType"].toInt());
    const auto inputType = static_cast<at::ScalarType>(ctx->saved_data["inputType"].toInt());
    return {d[0].view(grads[0].sizes()).to(inputType), d[1].to(weightType), d[2].to(biasType), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

const NormFunctions* fusedNorm(Device device, Implementation implementation) {
  return table().find(device, implementation);
}

const NormFunctions* exchangeFusedNorm(Device device, Implementation implementation, const NormFunctions* functions) {
  return table().exchange(device, implementation, functions);
}

at::Tensor layerNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                     Implementation impl, std::optional<at::ScalarType> output) {
  TORCH_CHECK(x.dim() >= 1 && weight.dim() == 1 && bias.dim() == 1 && weight.size(0) == x.size(-1) &&
                  bias.size(0) == x.size(-1),
              "layer norm expects x (..., D) with weight and bias (D)");
  const at::ScalarType type = output.value_or(x.scalar_type());
  if (impl == Implementation::Reference) return layerNormReference(x, weight, bias, eps).to(type);
  return LayerNormFunction::apply(x, weight, bias, eps, static_cast<int64_t>(impl), static_cast<int64_t>(type));
}

}  // namespace intra::kernels
