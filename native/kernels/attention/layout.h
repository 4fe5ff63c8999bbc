// What the CPU and CUDA attention kernels share: how a head's rows lie in memory, and the
// linear attention's constant. No ATen and no CUDA in here.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define INTRA_HOST_DEVICE __host__ __device__
#else
#define INTRA_HOST_DEVICE
#endif

namespace intra::kernels {

constexpr double kLinearAttentionEps = 1e-6;  // added to the normaliser phi(q) . sum phi(k)

// Where head `index` (= batch * heads + head) of a (B, heads, S, d) array and its rows lie,
// in elements: the model hands over (B, S, heads, d) tensors viewed as (B, heads, S, d), and
// the kernels read them in place rather than copying them to a contiguous layout.
struct HeadLayout {
  int64_t heads, batchStride, headStride, rowStride;
  INTRA_HOST_DEVICE int64_t offset(int64_t index) const {
    return (index / heads) * batchStride + (index % heads) * headStride;
  }
};

}  // namespace intra::kernels
