// Compile-time choices made at run time for the CUDA kernel source: the storage and
// accumulation types of an ElementType. Included by *.cuh only.
#pragma once
#include "device_code.h"
#include "element_type.h"

namespace intra::kernels::device {

template <typename Storage, typename Accumulate>
struct Types {
  using T = Storage;
  using A = Accumulate;
};

// Calls f(Types<T, A>{}) for the element type: A is float for float, bf16 and fp16, and
// double for double.
template <typename F>
void withTypes(ElementType type, F&& f) {
  switch (type) {
    case ElementType::F32: return f(Types<float, float>{});
    case ElementType::F64: return f(Types<double, double>{});
    case ElementType::BF16: return f(Types<Bf16, float>{});
    case ElementType::F16: return f(Types<F16, float>{});
  }
  throw invalidArgument("unknown element type for a CUDA kernel");
}

}  // namespace intra::kernels::device

namespace intra::kernels::device::INTRA_DEVICE_BUILD {

// The most blocks a grid-stride kernel is given. The emulation runs a grid's blocks one after
// another, each block's threads as CPU threads: a few blocks cover the kernels' indexing (every
// thread strides past the grid) as well as thousands do, at a fraction of the time.
#if defined(__CUDACC__)
constexpr int64_t kMaxGridBlocks = 65535 * 8;
#else
constexpr int64_t kMaxGridBlocks = 4;
#endif

// Blocks of `threads` for `work` items of a grid-stride kernel.
inline unsigned blocksFor(int64_t work, unsigned threads) {
  const int64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGridBlocks ? kMaxGridBlocks : blocks));
}

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD
