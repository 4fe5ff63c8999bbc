// Adam on the CPU in one pass: every parameter's elements split over libtorch's threads as
// one range, each element read once (p, g, m, v) and written once (p, m, v), where the
// reference makes six passes per parameter. Memory-bound: the loops (adam_rows.cpp) are built per CPU set.
// bf16 training: the gradient is read as bf16 and the bf16 working copy written in the same
// pass (2 bytes read, 2 written per element, where autocast cast both ways every step).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../../common/errors.h"
#include "adam.h"
#include "adam_rows.h"

namespace intra::kernels {

namespace {

using optim::AdamCoefficients;
using optim::AdamRowKernels;
using optim::adamRowKernels;

template <typename T>
AdamCoefficients<T> coefficientsFor(const AdamHyper& h, int64_t step) {
  const AdamCorrections correction = adamCorrections(h, step);
  return {T(h.beta1), T(1 - h.beta1), T(h.beta2), T(1 - h.beta2), T(std::sqrt(correction.second)), T(h.eps),
          T(-h.lr / correction.first)};
}

// One parameter's elements [local, local + n) through the chosen set's loops.
template <typename T>
void adamPiece(const AdamRowKernels& rows, const AdamTensors& t, int64_t local, int64_t n,
               const AdamCoefficients<T>& c) {
  T* p = t.param.data_ptr<T>() + local;
  T* m = t.expAvg.data_ptr<T>() + local;
  T* v = t.expAvgSq.data_ptr<T>() + local;
  if constexpr (std::is_same_v<T, float>) {
    uint16_t* w = t.working.defined() ? reinterpret_cast<uint16_t*>(t.working.data_ptr<at::BFloat16>()) + local : nullptr;
    if (t.grad.scalar_type() == at::kBFloat16) {
      rows.bf16Gradients(p, reinterpret_cast<const uint16_t*>(t.grad.data_ptr<at::BFloat16>()) + local, m, v, w, n, c);
    } else {
      rows.f32(p, t.grad.data_ptr<T>() + local, m, v, w, n, c);
    }
  } else {
    rows.f64(p, t.grad.data_ptr<T>() + local, m, v, nullptr, n, c);
  }
}

template <typename T>
void adamAll(const std::vector<AdamTensors>& tensors, const AdamHyper& h) {
  std::vector<int64_t> offsets{0};  // where each parameter starts in the one range
  std::vector<AdamCoefficients<T>> coefficients;
  const AdamRowKernels rows = adamRowKernels(cpuVectorSet());
  for (const AdamTensors& t : tensors) {
    offsets.push_back(offsets.back() + t.param.numel());
    coefficients.push_back(coefficientsFor<T>(h, t.step));
  }
  constexpr int64_t kGrain = 1 << 15;  // elements per task: a few hundred KB of traffic
  at::parallel_for(0, offsets.back(), kGrain, [&](int64_t begin, int64_t end) {
    size_t i = std::upper_bound(offsets.begin(), offsets.end(), begin) - offsets.begin() - 1;
    for (int64_t at = begin; at < end; ++i) {
      const int64_t stop = std::min(end, offsets[i + 1]), local = at - offsets[i];
      adamPiece<T>(rows, tensors[i], local, stop - at, coefficients[i]);
      at = stop;
    }
  });
}

void adamCpu(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper) {
  checkFusedAdamTensors(tensors, [](const at::Tensor& t) { return t.device().is_cpu(); }, "the CPU");
  if (tensors.empty()) return;
  if (tensors[0].param.scalar_type() == at::kDouble) {
    adamAll<double>(tensors, hyper);
  } else {
    adamAll<float>(tensors, hyper);
  }
}

}  // namespace

const OptimizerFunctions& cpuFusedOptimizer() {
  static const OptimizerFunctions functions{&adamCpu};
  return functions;
}

}  // namespace intra::kernels
