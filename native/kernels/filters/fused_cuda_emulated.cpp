// The CUDA filter kernels' own source, run on CPU threads (device_code.h): the table entry
// (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic without a GPU.
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const FilterLaunchers& emulatedFilterLaunchers() {
  static const FilterLaunchers table = device::filters::launchers();
  return table;
}

namespace {
struct EmulatedContext {
  static constexpr const char* kDeviceName = "the CPU (emulated CUDA)";
  static bool accepts(const at::Tensor& t) { return t.device().is_cpu(); }
  static int guard(const at::Tensor&) { return 0; }
  static void* stream(const at::Tensor&) { return nullptr; }
  static const FilterLaunchers& filterLaunchers() { return emulatedFilterLaunchers(); }
  // Outputs start as NaN: an element no thread writes shows up in the comparison.
  static at::Tensor poison(at::Tensor t) { return t.fill_(std::numeric_limits<double>::quiet_NaN()); }
};
}  // namespace

const FilterFunctions& emulatedCudaFusedFilters() { return cuda_adapter::FilterAdapter<EmulatedContext>::functions(); }

}  // namespace intra::kernels
