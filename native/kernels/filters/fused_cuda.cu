// The CUDA filter kernels, compiled by nvcc. Needs only the CUDA runtime: built on every
// machine with nvcc (CI included, no GPU), linked into the addon when libtorch has CUDA.
#include "fused_cuda.cuh"

namespace intra::kernels {

const FilterLaunchers& cudaFilterLaunchers() {
  static const FilterLaunchers table = device::filters::launchers();
  return table;
}

}  // namespace intra::kernels
