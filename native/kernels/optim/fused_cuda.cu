// The CUDA Adam kernel, compiled by nvcc. Needs only the CUDA runtime: built on every
// machine with nvcc (CI included, no GPU), linked into the addon when libtorch has CUDA.
#include "fused_cuda.cuh"

namespace intra::kernels {

const OptimizerLaunchers& cudaOptimizerLaunchers() {
  static const OptimizerLaunchers table = device::optim::launchers();
  return table;
}

}  // namespace intra::kernels
