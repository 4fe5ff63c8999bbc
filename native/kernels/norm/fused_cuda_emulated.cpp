// The CUDA layer-norm kernels' own source, run on CPU threads (device_code.h): the table entry
// (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic without a GPU.
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const NormLaunchers& emulatedNormLaunchers() {
  static const NormLaunchers table = device::norm::launchers();
  return table;
}

const NormFunctions& emulatedCudaFusedNorm() { return cuda_adapter::NormAdapter<EmulatedCudaContext>::functions(); }

}  // namespace intra::kernels
