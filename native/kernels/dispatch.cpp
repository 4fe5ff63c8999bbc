#include "dispatch.h"

#include "../common/errors.h"

namespace intra::kernels {

Implementation implementationFromString(const std::string& name) {
  if (name == "reference") return Implementation::Reference;
  if (name == "fused") return Implementation::Fused;
  if (name == "cuda-emulated") return Implementation::CudaEmulated;
  throw invalidArgument("Expected one of reference, fused, cuda-emulated for kernels but received '" + name + "'");
}

std::string toString(Implementation implementation) {
  switch (implementation) {
    case Implementation::Fused: return "fused";
    case Implementation::CudaEmulated: return "cuda-emulated";
    case Implementation::Reference: break;
  }
  return "reference";
}

std::string toString(Device device) { return device == Device::Cuda ? "cuda" : "cpu"; }

Device deviceOf(const at::Tensor& tensor) {
  if (tensor.device().is_cpu()) return Device::Cpu;
  if (tensor.device().is_cuda()) return Device::Cuda;
  throw unsupported("no kernels are built for device " + tensor.device().str());
}

std::string cudaKernelTargets() {
#ifdef INTRA_CUDA_KERNELS
  return INTRA_CUDA_TARGETS;
#else
  return "";
#endif
}

namespace {
std::atomic<uint64_t> entriesUsed[kDeviceCount][kImplementationCount];
}  // namespace

uint64_t tableEntriesUsed(Device device, Implementation implementation) {
  return entriesUsed[static_cast<int>(device)][static_cast<int>(implementation)].load();
}

void countTableEntryUse(Device device, Implementation implementation) {
  entriesUsed[static_cast<int>(device)][static_cast<int>(implementation)].fetch_add(1, std::memory_order_relaxed);
}

void notBuilt(const char* op, Device device, Implementation implementation) {
  throw unsupported(std::string("no ") + toString(implementation) + " " + op + " kernel is built for " +
                    toString(device) + " in this build; use kernels 'reference'");
}

}  // namespace intra::kernels
