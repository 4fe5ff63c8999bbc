// bias + GELU on the CPU: rows split over libtorch's threads, each element read and written
// once per pass in its own type (bf16 included), arithmetic in fp32; the bias gradient summed
// from one partial per chunk of rows. The row loops are in fused_rows.cpp.
#include <ATen/Parallel.h>

#include <type_traits>

#include "../../common/errors.h"
#include "bias_gelu.h"
#include "fused_rows.h"

namespace intra::kernels {

namespace {

// Runs `body(X*, A*)` with x's storage type X (float, double, or bf16 as uint16_t) and its compute type A.
template <typename Body>
void withTypes(const at::Tensor& x, const Body& body) {
  switch (x.scalar_type()) {
    case at::kFloat:
      return body(static_cast<float*>(nullptr), static_cast<float*>(nullptr));
    case at::kDouble:
      return body(static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    case at::kBFloat16:
      return body(static_cast<uint16_t*>(nullptr), static_cast<float*>(nullptr));
    default:
      throw invalidArgument(std::string("Expected float, double or bfloat16 for bias + GELU's input but received ") +
                            c10::toString(x.scalar_type()));
  }
}

template <typename X>
X* dataOf(const at::Tensor& t) {
  return static_cast<X*>(t.data_ptr());
}

const activation::RowKernels& rowKernels() {
  static const activation::RowKernels chosen = activation::rowKernels(cpuVectorSet());
  return chosen;
}

template <typename X>
auto forwardRows() {
  const activation::RowKernels& k = rowKernels();
  if constexpr (std::is_same_v<X, uint16_t>) return k.forwardBf16;
  else if constexpr (std::is_same_v<X, double>) return k.forwardF64;
  else return k.forwardF32;
}
template <typename X>
auto backwardRows() {
  const activation::RowKernels& k = rowKernels();
  if constexpr (std::is_same_v<X, uint16_t>) return k.backwardBf16;
  else if constexpr (std::is_same_v<X, double>) return k.backwardF64;
  else return k.backwardF32;
}

at::Tensor forward(const at::Tensor& x, const at::Tensor& bias) {
  const int64_t rows = x.size(0), N = x.size(1);
  at::Tensor y = at::empty_like(x);
  withTypes(x, [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
      forwardRows<X>()(dataOf<X>(x), dataOf<A>(bias), N, begin, end, dataOf<X>(y));
    });
  });
  return y;
}

std::vector<at::Tensor> backward(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& bias) {
  const int64_t rows = x.size(0), N = x.size(1);
  at::Tensor dx = at::empty_like(x);
  // One dbias partial per chunk of rows, summed after: no shared accumulator.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  at::Tensor partials = at::zeros({chunks, N}, bias.options());
  withTypes(x, [&](auto* xType, auto* aType) {
    using X = std::remove_pointer_t<decltype(xType)>;
    using A = std::remove_pointer_t<decltype(aType)>;
    const int64_t perChunk = (rows + chunks - 1) / chunks;
    at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
      for (int64_t chunk = first; chunk < last; ++chunk) {
        const int64_t begin = chunk * perChunk, end = std::min(rows, begin + perChunk);
        backwardRows<X>()(dataOf<X>(dy), dataOf<X>(x), dataOf<A>(bias), N, begin, end, dataOf<X>(dx),
                          dataOf<A>(partials) + chunk * N);
      }
    });
  });
  return {dx, partials.sum(0)};
}

}  // namespace

const ActivationFunctions& cpuFusedActivation() {
  static const ActivationFunctions functions{forward, backward};
  return functions;
}

}  // namespace intra::kernels
