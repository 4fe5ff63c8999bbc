// The one dispatch point of the bias add: the table keyed by (device, implementation), and an
// autograd Function that calls the chosen forward and backward.
#include <ATen/record_function.h>
#include <torch/torch.h>

#include "../../common/errors.h"
#include "../cpu_rows.h"
#include "bias_add.h"

namespace intra::kernels {

namespace {

KernelTable<BiasFunctions>& table() {
  static KernelTable<BiasFunctions> entries([](KernelTable<BiasFunctions>& t) {
    t.set(Device::Cpu, Implementation::Fused, &cpuFusedBias());
    t.set(Device::Cpu, Implementation::CudaEmulated, &emulatedCudaFusedBias());
#ifdef INTRA_CUDA_KERNELS
    t.set(Device::Cuda, Implementation::Fused, &cudaFusedBias());
#endif
  });
  return entries;
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The forward and backward of both Functions below; `residual` undefined where there is none.
at::Tensor forwardOf(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual, int64_t impl) {
  RECORD_USER_SCOPE("intra::bias add");
  const BiasFunctions& functions = table().require("bias add", x, static_cast<Implementation>(impl));
  const at::Tensor rows = kernelRows(x);
  const at::ScalarType computeType = rowComputeType(rows);
  const at::Tensor b = bias.to(computeType).contiguous();
  at::Tensor r;
  if (residual.defined()) {
    // The residual as the rows' type, or as the compute type where it is wider (bf16 products, fp32 stream).
    const at::ScalarType type = residual.scalar_type() == rows.scalar_type() ? rows.scalar_type() : computeType;
    r = residual.reshape({-1, rows.size(1)}).to(type).contiguous();
  }
  const at::ScalarType outType = residual.defined() ? at::promote_types(x.scalar_type(), residual.scalar_type()) : x.scalar_type();
  ctx->saved_data["impl"] = impl;
  ctx->saved_data["rowsType"] = static_cast<int64_t>(rows.scalar_type());
  ctx->saved_data["yType"] = static_cast<int64_t>(r.defined() ? r.scalar_type() : rows.scalar_type());
  ctx->saved_data["xType"] = static_cast<int64_t>(x.scalar_type());
  ctx->saved_data["biasType"] = static_cast<int64_t>(bias.scalar_type());
  if (residual.defined()) ctx->saved_data["residualType"] = static_cast<int64_t>(residual.scalar_type());
  return functions.forward(rows, b, r).view(x.sizes()).to(outType);
}

// -> {dx, dbias} and, where the forward had a residual, dresidual.
tensor_list backwardOf(AutogradContext* ctx, const at::Tensor& grad) {
  RECORD_USER_SCOPE("intra::bias add backward");
  auto type = [&](const char* key) { return static_cast<at::ScalarType>(ctx->saved_data[key].toInt()); };
  const BiasFunctions& functions = table().require("bias add", grad, static_cast<Implementation>(ctx->saved_data["impl"].toInt()));
  const at::Tensor dy = grad.reshape({-1, grad.size(-1)}).to(type("yType")).contiguous();
  std::vector<at::Tensor> d = functions.backward(dy, type("rowsType"));
  tensor_list out{d[0].view(grad.sizes()).to(type("xType")), d[1].to(type("biasType"))};
  if (ctx->saved_data.count("residualType") != 0) out.push_back(grad.to(type("residualType")));
  return out;
}

// libtorch 1.13's Functions take no undefined tensor among their inputs: one without a
// residual, one with.
class BiasAddFunction : public torch::autograd::Function<BiasAddFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias, int64_t impl) {
    return forwardOf(ctx, x, bias, at::Tensor(), impl);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    tensor_list d = backwardOf(ctx, grads[0]);
    return {d[0], d[1], at::Tensor()};
  }
};

class BiasResidualFunction : public torch::autograd::Function<BiasResidualFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual,
                            int64_t impl) {
    return forwardOf(ctx, x, bias, residual, impl);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    tensor_list d = backwardOf(ctx, grads[0]);
    return {d[0], d[1], d[2], at::Tensor()};
  }
};

}  // namespace

const BiasFunctions* fusedBias(Device device, Implementation implementation) {
  return table().find(device, implementation);
}

at::Tensor biasAdd(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual, Implementation impl) {
  TORCH_CHECK(x.dim() >= 1 && bias.dim() == 1 && bias.size(0) == x.size(-1), "bias add expects x (..., N) and bias (N)");
  TORCH_CHECK(!residual.defined() || residual.sizes() == x.sizes(), "bias add expects the residual in x's shape");
  if (impl == Implementation::Reference) return biasAddReference(x, bias, residual);
  if (!residual.defined()) return BiasAddFunction::apply(x, bias, static_cast<int64_t>(impl));
  return BiasResidualFunction::apply(x, bias, residual, static_cast<int64_t>(impl));
}

}  // namespace intra::kernels
