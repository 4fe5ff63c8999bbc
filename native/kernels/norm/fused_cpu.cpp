// Layer norm on the CPU: rows split over libtorch's threads, each row read and written once
// per pass in its own type (bf16 included) with fp32 statistics; the backward's weight and
// bias gradients summed from one partial per chunk of rows. The row loops are in fused_rows.cpp.
#include "../cpu_rows.h"
#include "fused_rows.h"
#include "layer_norm.h"

namespace intra::kernels {

namespace {

// The row loops built for the CPU set every family runs (cpu_sets.h).
const norm::RowKernels& rowKernels() {
  static const norm::RowKernels chosen = norm::rowKernels(cpuVectorSet());
  return chosen;
}

// Float rows with a bf16 output (or gradient): bf16 training's residual stream and products.
bool floatToBf16(const at::Tensor& x, at::ScalarType other) {
  return x.scalar_type() == at::kFloat && other == at::kBFloat16;
}

std::vector<at::Tensor> forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps,
                                at::ScalarType output) {
  const int64_t rows = x.size(0), D = x.size(1);
  at::Tensor y = at::empty_like(x, x.options().dtype(output)), mean = at::empty({rows}, x.options().dtype(rowComputeType(x)));
  at::Tensor rstd = at::empty_like(mean);
  if (floatToBf16(x, output)) {
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      rowKernels().forwardToBf16(dataOf<float>(x), dataOf<float>(weight), dataOf<float>(bias), static_cast<float>(eps),
                                 D, begin, end, dataOf<uint16_t>(y), dataOf<float>(mean), dataOf<float>(rstd));
    });
    return {y, mean, rstd};
  }
  TORCH_CHECK(output == x.scalar_type(), "layer norm writes x's type, or bf16 from float x");
  withStorageType(x, "layer norm", [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      entryFor<X>(rowKernels().forward)(dataOf<X>(x), dataOf<A>(weight), dataOf<A>(bias), static_cast<A>(eps), D, begin,
                                        end, dataOf<X>(y), dataOf<A>(mean), dataOf<A>(rstd));
    });
  });
  return {y, mean, rstd};
}

std::vector<at::Tensor> backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& mean, const at::Tensor& rstd) {
  const int64_t rows = x.size(0), D = x.size(1);
  at::Tensor dx = at::empty_like(x), sums;
  if (floatToBf16(x, dy.scalar_type())) {
    sums = sumOverRowChunks<float>(rows, 2 * D, weight.options(), [&](int64_t begin, int64_t end, float* partial) {
      rowKernels().backwardFromBf16(dataOf<uint16_t>(dy), dataOf<float>(x), dataOf<float>(weight), dataOf<float>(mean),
                                    dataOf<float>(rstd), D, begin, end, dataOf<float>(dx), partial, partial + D);
    });
    return {dx, sums.narrow(0, 0, D), sums.narrow(0, D, D)};
  }
  TORCH_CHECK(dy.scalar_type() == x.scalar_type(), "layer norm's gradient comes in x's type, or bf16 for float x");
  withStorageType(x, "layer norm", [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    // Each chunk's partial holds its dweight then its dbias.
    sums = sumOverRowChunks<A>(rows, 2 * D, weight.options(), [&](int64_t begin, int64_t end, A* partial) {
      entryFor<X>(rowKernels().backward)(dataOf<X>(dy), dataOf<X>(x), dataOf<A>(weight), dataOf<A>(mean),
                                         dataOf<A>(rstd), D, begin, end, dataOf<X>(dx), partial, partial + D);
    });
  });
  return {dx, sums.narrow(0, 0, D), sums.narrow(0, D, D)};
}

}  // namespace

const NormFunctions& cpuFusedNorm() {
  static const NormFunctions functions{forward, backward};
  return functions;
}

}  // namespace intra::kernels
