// Layer norm on the CPU: rows split over libtorch's threads, each row read and written once
// per pass in its own type (bf16 included) with fp32 statistics; the backward's weight and
// bias gradients summed from one partial per thread. The row loops are in fused_rows.cpp.
#include <ATen/Parallel.h>

#include <type_traits>

#include "../../common/errors.h"
#include "fused_rows.h"
#include "layer_norm.h"

namespace intra::kernels {

namespace {

at::ScalarType computeType(const at::Tensor& x) { return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

// Runs `rows(X*, A*)` with x's storage type X (float, double, or bf16 as uint16_t) and its compute type A.
template <typename Body>
auto withTypes(const at::Tensor& x, const Body& body) {
  switch (x.scalar_type()) {
    case at::kFloat:
      return body(static_cast<float*>(nullptr), static_cast<float*>(nullptr));
    case at::kDouble:
      return body(static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    case at::kBFloat16:
      return body(static_cast<uint16_t*>(nullptr), static_cast<float*>(nullptr));
    default:
      throw invalidArgument(std::string("Expected float, double or bfloat16 for layer norm's input but received ") +
                            c10::toString(x.scalar_type()));
  }
}

template <typename X>
X* dataOf(const at::Tensor& t) {
  return static_cast<X*>(t.data_ptr());
}

// The row loops built for the CPU set every family runs (cpu_sets.h).
const norm::RowKernels& rowKernels() {
  static const norm::RowKernels chosen = norm::rowKernels(cpuVectorSet());
  return chosen;
}

template <typename X>
auto forwardRows() {
  const norm::RowKernels& k = rowKernels();
  if constexpr (std::is_same_v<X, uint16_t>) return k.forwardBf16;
  else if constexpr (std::is_same_v<X, double>) return k.forwardF64;
  else return k.forwardF32;
}
template <typename X>
auto backwardRows() {
  const norm::RowKernels& k = rowKernels();
  if constexpr (std::is_same_v<X, uint16_t>) return k.backwardBf16;
  else if constexpr (std::is_same_v<X, double>) return k.backwardF64;
  else return k.backwardF32;
}

std::vector<at::Tensor> forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  const int64_t rows = x.size(0), D = x.size(1);
  at::Tensor y = at::empty_like(x), mean = at::empty({rows}, x.options().dtype(computeType(x)));
  at::Tensor rstd = at::empty_like(mean);
  withTypes(x, [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      forwardRows<X>()(dataOf<X>(x), dataOf<A>(weight), dataOf<A>(bias), static_cast<A>(eps), D, begin, end,
                        dataOf<X>(y), dataOf<A>(mean), dataOf<A>(rstd));
    });
  });
  return {y, mean, rstd};
}

std::vector<at::Tensor> backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& mean, const at::Tensor& rstd) {
  const int64_t rows = x.size(0), D = x.size(1);
  at::Tensor dx = at::empty_like(x);
  // One (dweight, dbias) partial per chunk of rows, summed after: no shared accumulator.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  at::Tensor partials = at::zeros({chunks, 2, D}, weight.options());
  withTypes(x, [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    const int64_t perChunk = (rows + chunks - 1) / chunks;
    at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
      for (int64_t chunk = first; chunk < last; ++chunk) {
        const int64_t begin = chunk * perChunk, end = std::min(rows, begin + perChunk);
        A* partial = dataOf<A>(partials) + chunk * 2 * D;
        backwardRows<X>()(dataOf<X>(dy), dataOf<X>(x), dataOf<A>(weight), dataOf<A>(mean), dataOf<A>(rstd), D, begin,
                           end, dataOf<X>(dx), partial, partial + D);
      }
    });
  });
  at::Tensor sums = partials.sum(0);
  return {dx, sums[0], sums[1]};
}

}  // namespace

const NormFunctions& cpuFusedNorm() {
  static const NormFunctions functions{forward, backward};
  return functions;
}

}  // namespace intra::kernels
