// The CUDA bias + GELU kernels' own source, run on CPU threads (device_code.h): the table entry
// (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic without a GPU.
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const ActivationLaunchers& emulatedActivationLaunchers() {
  static const ActivationLaunchers table = device::activation::launchers();
  return table;
}

const ActivationFunctions& emulatedCudaFusedActivation() { return cuda_adapter::ActivationAdapter<EmulatedCudaContext>::functions(); }

}  // namespace intra::kernels
