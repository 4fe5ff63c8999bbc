// The raw-pointer fused attention kernels, built once per instruction set (isa_*.cpp)
// and chosen at run time from the CPU's features. No ATen in here: the autograd wiring
// and the threading live in fused_cpu.cpp, compiled for the baseline instruction set.
#pragma once
#include <cstdint>

namespace intra::kernels {
constexpr double kLinearAttentionEps = 1e-6;  // added to the normaliser phi(q) . sum phi(k)
}  // namespace intra::kernels

namespace intra::kernels::fused {

// Every call processes heads [begin, end) of contiguous (heads, S, d) arrays with a
// caller-provided scratch of scratchElements(...) elements.
template <typename T>
struct AttentionKernels {
  int64_t (*softmaxScratch)(int64_t S, int64_t dqk, int64_t dv);
  void (*softmaxForward)(const T* q, const T* k, const T* v, T* out, T* lse, int64_t S, int64_t dqk, int64_t dv,
                         int64_t begin, int64_t end, T* scratch);
  void (*softmaxBackward)(const T* q, const T* k, const T* v, const T* out, const T* dout, const T* lse, T* dq, T* dk,
                          T* dv, int64_t S, int64_t dqk, int64_t dvSize, int64_t begin, int64_t end, T* scratch);
  int64_t (*linearScratch)(int64_t S, int64_t dqk, int64_t dv);
  void (*linearForward)(const T* q, const T* k, const T* v, T* out, int64_t S, int64_t dqk, int64_t dv, int64_t begin,
                        int64_t end, T* scratch);
  void (*linearBackward)(const T* q, const T* k, const T* v, const T* out, const T* dout, T* dq, T* dk, T* dv,
                         int64_t S, int64_t dqk, int64_t dvSize, int64_t begin, int64_t end, T* scratch);
};

struct KernelSet {
  const char* isa;
  AttentionKernels<float> f32;
  AttentionKernels<double> f64;
};

KernelSet avx2Kernels();
KernelSet avx512Kernels();
KernelSet genericKernels();
// The widest set this CPU runs (AVX-512, AVX2, or the portable build).
const KernelSet& bestKernels();

}  // namespace intra::kernels::fused
