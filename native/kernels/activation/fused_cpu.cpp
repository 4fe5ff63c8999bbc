// bias + GELU on the CPU: rows split over libtorch's threads, each element read and written
// once per pass in its own type (bf16 included), arithmetic in fp32; the bias gradient summed
// from one partial per chunk of rows. The row loops are in fused_rows.cpp.
#include "../cpu_rows.h"
#include "bias_gelu.h"
#include "fused_rows.h"

namespace intra::kernels {

namespace {

// The row loops built for the CPU set every family runs (cpu_sets.h).
const activation::RowKernels& rowKernels() {
  static const activation::RowKernels chosen = activation::rowKernels(cpuVectorSet());
  return chosen;
}

at::Tensor forward(const at::Tensor& x, const at::Tensor& bias) {
  const int64_t rows = x.size(0), N = x.size(1);
  at::Tensor y = at::empty_like(x);
  withStorageType(x, "bias + GELU", [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
      entryFor<X>(rowKernels().forward)(dataOf<X>(x), dataOf<A>(bias), N, begin, end, dataOf<X>(y));
    });
  });
  return y;
}

std::vector<at::Tensor> backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& bias) {
  const int64_t rows = x.size(0), N = x.size(1);
  at::Tensor dx = at::empty_like(x), dbias;
  withStorageType(x, "bias + GELU", [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    dbias = sumOverRowChunks<A>(rows, N, bias.options(), [&](int64_t begin, int64_t end, A* partial) {
      entryFor<X>(rowKernels().backward)(dataOf<X>(dy), dataOf<X>(x), dataOf<A>(bias), N, begin, end, dataOf<X>(dx),
                                         partial);
    });
  });
  return {dx, dbias};
}

}  // namespace

const ActivationFunctions& cpuFusedActivation() {
  static const ActivationFunctions functions{forward, backward};
  return functions;
}

}  // namespace intra::kernels
