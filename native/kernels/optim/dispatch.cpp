// The one dispatch point of the optimizer: the table keyed by (device, implementation).
#include "adam.h"

#include <ATen/record_function.h>

namespace intra::kernels {

namespace {

KernelTable<OptimizerFunctions>& table() {
  static KernelTable<OptimizerFunctions> entries([](KernelTable<OptimizerFunctions>& t) {
    t.set(Device::Cpu, Implementation::Fused, &cpuFusedOptimizer());
    t.set(Device::Cpu, Implementation::CudaEmulated, &emulatedCudaFusedOptimizer());
#ifdef INTRA_CUDA_KERNELS
    t.set(Device::Cuda, Implementation::Fused, &cudaFusedOptimizer());
#endif
  });
  return entries;
}

}  // namespace

const OptimizerFunctions* fusedOptimizer(Device device, Implementation implementation) {
  return table().find(device, implementation);
}

void adamUpdate(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper, Implementation impl) {
  if (impl == Implementation::Reference || tensors.empty()) return adamUpdateReference(tensors, hyper);
  RECORD_USER_SCOPE("intra::Adam");
  table().require("Adam", tensors[0].param, impl).adam(tensors, hyper);
}

}  // namespace intra::kernels
