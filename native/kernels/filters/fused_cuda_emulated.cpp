// The CUDA filter kernels' own source, run on CPU threads (device_code.h): the table entry
// (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic without a GPU.
#include "../cuda_contexts.h"
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const FilterLaunchers& emulatedFilterLaunchers() {
  static const FilterLaunchers table = device::filters::launchers();
  return table;
}

const FilterFunctions& emulatedCudaFusedFilters() { return cuda_adapter::FilterAdapter<EmulatedCudaContext>::functions(); }

}  // namespace intra::kernels
