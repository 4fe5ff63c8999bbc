// The CUDA Adam kernel's own source, run on CPU threads (device_code.h): the table entry
// (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic without a GPU.
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const OptimizerLaunchers& emulatedOptimizerLaunchers() {
  static const OptimizerLaunchers table = device::optim::launchers();
  return table;
}

const OptimizerFunctions& emulatedCudaFusedOptimizer() { return cuda_adapter::OptimizerAdapter<EmulatedCudaContext>::functions(); }

}  // namespace intra::kernels
