// The CUDA bias + GELU kernels, compiled by nvcc. Needs only the CUDA runtime: built on every
// machine with nvcc (CI included, no GPU), linked into the addon when libtorch has CUDA.
#include "fused_cuda.cuh"

namespace intra::kernels {

const ActivationLaunchers& cudaActivationLaunchers() {
  static const ActivationLaunchers table = device::activation::launchers();
  return table;
}

}  // namespace intra::kernels
