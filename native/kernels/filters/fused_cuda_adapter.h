// Tensors in, raw CUDA-kernel calls out, for the filters: shared by the real CUDA table entry
// (fused_cuda_adapter.cpp) and the emulated one (fused_cuda_emulated.cpp). Checks dtype,
// device, shape and layout before anything is launched.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "../../common/errors.h"
#include "../cuda_contexts.h"
#include "filters.h"
#include "fused_cuda.h"

namespace intra::kernels::cuda_adapter {

// The filter kernels' launchers where `Context` runs them.
template <typename Context>
const FilterLaunchers& filterLaunchersFor();
template <>
inline const FilterLaunchers& filterLaunchersFor<EmulatedCudaContext>() { return emulatedFilterLaunchers(); }
#ifdef INTRA_CUDA_KERNELS
template <>
inline const FilterLaunchers& filterLaunchersFor<CudaContext>() { return cudaFilterLaunchers(); }
#endif

template <typename Context>
struct FilterAdapter {
  static ImageProblem problemOf(const char* op, const at::Tensor& image) {
    if (!Context::accepts(image)) {
      throw invalidArgument(std::string("Expected images on ") + Context::kDeviceName + " for the " + op +
                            " kernel but received " + image.device().str());
    }
    if (image.dim() != 4 || !image.is_contiguous()) {
      throw invalidArgument(std::string("Expected a dense (B, C, H, W) tensor for the ") + op + " kernel");
    }
    return {elementTypeOf(image), image.size(0), image.size(1), image.size(2), image.size(3)};
  }
  static ImageProblem pairOf(const char* op, const at::Tensor& a, const at::Tensor& b) {
    if (b.scalar_type() != a.scalar_type() || b.sizes() != a.sizes() || !b.is_contiguous()) {
      throw invalidArgument(std::string("Expected two dense images of one type and shape for the ") + op + " kernel");
    }
    return problemOf(op, a);
  }
  static at::Tensor map(const at::Tensor& like) {
    return Context::poison(at::empty({like.size(0), 1, like.size(2), like.size(3)}, like.options()));
  }
  static bool empty(const ImageProblem& p) { return p.batch * p.channels * p.height * p.width == 0; }
  static at::Tensor scratch(const at::Tensor& like, int64_t elements) {
    return at::empty({elements}, like.options().dtype(at::kDouble));
  }

  static at::Tensor prepare(const at::Tensor& t) { return t.contiguous(); }

  static at::Tensor gmsForward(const at::Tensor& a, const at::Tensor& b) {
    const ImageProblem p = pairOf("GMS", a, b);
    [[maybe_unused]] auto guard = Context::guard(a);
    at::Tensor out = map(a);
    if (!empty(p)) filterLaunchersFor<Context>().gmsForward(p, a.data_ptr(), b.data_ptr(), out.data_ptr(), Context::stream(a));
    return out;
  }
  static std::vector<at::Tensor> gmsBackward(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
    const ImageProblem p = pairOf("GMS", a, b);
    [[maybe_unused]] auto guard = Context::guard(a);
    at::Tensor g = dout.to(a.scalar_type()).contiguous();
    at::Tensor da = Context::poison(at::empty_like(a)), db = Context::poison(at::empty_like(b));
    if (!empty(p)) {
      const auto& launch = filterLaunchersFor<Context>();
      at::Tensor s = scratch(a, launch.gmsScratchElements(p));
      launch.gmsBackward(p, a.data_ptr(), b.data_ptr(), g.data_ptr(), da.data_ptr(), db.data_ptr(),
                         s.data_ptr<double>(), Context::stream(a));
    }
    return {da, db};
  }
  static at::Tensor ssimForward(const at::Tensor& a, const at::Tensor& b) {
    const ImageProblem p = pairOf("SSIM", a, b);
    [[maybe_unused]] auto guard = Context::guard(a);
    at::Tensor out = map(a);
    if (!empty(p)) filterLaunchersFor<Context>().ssimForward(p, a.data_ptr(), b.data_ptr(), out.data_ptr(), Context::stream(a));
    return out;
  }
  static std::vector<at::Tensor> ssimBackward(const at::Tensor& a, const at::Tensor& b, const at::Tensor& dout) {
    const ImageProblem p = pairOf("SSIM", a, b);
    [[maybe_unused]] auto guard = Context::guard(a);
    at::Tensor g = dout.to(a.scalar_type()).contiguous();
    at::Tensor da = Context::poison(at::empty_like(a)), db = Context::poison(at::empty_like(b));
    if (!empty(p)) {
      const auto& launch = filterLaunchersFor<Context>();
      at::Tensor s = scratch(a, launch.ssimScratchElements(p));
      launch.ssimBackward(p, a.data_ptr(), b.data_ptr(), g.data_ptr(), da.data_ptr(), db.data_ptr(),
                          s.data_ptr<double>(), Context::stream(a));
    }
    return {da, db};
  }
  static at::Tensor separable(const at::Tensor& image, const at::Tensor& taps) {
    const ImageProblem p = problemOf("smoothing", image);
    [[maybe_unused]] auto guard = Context::guard(image);
    const int64_t k = taps.size(0);
    if (k % 2 != 1) throw invalidArgument("Expected an odd number of taps for the smoothing kernel");
    at::Tensor weights = taps.to(image.device(), accumulateType(image)).contiguous();
    at::Tensor out = Context::poison(at::empty_like(image));
    if (!empty(p)) {
      filterLaunchersFor<Context>().separable(p, image.data_ptr(), weights.data_ptr(), k, out.data_ptr(), Context::stream(image));
    }
    return out;
  }

  static const FilterFunctions& functions() {
    static const FilterFunctions table{prepare, gmsForward, gmsBackward, ssimForward, ssimBackward, separable};
    return table;
  }
};

}  // namespace intra::kernels::cuda_adapter
