// What the CPU's element-wise row kernels (layer norm, bias + GELU) share on the ATen side:
// rows as the kernels read them, the storage type dispatch, and per-chunk partial sums for
// the gradients that reduce over rows.
#pragma once
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <string>

#include "../common/errors.h"

namespace intra::kernels {

// float and bf16 compute in float, double in double.
inline at::ScalarType rowComputeType(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// x (..., N) as (rows, N) contiguous: float, double and bf16 as they are, other types (fp16) as float.
inline at::Tensor kernelRows(const at::Tensor& x) {
  const bool readable = x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble || x.scalar_type() == at::kBFloat16;
  return x.reshape({-1, x.size(-1)}).to(readable ? x.scalar_type() : at::kFloat).contiguous();
}

// A gradient (..., N) as the rows the forward saved: same (rows, N) shape and type, contiguous.
inline at::Tensor rowsLike(const at::Tensor& grad, const at::Tensor& rows) {
  return grad.reshape({-1, rows.size(1)}).to(rows.scalar_type()).contiguous();
}

template <typename X>
X* dataOf(const at::Tensor& t) {
  return static_cast<X*>(t.data_ptr());
}

// Runs body(X*, A*) (null pointers naming the types) with x's storage type X (float, double,
// or bf16 as uint16_t) and its compute type A.
template <typename Body>
void withStorageType(const at::Tensor& x, const char* op, const Body& body) {
  switch (x.scalar_type()) {
    case at::kFloat:
      return body(static_cast<float*>(nullptr), static_cast<float*>(nullptr));
    case at::kDouble:
      return body(static_cast<double*>(nullptr), static_cast<double*>(nullptr));
    case at::kBFloat16:
      return body(static_cast<uint16_t*>(nullptr), static_cast<float*>(nullptr));
    default:
      throw invalidArgument(std::string("Expected float, double or bfloat16 for ") + op + "'s input but received " +
                            c10::toString(x.scalar_type()));
  }
}

// Rows split into one chunk per thread; body(begin, end, partial) adds its chunk's share into
// its own zeroed `width` elements (of `options`' type). Returns the partials summed: (width).
template <typename A, typename Body>
at::Tensor sumOverRowChunks(int64_t rows, int64_t width, const at::TensorOptions& options, const Body& body) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  const int64_t perChunk = (rows + chunks - 1) / chunks;
  at::Tensor partials = at::zeros({chunks, width}, options);
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t chunk = first; chunk < last; ++chunk) {
      const int64_t begin = chunk * perChunk, end = std::min(rows, begin + perChunk);
      if (begin < end) body(begin, end, dataOf<A>(partials) + chunk * width);
    }
  });
  return partials.sum(0);
}

}  // namespace intra::kernels
