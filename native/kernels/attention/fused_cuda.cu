// The CUDA attention kernels, compiled by nvcc. Needs only the CUDA runtime: built on every
// machine with nvcc (CI included, no GPU), linked into the addon when libtorch has CUDA.
#include "fused_cuda.cuh"

namespace intra::kernels {

const AttentionLaunchers& cudaAttentionLaunchers() {
  static const AttentionLaunchers table = device::attention::launchers();
  return table;
}

}  // namespace intra::kernels
