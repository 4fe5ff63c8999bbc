// Adam on the CPU in one pass: every parameter's elements split over libtorch's threads as
// one range, each element read once (p, g, m, v) and written once (p, m, v), where the
// reference makes six passes per parameter. Memory-bound: loops are left to the vectoriser.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "../../common/errors.h"
#include "adam.h"

namespace intra::kernels {

namespace {

template <typename T>
struct Coefficients {
  T beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtCorrection2, eps, negativeStepSize;
};

template <typename T>
Coefficients<T> coefficientsFor(const AdamHyper& h, int64_t step) {
  const AdamCorrections correction = adamCorrections(h, step);
  return {T(h.beta1), T(1 - h.beta1), T(h.beta2), T(1 - h.beta2), T(std::sqrt(correction.second)), T(h.eps),
          T(-h.lr / correction.first)};
}

// The reference's arithmetic, element by element and in its order.
template <typename T>
void adamRange(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, int64_t n,
               const Coefficients<T>& c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T grad = g[i];
    const T mi = m[i] * c.beta1 + c.oneMinusBeta1 * grad;
    const T vi = v[i] * c.beta2 + c.oneMinusBeta2 * grad * grad;
    m[i] = mi;
    v[i] = vi;
    const T denom = std::sqrt(vi) / c.sqrtCorrection2 + c.eps;
    p[i] = p[i] + c.negativeStepSize * (mi / denom);
  }
}

template <typename T>
void adamAll(const std::vector<AdamTensors>& tensors, const AdamHyper& h) {
  std::vector<int64_t> offsets{0};  // where each parameter starts in the one range
  std::vector<Coefficients<T>> coefficients;
  for (const AdamTensors& t : tensors) {
    offsets.push_back(offsets.back() + t.param.numel());
    coefficients.push_back(coefficientsFor<T>(h, t.step));
  }
  constexpr int64_t kGrain = 1 << 15;  // elements per task: a few hundred KB of traffic
  at::parallel_for(0, offsets.back(), kGrain, [&](int64_t begin, int64_t end) {
    size_t i = std::upper_bound(offsets.begin(), offsets.end(), begin) - offsets.begin() - 1;
    for (int64_t at = begin; at < end; ++i) {
      const int64_t stop = std::min(end, offsets[i + 1]), local = at - offsets[i];
      const AdamTensors& t = tensors[i];
      adamRange(t.param.data_ptr<T>() + local, t.grad.data_ptr<T>() + local, t.expAvg.data_ptr<T>() + local,
                t.expAvgSq.data_ptr<T>() + local, stop - at, coefficients[i]);
      at = stop;
    }
  });
}

void checkTensors(const std::vector<AdamTensors>& tensors) {
  if (tensors.empty()) return;
  const at::ScalarType type = tensors[0].param.scalar_type();
  if (type != at::kFloat && type != at::kDouble) {
    throw unsupported(std::string("the fused Adam updates float or double parameters, not ") + c10::toString(type));
  }
  for (const AdamTensors& t : tensors) {
    for (const at::Tensor* x : {&t.param, &t.grad, &t.expAvg, &t.expAvgSq}) {
      if (x->scalar_type() != type || !x->is_contiguous() || !x->device().is_cpu() || x->numel() != t.param.numel()) {
        throw invalidArgument("the fused Adam expects each parameter's value, gradient and moments contiguous, of one "
                              "type and size, on the CPU");
      }
    }
  }
}

void adamCpu(const std::vector<AdamTensors>& tensors, const AdamHyper& hyper) {
  checkTensors(tensors);
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
