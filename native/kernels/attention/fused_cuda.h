// The CUDA attention kernels' launch interface: raw device pointers, sizes and a stream,
// no CUDA types and no ATen (fused_cuda_adapter.h turns tensors into these calls). The same
// kernels compiled for the CPU emulation (fused_cuda_emulated.cpp) offer the same table.
//
// Pointers: q, k (heads x S x dqk) and v (heads x S x dv) through their HeadLayouts (the last
// dimension dense); out, dq, dk, dv dense (heads, S, d); lse and the scratch rowDot (heads, S)
// in the accumulation type (float, or double for double inputs). heads = batch * heads.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../element_type.h"
#include "layout.h"

namespace intra::kernels {

// The head widths (dqk, dv) a kernel is compiled for, as a type: the softmax kernels keep
// rows in registers and the tensor-core kernels size their tiles by them.
template <int QK, int V>
struct Widths {
  static constexpr int dqk = QK, dv = V;
};

struct AttentionProblem {
  ElementType type;
  int64_t heads, S, dqk, dv;
};

struct AttentionLaunchers {
  // The largest dqk and dv the softmax kernels take (their rows live in registers).
  int64_t maxHeadWidth;
  // Shared memory the linear attention kernels need per block, to refuse what will not fit.
  size_t (*linearSharedBytes)(const AttentionProblem& p);
  size_t (*sharedLimit)();
  void (*softmaxForward)(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                         const void* v, HeadLayout vl, void* out, void* lse, void* stream);
  void (*softmaxBackward)(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                          const void* v, HeadLayout vl, const void* out, const void* dout, HeadLayout gl,
                          const void* lse, void* rowDot, void* dq, void* dk, void* dv, void* stream);
  void (*linearForward)(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                        const void* v, HeadLayout vl, void* out, void* stream);
  void (*linearBackward)(const AttentionProblem& p, const void* q, HeadLayout ql, const void* k, HeadLayout kl,
                         const void* v, HeadLayout vl, const void* out, const void* dout, HeadLayout gl, void* dq,
                         void* dk, void* dv, void* stream);
};

const AttentionLaunchers& cudaAttentionLaunchers();      // fused_cuda.cu
const AttentionLaunchers& emulatedAttentionLaunchers();  // fused_cuda_emulated.cpp

}  // namespace intra::kernels
