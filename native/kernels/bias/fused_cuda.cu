// The CUDA bias-add kernels, compiled by nvcc. Needs only the CUDA runtime: built on every
// machine with nvcc (CI included, no GPU), linked into the addon when libtorch has CUDA.
#include "fused_cuda.cuh"

namespace intra::kernels {

const BiasLaunchers& cudaBiasLaunchers() {
  static const BiasLaunchers table = device::bias::launchers();
  return table;
}

}  // namespace intra::kernels
