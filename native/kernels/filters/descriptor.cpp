// The filters family in the kernel registry (registry.h).
#include "../registry.h"
#include "filters.h"

namespace intra::kernels {

FamilyDescriptor filtersFamily() {
  const char* image = "[B, C, H, W]";
  // Odd sizes, one channel and three, images smaller than the 7 x 7 SSIM window.
  const std::vector<Shape> maps = {{2, 3, 16, 16}, {3, 1, 17, 9}, {1, 3, 8, 31}, {2, 1, 5, 5}};
  // The smoothing filters take the kernel size fifth: kernels wider than the image.
  const std::vector<Shape> smoothing = {{2, 1, 33, 20, 11}, {1, 3, 9, 7, 21}};
  return {Family::Filters, "filters", "the loss's and the maps' GMS, SSIM, blur",
          [](Device device, Implementation implementation) { return fusedFilters(device, implementation) != nullptr; },
          {{"gms", image, {4}, true, maps, {{2, 3, 7, 6}}},
           {"ssim", image, {4}, true, maps, {{2, 3, 7, 6}}},
           // no backward: the anomaly map needs none
           {"blur", image, {4, 5}, false, smoothing, {}},
           {"mean_filter", image, {4, 5}, false, smoothing, {}}}};
}

}  // namespace intra::kernels
