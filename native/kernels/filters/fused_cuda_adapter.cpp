// The table entry (cuda, fused) of the filters: CUDA tensors to the kernels of fused_cuda.cu
// on the current stream. Built only when libtorch has CUDA.
#include "fused_cuda_adapter.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace intra::kernels {

namespace {
struct CudaContext {
  static constexpr const char* kDeviceName = "a CUDA device";
  static bool accepts(const at::Tensor& t) { return t.device().is_cuda(); }
  static c10::cuda::CUDAGuard guard(const at::Tensor& t) { return c10::cuda::CUDAGuard(t.device()); }
  static void* stream(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }
  static const FilterLaunchers& filterLaunchers() { return cudaFilterLaunchers(); }
  static at::Tensor poison(at::Tensor t) { return t; }
};
}  // namespace

const FilterFunctions& cudaFusedFilters() { return cuda_adapter::FilterAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
