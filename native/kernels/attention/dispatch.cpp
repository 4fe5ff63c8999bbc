// The one dispatch point of attention: the table keyed by (device, implementation), and one
// autograd Function per op that calls the chosen forward and backward.
#include <ATen/record_function.h>
#include <torch/torch.h>

#include "../../common/errors.h"
#include "attention.h"

namespace intra::kernels {

namespace {

void checkShapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects 4-D q, k, v");
  TORCH_CHECK(q.sizes() == k.sizes(), "attention expects q and k of one shape");
  TORCH_CHECK(v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == q.size(2),
              "attention expects v to share batch, heads and sequence with q");
  TORCH_CHECK(q.device() == k.device() && q.device() == v.device(), "attention expects q, k, v on one device");
}

KernelTable<AttentionFunctions>& table() {
  static KernelTable<AttentionFunctions> entries([](KernelTable<AttentionFunctions>& t) {
    t.set(Device::Cpu, Implementation::Fused, &cpuFusedAttention());
    t.set(Device::Cpu, Implementation::CudaEmulated, &emulatedCudaFusedAttention());
#ifdef INTRA_CUDA_KERNELS
    t.set(Device::Cuda, Implementation::Fused, &cudaFusedAttention());
#endif
  });
  return entries;
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The implementation travels as an integer argument (it gets no gradient).
class SoftmaxAttentionFunction : public torch::autograd::Function<SoftmaxAttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            int64_t impl) {
    RECORD_USER_SCOPE("intra::softmax attention");
    const AttentionFunctions& f = table().require("softmax attention", q, static_cast<Implementation>(impl));
    at::Tensor qp = f.prepare(q), kp = f.prepare(k), vp = f.prepare(v);
    const bool backwardFollows = q.requires_grad() || k.requires_grad() || v.requires_grad();
    std::vector<at::Tensor> r = f.softmaxForward(qp, kp, vp, backwardFollows);
    // out, the row log-sum-exp, and the probabilities only where the kernels kept them
    ctx->save_for_backward({qp, kp, vp, r[0], r[1], r.size() > 2 ? r[2] : at::Tensor()});
    ctx->saved_data["impl"] = impl;
    ctx->saved_data["type"] = static_cast<int64_t>(q.scalar_type());
    return r[0].to(q.scalar_type());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    RECORD_USER_SCOPE("intra::softmax attention backward");
    auto s = ctx->get_saved_variables();
    const auto impl = static_cast<Implementation>(ctx->saved_data["impl"].toInt());
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    const AttentionFunctions& f = table().require("softmax attention", s[0], impl);
    std::vector<at::Tensor> d = f.softmaxBackward(s[0], s[1], s[2], s[3], s[4], s[5], f.prepare(grads[0]));
    return {d[0].to(type), d[1].to(type), d[2].to(type), at::Tensor()};
  }
};

class LinearAttentionFunction : public torch::autograd::Function<LinearAttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            int64_t impl) {
    RECORD_USER_SCOPE("intra::linear attention");
    const AttentionFunctions& f = table().require("linear attention", q, static_cast<Implementation>(impl));
    at::Tensor qp = f.prepare(q), kp = f.prepare(k), vp = f.prepare(v);
    at::Tensor out = f.linearForward(qp, kp, vp);
    ctx->save_for_backward({qp, kp, vp, out});
    ctx->saved_data["impl"] = impl;
    ctx->saved_data["type"] = static_cast<int64_t>(q.scalar_type());
    return out.to(q.scalar_type());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    RECORD_USER_SCOPE("intra::linear attention backward");
    auto s = ctx->get_saved_variables();
    const auto impl = static_cast<Implementation>(ctx->saved_data["impl"].toInt());
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    const AttentionFunctions& f = table().require("linear attention", s[0], impl);
    std::vector<at::Tensor> d = f.linearBackward(s[0], s[1], s[2], s[3], f.prepare(grads[0]));
    return {d[0].to(type), d[1].to(type), d[2].to(type), at::Tensor()};
  }
};

}  // namespace

const AttentionFunctions* fusedAttention(Device device, Implementation implementation) {
  return table().find(device, implementation);
}

const AttentionFunctions* exchangeFusedAttention(Device device, Implementation implementation,
                                                 const AttentionFunctions* functions) {
  return table().exchange(device, implementation, functions);
}

at::Tensor softmaxAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Implementation impl) {
  checkShapes(q, k, v);
  if (impl == Implementation::Reference) return softmaxAttentionReference(q, k, v);
  return SoftmaxAttentionFunction::apply(q, k, v, static_cast<int64_t>(impl));
}

at::Tensor linearAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Implementation impl) {
  checkShapes(q, k, v);
  if (impl == Implementation::Reference) return linearAttentionReference(q, k, v);
  return LinearAttentionFunction::apply(q, k, v, static_cast<int64_t>(impl));
}

}  // namespace intra::kernels
