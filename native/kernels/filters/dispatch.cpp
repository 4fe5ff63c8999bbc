// The one dispatch point of the image filters: the table keyed by (device, implementation),
// and one autograd Function per map (GMS, SSIM) that calls the chosen forward and backward.
#include <ATen/record_function.h>
#include <torch/torch.h>

#include "filters.h"

namespace intra::kernels {

namespace {

KernelTable<FilterFunctions>& table() {
  static KernelTable<FilterFunctions> entries([](KernelTable<FilterFunctions>& t) {
    t.set(Device::Cpu, Implementation::Fused, &cpuFusedFilters());
    t.set(Device::Cpu, Implementation::CudaEmulated, &emulatedCudaFusedFilters());
#ifdef INTRA_CUDA_KERNELS
    t.set(Device::Cuda, Implementation::Fused, &cudaFusedFilters());
#endif
  });
  return entries;
}

void checkPair(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.dim() == 4 && a.sizes() == b.sizes(), "image filters expect two (B, C, H, W) tensors of one shape");
  TORCH_CHECK(a.device() == b.device(), "image filters expect both images on one device");
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

template <bool Ssim>
class MapFunction : public torch::autograd::Function<MapFunction<Ssim>> {
 public:
  static constexpr const char* kName = Ssim ? "SSIM" : "GMS";
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b, int64_t impl) {
    RECORD_USER_SCOPE(Ssim ? "intra::SSIM" : "intra::GMS");
    const FilterFunctions& f = table().require(kName, a, static_cast<Implementation>(impl));
    at::Tensor ap = f.prepare(a), bp = f.prepare(b);
    ctx->save_for_backward({ap, bp});
    ctx->saved_data["impl"] = impl;
    ctx->saved_data["type"] = static_cast<int64_t>(a.scalar_type());
    return (Ssim ? f.ssimForward(ap, bp) : f.gmsForward(ap, bp)).to(a.scalar_type());
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    RECORD_USER_SCOPE(Ssim ? "intra::SSIM backward" : "intra::GMS backward");
    auto saved = ctx->get_saved_variables();
    const auto type = static_cast<at::ScalarType>(ctx->saved_data["type"].toInt());
    const FilterFunctions& f = table().require(kName, saved[0], static_cast<Implementation>(ctx->saved_data["impl"].toInt()));
    at::Tensor g = grads[0].to(saved[0].scalar_type()).contiguous();
    std::vector<at::Tensor> d = Ssim ? f.ssimBackward(saved[0], saved[1], g) : f.gmsBackward(saved[0], saved[1], g);
    return {d[0].to(type), d[1].to(type), at::Tensor()};
  }
};

at::Tensor smooth(const char* op, const at::Tensor& image, const at::Tensor& taps, Implementation impl) {
  TORCH_CHECK(image.dim() == 4, "smoothing filters expect a (B, C, H, W) tensor");
  if (impl == Implementation::Reference) return separableFilterReference(image, taps);
  RECORD_USER_SCOPE(std::string("intra::") + op);
  const FilterFunctions& f = table().require(op, image, impl);
  return f.separable(f.prepare(image.detach()), taps).to(image.scalar_type());
}

}  // namespace

const FilterFunctions* fusedFilters(Device device, Implementation implementation) {
  return table().find(device, implementation);
}

const FilterFunctions* exchangeFusedFilters(Device device, Implementation implementation, const FilterFunctions* functions) {
  return table().exchange(device, implementation, functions);
}

at::Tensor gmsMap(const at::Tensor& a, const at::Tensor& b, Implementation impl) {
  checkPair(a, b);
  if (impl == Implementation::Reference) return gmsMapReference(a, b);
  return MapFunction<false>::apply(a, b, static_cast<int64_t>(impl));
}

at::Tensor ssimMap(const at::Tensor& a, const at::Tensor& b, Implementation impl) {
  checkPair(a, b);
  if (impl == Implementation::Reference) return ssimMapReference(a, b);
  return MapFunction<true>::apply(a, b, static_cast<int64_t>(impl));
}

at::Tensor meanFilter(const at::Tensor& image, int64_t kernel, Implementation impl) {
  return smooth("mean filter", image, meanTaps(kernel), impl);
}

at::Tensor gaussianBlur(const at::Tensor& image, int64_t kernel, double sigma, Implementation impl) {
  return smooth("Gaussian blur", image, gaussianTaps(kernel, sigma), impl);
}

}  // namespace intra::kernels
