// Where the CUDA kernels of every family run, for their libtorch adapters
// (<family>/fused_cuda_adapter.h): the tensors' device, the device guard and stream of a
// launch, and whether outputs are poisoned before the launch; and what every adapter does to
// a tensor before handing its pointer to a kernel. Each family finds its own launcher table
// for a context (its adapter's <family>LaunchersFor<Context>()): nothing here knows a family.
#pragma once
#include <ATen/ATen.h>

#include <limits>
#include <string>

#include "../common/errors.h"
#include "element_type.h"

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
  static at::Tensor poison(at::Tensor t) { return t.fill_(std::numeric_limits<double>::quiet_NaN()); }
  // Host bytes (a kernel's argument table) where the kernels read them: here, a copy.
  static at::Tensor upload(const at::Tensor& bytes, const at::Tensor&) { return bytes.clone(); }
};

#ifdef INTRA_CUDA_KERNELS
// A GPU: CUDA tensors, launched on the tensor's device and its current stream.
struct CudaContext {
  static constexpr const char* kDeviceName = "a CUDA device";
  static bool accepts(const at::Tensor& t) { return t.device().is_cuda(); }
  static c10::cuda::CUDAGuard guard(const at::Tensor& t) { return c10::cuda::CUDAGuard(t.device()); }
  static void* stream(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }
  static at::Tensor poison(at::Tensor t) { return t; }
  // Copied to `like`'s device before it returns (the host bytes may go right after); the caching
  // allocator keeps the device copy alive until the kernels queued on the stream have read it.
  static at::Tensor upload(const at::Tensor& bytes, const at::Tensor& like) { return bytes.to(like.device()); }
};
#endif

namespace cuda_adapter {

inline ElementType elementTypeOf(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return ElementType::F32;
    case at::kDouble: return ElementType::F64;
    case at::kBFloat16: return ElementType::BF16;
    case at::kHalf: return ElementType::F16;
    default: break;
  }
  throw invalidArgument(std::string("Expected float, double, bfloat16 or half for the CUDA kernels but received ") +
                        c10::toString(t.scalar_type()));
}

inline at::ScalarType accumulateType(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

// The kernels take one element type for all inputs and a dense last dimension.
inline at::Tensor prepare(const at::Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); }

// The problem of dense (rows, features) rows on the context's device (the row kernels').
template <typename Context>
RowProblem rowProblemOf(const char* op, const at::Tensor& x) {
  if (!Context::accepts(x)) {
    throw invalidArgument(std::string("Expected rows on ") + Context::kDeviceName + " for the " + op + " kernel but received " +
                          x.device().str());
  }
  if (x.dim() != 2 || !x.is_contiguous()) throw invalidArgument(std::string("Expected dense (rows, features) for the ") + op + " kernel");
  return {elementTypeOf(x), x.size(0), x.size(1)};
}

}  // namespace cuda_adapter

}  // namespace intra::kernels
