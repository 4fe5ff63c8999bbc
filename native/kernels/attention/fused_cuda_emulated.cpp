// The CUDA attention kernels' own source, run on CPU threads (device_code.h): the table
// entry (cpu, cuda-emulated), so that every CI run checks the CUDA kernels' logic against
// the float64 reference without a GPU.
#include "../cuda_contexts.h"
#include "fused_cuda_adapter.h"

#define INTRA_CUDA_EMULATION
#include "fused_cuda.cuh"

namespace intra::kernels {

const AttentionLaunchers& emulatedAttentionLaunchers() {
  static const AttentionLaunchers table = device::attention::launchers();
  return table;
}

const AttentionFunctions& emulatedCudaFusedAttention() { return cuda_adapter::AttentionAdapter<EmulatedCudaContext>::functions(); }

}  // namespace intra::kernels
