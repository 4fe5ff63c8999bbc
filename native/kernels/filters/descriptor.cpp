// The filters family in the kernel registry (registry.h).
#include "../registry.h"
#include "filters.h"

namespace intra::kernels {

namespace {
Shape imageOf(const Shape& shape) { return Shape(shape.begin(), shape.begin() + 4); }
int64_t kernelOf(const Shape& shape) { return shape.size() > 4 ? shape[4] : 11; }

// An image in [0, 1] and a nearby one, as a reconstruction is, so that GMS and SSIM are in
// their working range.
Inputs pair(const Shape& shape, at::Generator& generator) {
  const auto options = at::TensorOptions().dtype(at::kDouble);
  at::Tensor a = at::rand(imageOf(shape), generator, options);
  at::Tensor b = (a + 0.1 * at::randn(imageOf(shape), generator, options)).clamp(0, 1);
  return {a, b};
}
Inputs single(const Shape& shape, at::Generator& generator) {
  return {at::rand(imageOf(shape), generator, at::TensorOptions().dtype(at::kDouble))};
}

// The images read and the map written (and as much again for the backward).
template <int Images>
double bytes(const Shape& s, double size, bool backward) {
  const double elements = double(s[0]) * s[1] * s[2] * s[3];
  return elements * size * (Images + 1) * (backward ? 2 : 1);
}
}  // namespace

FamilyDescriptor filtersFamily() {
  const char* image = "[B, C, H, W]";
  // Odd sizes, one channel and three, images smaller than the 7 x 7 SSIM window.
  const std::vector<Shape> maps = {{2, 3, 16, 16}, {3, 1, 17, 9}, {1, 3, 8, 31}, {2, 1, 5, 5}};
  // The smoothing filters take the kernel size fifth: kernels wider than the image.
  const std::vector<Shape> smoothing = {{2, 1, 33, 20, 11}, {1, 3, 9, 7, 21}};
  OpDescriptor gms{"gms", image, {4}, true, maps, {{2, 3, 7, 6}}};
  gms.call = [](Implementation impl, const Shape&) -> OpCall { return [impl](const Inputs& x) { return gmsMap(x[0], x[1], impl); }; };
  OpDescriptor ssim{"ssim", image, {4}, true, maps, {{2, 3, 7, 6}}};
  ssim.call = [](Implementation impl, const Shape&) -> OpCall { return [impl](const Inputs& x) { return ssimMap(x[0], x[1], impl); }; };
  gms.inputs = ssim.inputs = pair;
  gms.bytes = ssim.bytes = bytes<2>;
  // no backward: the anomaly map needs none
  OpDescriptor blur{"blur", image, {4, 5}, false, smoothing, {}};
  blur.call = [](Implementation impl, const Shape& shape) -> OpCall {
    return [impl, kernel = kernelOf(shape)](const Inputs& x) { return gaussianBlur(x[0], kernel, 2.0, impl); };
  };
  OpDescriptor mean{"mean_filter", image, {4, 5}, false, smoothing, {}};
  mean.call = [](Implementation impl, const Shape& shape) -> OpCall {
    return [impl, kernel = kernelOf(shape)](const Inputs& x) { return meanFilter(x[0], kernel, impl); };
  };
  blur.inputs = mean.inputs = single;
  blur.bytes = mean.bytes = bytes<1>;
  return {Family::Filters, "filters", "the loss's and the maps' GMS, SSIM, blur",
          [](Device device, Implementation implementation) { return fusedFilters(device, implementation) != nullptr; },
          {gms, ssim, blur, mean}};
}

}  // namespace intra::kernels
