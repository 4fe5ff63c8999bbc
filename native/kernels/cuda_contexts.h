// Where the CUDA kernels of every family run, for their libtorch adapters
// (<family>/fused_cuda_adapter.h): the tensors' device, the device guard and stream of a
// launch, each family's launcher table, and whether outputs are poisoned before the launch.
#pragma once
#include <ATen/ATen.h>

#include <limits>

#include "attention/fused_cuda.h"
#include "filters/fused_cuda.h"

#ifdef INTRA_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace intra::kernels {

// The CUDA kernels' source on CPU threads: CPU tensors, no stream, outputs start as NaN so
// that an element no thread writes shows up in the comparison with the reference.
struct EmulatedCudaContext {
  static constexpr const char* kDeviceName = "the CPU (emulated CUDA)";
  static bool accepts(const at::Tensor& t) { return t.device().is_cpu(); }
  static int guard(const at::Tensor&) { return 0; }
  static void* stream(const at::Tensor&) { return nullptr; }
  static const AttentionLaunchers& attentionLaunchers() { return emulatedAttentionLaunchers(); }
  static const FilterLaunchers& filterLaunchers() { return emulatedFilterLaunchers(); }
  static at::Tensor poison(at::Tensor t) { return t.fill_(std::numeric_limits<double>::quiet_NaN()); }
};

#ifdef INTRA_CUDA_KERNELS
// A GPU: CUDA tensors, launched on the tensor's device and its current stream.
struct CudaContext {
  static constexpr const char* kDeviceName = "a CUDA device";
  static bool accepts(const at::Tensor& t) { return t.device().is_cuda(); }
  static c10::cuda::CUDAGuard guard(const at::Tensor& t) { return c10::cuda::CUDAGuard(t.device()); }
  static void* stream(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }
  static const AttentionLaunchers& attentionLaunchers() { return cudaAttentionLaunchers(); }
  static const FilterLaunchers& filterLaunchers() { return cudaFilterLaunchers(); }
  static at::Tensor poison(at::Tensor t) { return t; }
};
#endif

}  // namespace intra::kernels
