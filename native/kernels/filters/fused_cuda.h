// The CUDA filter kernels' launch interface: raw device pointers, sizes and a stream, no CUDA
// types and no ATen (fused_cuda_adapter.h turns tensors into these calls). Images are dense
// (B, C, H, W) of one element type; maps (B, 1, H, W); `scratch` is device memory of
// scratchElements(...) doubles that the caller provides.
#pragma once
#include <cstdint>

#include "../element_type.h"

namespace intra::kernels {

struct ImageProblem {
  ElementType type;
  int64_t batch, channels, height, width;
};

struct FilterLaunchers {
  int64_t (*gmsScratchElements)(const ImageProblem& p);
  int64_t (*ssimScratchElements)(const ImageProblem& p);
  void (*gmsForward)(const ImageProblem& p, const void* a, const void* b, void* out, void* stream);
  void (*gmsBackward)(const ImageProblem& p, const void* a, const void* b, const void* dout, void* da, void* db,
                      double* scratch, void* stream);
  void (*ssimForward)(const ImageProblem& p, const void* a, const void* b, void* out, void* stream);
  void (*ssimBackward)(const ImageProblem& p, const void* a, const void* b, const void* dout, void* da, void* db,
                       double* scratch, void* stream);
  // taps: `kernel` values (odd) in the accumulation type (float, or double for double), on the device.
  void (*separable)(const ImageProblem& p, const void* image, const void* taps, int64_t kernel, void* out, void* stream);
};

const FilterLaunchers& cudaFilterLaunchers();      // fused_cuda.cu
const FilterLaunchers& emulatedFilterLaunchers();  // fused_cuda_emulated.cpp

}  // namespace intra::kernels
