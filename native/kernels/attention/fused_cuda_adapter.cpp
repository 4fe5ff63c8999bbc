// The table entry (cuda, fused): CUDA tensors to the kernels of fused_cuda.cu on the current
// stream. Built only when libtorch has CUDA.
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
  static const AttentionLaunchers& launchers() { return cudaAttentionLaunchers(); }
  static at::Tensor poison(at::Tensor t) { return t; }
};
}  // namespace

const AttentionFunctions& cudaFusedAttention() { return cuda_adapter::AttentionAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
