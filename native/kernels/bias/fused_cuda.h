// The CUDA bias-add kernels' launch interface: raw device pointers, sizes and a stream, no
// CUDA types and no ATen (fused_cuda_adapter.h turns tensors into these calls). x is dense
// (rows, N); the bias and its gradient are in the accumulation type (float; double for double
// rows); a residual is x's type, or the accumulation type (a wide one: bf16 products into the
// fp32 stream), and the output is the residual's type.
#pragma once
#include <cstdint>

#include "../element_type.h"

namespace intra::kernels {

struct BiasLaunchers {
  // residual null for none; `residualType` says its type (x's, or the accumulation type).
  void (*forward)(const RowProblem& p, const void* x, const void* bias, const void* residual, ElementType residualType,
                  void* y, void* stream);
  // Scratch elements (accumulation type) the backward needs.
  int64_t (*scratchElements)(const RowProblem& p);
  // dy (rows, N) in p's type -> dbias, and dx in `narrowType` (BF16 from F32 dy) where dx is not
  // null (the caller passes dy itself as dx where the types agree).
  void (*backward)(const RowProblem& p, const void* dy, void* dx, ElementType narrowType, void* dbias, void* scratch,
                   void* stream);
};

const BiasLaunchers& cudaBiasLaunchers();      // fused_cuda.cu
const BiasLaunchers& emulatedBiasLaunchers();  // fused_cuda_emulated.cpp

}  // namespace intra::kernels
