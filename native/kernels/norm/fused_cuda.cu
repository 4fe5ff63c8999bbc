// The CUDA layer-norm kernels, compiled by nvcc. Needs only the CUDA runtime: built on every
// machine with nvcc (CI included, no GPU), linked into the addon when libtorch has CUDA.
#include "fused_cuda.cuh"

namespace intra::kernels {

const NormLaunchers& cudaNormLaunchers() {
  static const NormLaunchers table = device::norm::launchers();
  return table;
}

}  // namespace intra::kernels
