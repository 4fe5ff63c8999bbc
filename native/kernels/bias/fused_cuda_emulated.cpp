// The CUDA bias-add kernels' own source, run on CPU threads (device_code.h): the table entry
// (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic without a GPU.
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const BiasLaunchers& emulatedBiasLaunchers() {
  static const BiasLaunchers table = device::bias::launchers();
  return table;
}

const BiasFunctions& emulatedCudaFusedBias() { return cuda_adapter::BiasAdapter<EmulatedCudaContext>::functions(); }

}  // namespace intra::kernels
