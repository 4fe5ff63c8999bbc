// The raw-pointer fused attention kernels, built once per instruction set (isa_*.cpp)
// and chosen at run time from the CPU's features. No ATen in here: the autograd wiring
// and the threading live in fused_cpu.cpp, compiled for the baseline instruction set.
#pragma once
#include <cstdint>

#include "layout.h"

namespace intra::kernels::fused {

// Inputs q, k, v (and dout) are read through their layouts; out, lse and the gradients are
// contiguous (heads, S, d), probs (heads, S, S). Every call processes heads [begin, end) with a
// caller-provided scratch of the given number of elements. The softmax forward writes the
// probabilities where probs is not null, and the backward reads them from there instead of
// recomputing them (one product and S^2 exponentials a head fewer).
template <typename T>
struct AttentionKernels {
  int64_t (*softmaxScratch)(int64_t S, int64_t dqk, int64_t dv);
  void (*softmaxForward)(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl, T* out,
                         T* lse, T* probs, int64_t S, int64_t dqk, int64_t dv, int64_t begin, int64_t end, T* scratch);
  void (*softmaxBackward)(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                          const T* out, const T* dout, HeadLayout gl, const T* lse, const T* probs, T* dq, T* dk,
                          T* dv, int64_t S, int64_t dqk, int64_t dvSize, int64_t begin, int64_t end, T* scratch);
  int64_t (*linearScratch)(int64_t S, int64_t dqk, int64_t dv);
  void (*linearForward)(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl, T* out,
                        int64_t S, int64_t dqk, int64_t dv, int64_t begin, int64_t end, T* scratch);
  void (*linearBackward)(const T* q, HeadLayout ql, const T* k, HeadLayout kl, const T* v, HeadLayout vl,
                         const T* out, const T* dout, HeadLayout gl, T* dq, T* dk, T* dv, int64_t S, int64_t dqk,
                         int64_t dvSize, int64_t begin, int64_t end, T* scratch);
};

// Softmax attention on bf16 inputs with bf16 dot products (isa_avx512_bf16.cpp): q, k, v
// and dout bf16 (as uint16_t) read through their layouts; out (heads, S, dv) bf16, lse
// (heads, S) fp32 and the bf16 gradients contiguous; scratch in bytes, 64-byte aligned. As
// above, probs (heads, S, S) bf16 is written by the forward and read by the backward where
// it is not null.
struct Bf16SoftmaxKernels {
  int64_t (*forwardScratchBytes)(int64_t S, int64_t dqk, int64_t dv);
  void (*forward)(const uint16_t* q, HeadLayout ql, const uint16_t* k, HeadLayout kl, const uint16_t* v, HeadLayout vl,
                  uint16_t* out, float* lse, uint16_t* probs, int64_t S, int64_t dqk, int64_t dv, int64_t begin,
                  int64_t end, void* scratch);
  int64_t (*backwardScratchBytes)(int64_t S, int64_t dqk, int64_t dv);
  void (*backward)(const uint16_t* q, HeadLayout ql, const uint16_t* k, HeadLayout kl, const uint16_t* v, HeadLayout vl,
                   const uint16_t* out, const uint16_t* dout, HeadLayout gl, const float* lse, const uint16_t* probs,
                   uint16_t* dq, uint16_t* dk, uint16_t* dv, int64_t S, int64_t dqk, int64_t dvSize, int64_t begin,
                   int64_t end, void* scratch);
};

struct KernelSet {
  const char* isa;
  AttentionKernels<float> f32;
  AttentionKernels<double> f64;
  // Set where the CPU has bf16 dot products; otherwise bf16 inputs are computed in float.
  const Bf16SoftmaxKernels* bf16Softmax = nullptr;
};

KernelSet avx2Kernels();
KernelSet avx512Kernels();
KernelSet genericKernels();
Bf16SoftmaxKernels avx512Bf16SoftmaxKernels();
// The widest set this CPU runs (AVX-512, AVX2, or the portable build).
const KernelSet& bestKernels();

}  // namespace intra::kernels::fused
