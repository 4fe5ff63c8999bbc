// Adam's parameter update: the ATen reference (the ops of libtorch's own Adam step, tensor
// by tensor) and each device's fused kernel (one pass over every parameter: read p, g, m, v,
// write p, m, v), at one dispatch point keyed by device and implementation like the others.
#pragma once
#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "../dispatch.h"

namespace intra::kernels {

// One parameter: its value, gradient and moments (one dtype, float or double, contiguous,
// one device), and its step count after this update (1 on the first). Mixed precision: a
// float parameter's gradient may be bf16 (that of its bf16 working copy), and `working`, when
// defined, is that bf16 copy, rewritten from the updated value (rounded to nearest even).
struct AdamTensors {
  at::Tensor param, grad, expAvg, expAvgSq;
  int64_t step;
  at::Tensor working = {};
};
struct AdamHyper {
  double lr, beta1, beta2, eps;
};
// 1 - beta^step for both moments, in double as libtorch computes them.
struct AdamCorrections {
  double first, second;
};
inline AdamCorrections adamCorrections(const AdamHyper& h, int64_t step) {
  return {1 - std::pow(h.beta1, static_cast<double>(step)), 1 - std::pow(h.beta2, static_cast<double>(step))};
}

// Updates every parameter in place. Reference: libtorch 1.13's Adam::step arithmetic.
void adamUpdate(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper, Implementation impl);
void adamUpdateReference(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper);

// What every fused Adam takes: float or double parameters (else INTRA_UNSUPPORTED), each
// parameter's value, gradient and moments contiguous, of one type and size, where `onDevice`
// accepts them (`where` names it); a float parameter's gradient may be bf16 and its working
// copy is bf16. Anything else is INTRA_INVALID_ARGUMENT.
void checkFusedAdamTensors(const std::vector<AdamTensors>& tensors, bool (*onDevice)(const at::Tensor&), const char* where);

struct OptimizerFunctions {
  void (*adam)(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper);
};
const OptimizerFunctions& cpuFusedOptimizer();  // fused_cpu.cpp
const OptimizerFunctions& emulatedCudaFusedOptimizer();  // fused_cuda_emulated.cpp
#ifdef INTRA_CUDA_KERNELS
const OptimizerFunctions& cudaFusedOptimizer();  // fused_cuda_adapter.cpp
#endif
// The fused optimizer for (device, implementation), or null when this build has none.
const OptimizerFunctions* fusedOptimizer(Device device, Implementation implementation);

}  // namespace intra::kernels
