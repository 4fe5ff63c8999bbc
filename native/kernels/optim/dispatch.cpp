// The one dispatch point of the optimizer: the table keyed by (device, implementation).
#include "adam.h"

#include <ATen/record_function.h>

#include <string>

#include "../../common/errors.h"

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

void checkFusedAdamTensors(const std::vector<AdamTensors>& tensors, bool (*onDevice)(const at::Tensor&), const char* where) {
  if (tensors.empty()) return;
  const at::ScalarType type = tensors[0].param.scalar_type();
  if (type != at::kFloat && type != at::kDouble) {
    throw unsupported(std::string("the fused Adam updates float or double parameters, not ") + c10::toString(type));
  }
  for (const AdamTensors& t : tensors) {
    for (const at::Tensor* x : {&t.param, &t.grad, &t.expAvg, &t.expAvgSq, &t.working}) {
      if (!x->defined() && x == &t.working) continue;
      // bf16 where mixed precision allows it: a float parameter's gradient and working copy.
      const bool mixed = (x == &t.grad || x == &t.working) && type == at::kFloat;
      const bool typed = x->scalar_type() == type ? x != &t.working : mixed && x->scalar_type() == at::kBFloat16;
      if (!typed || !x->is_contiguous() || !onDevice(*x) || x->numel() != t.param.numel()) {
        throw invalidArgument(std::string("the fused Adam expects each parameter's value, gradient and moments contiguous, of "
                                          "one type and size, on ") + where +
                              " (a float parameter's gradient may be bf16, its working copy is bf16)");
      }
    }
  }
}

void adamUpdate(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper, Implementation impl) {
  if (impl == Implementation::Reference || tensors.empty()) return adamUpdateReference(tensors, hyper);
  RECORD_USER_SCOPE("intra::Adam");
  table().require("Adam", tensors[0].param, impl).adam(tensors, hyper);
}

}  // namespace intra::kernels
