// The bias add on the CPU: rows split over libtorch's threads, each element read and written
// once in its own type, arithmetic in the compute type; the bias gradient summed from one
// partial per chunk of rows. The row loops are in fused_rows.cpp.
#include "../cpu_rows.h"
#include "bias_add.h"
#include "fused_rows.h"

namespace intra::kernels {

namespace {

// The row loops built for the CPU set every family runs (cpu_sets.h).
const bias::RowKernels& rowKernels() {
  static const bias::RowKernels chosen = bias::rowKernels(cpuVectorSet());
  return chosen;
}

constexpr int64_t kRowGrain = 8;

at::Tensor forward(const at::Tensor& x, const at::Tensor& bias, const at::Tensor& residual) {
  const int64_t rows = x.size(0), N = x.size(1);
  // A residual in the compute type while x is narrower: bf16 products into the fp32 stream.
  const bool wide = residual.defined() && residual.scalar_type() != x.scalar_type();
  at::Tensor y = wide ? at::empty_like(residual) : at::empty_like(x);
  withStorageType(x, "bias add", [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    if (wide) {
      TORCH_CHECK(residual.scalar_type() == bias.scalar_type(), "bias add: a wide residual is in the compute type");
      at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
        entryFor<X>(rowKernels().addWide)(dataOf<X>(x), dataOf<A>(bias), dataOf<A>(residual), N, begin, end, dataOf<A>(y));
      });
      return;
    }
    const X* r = residual.defined() ? dataOf<X>(residual) : nullptr;
    at::parallel_for(0, rows, kRowGrain, [&](int64_t begin, int64_t end) {
      entryFor<X>(rowKernels().add)(dataOf<X>(x), dataOf<A>(bias), r, N, begin, end, dataOf<X>(y));
    });
  });
  return y;
}

std::vector<at::Tensor> backward(const at::Tensor& dy, at::ScalarType xType) {
  const int64_t rows = dy.size(0), N = dy.size(1);
  const at::ScalarType computeType = dy.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::TensorOptions sums = dy.options().dtype(computeType);
  if (xType == dy.scalar_type()) {
    // dx is dy itself: only the bias gradient is computed.
    at::Tensor dbias;
    withStorageType(dy, "bias add", [&](auto* xTag, auto* aTag) {
      using X = std::remove_pointer_t<decltype(xTag)>;
      using A = std::remove_pointer_t<decltype(aTag)>;
      dbias = sumOverRowChunks<A>(rows, N, sums, [&](int64_t begin, int64_t end, A* partial) {
        entryFor<X>(rowKernels().sum)(dataOf<X>(dy), N, begin, end, partial);
      });
    });
    return {dy, dbias};
  }
  TORCH_CHECK(xType == at::kBFloat16 && dy.scalar_type() == at::kFloat, "bias add: a narrowed gradient is bf16 of float");
  at::Tensor dx = at::empty(dy.sizes(), dy.options().dtype(at::kBFloat16));
  at::Tensor dbias = sumOverRowChunks<float>(rows, N, sums, [&](int64_t begin, int64_t end, float* partial) {
    entryFor<uint16_t>(rowKernels().narrowSum)(dataOf<float>(dy), N, begin, end, dataOf<uint16_t>(dx), partial);
  });
  return {dx, dbias};
}

}  // namespace

const BiasFunctions& cpuFusedBias() {
  static const BiasFunctions functions{forward, backward};
  return functions;
}

}  // namespace intra::kernels
