// The CUDA attention kernels' own source, run on CPU threads (device_code.h): the table
// entry (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic against
// the float64 reference without a GPU.
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const AttentionLaunchers& emulatedAttentionLaunchers() {
  static const AttentionLaunchers table = device::attention::launchers();
  return table;
}

namespace {
struct EmulatedContext {
  static constexpr const char* kDeviceName = "the CPU (emulated CUDA)";
  static bool accepts(const at::Tensor& t) { return t.device().is_cpu(); }
  static int guard(const at::Tensor&) { return 0; }
  static void* stream(const at::Tensor&) { return nullptr; }
  static const AttentionLaunchers& launchers() { return emulatedAttentionLaunchers(); }
  // Outputs start as NaN: an element no thread writes shows up in the comparison.
  static at::Tensor poison(at::Tensor t) { return t.fill_(std::numeric_limits<double>::quiet_NaN()); }
};
}  // namespace

const AttentionFunctions& emulatedCudaFusedAttention() { return cuda_adapter::AttentionAdapter<EmulatedContext>::functions(); }

}  // namespace intra::kernels
