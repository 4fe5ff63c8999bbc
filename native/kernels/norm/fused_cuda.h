// The CUDA layer-norm kernels' launch interface: raw device pointers, sizes and a stream, no
// CUDA types and no ATen (fused_cuda_adapter.h turns tensors into these calls). Rows are
// dense (rows, D); weight, bias, statistics and parameter gradients are in the accumulation
// type (float; double for double rows).
#pragma once
#include <cstdint>

#include "../element_type.h"

namespace intra::kernels {

struct NormLaunchers {
  // y in `output`: the rows' type, or BF16 from F32 rows (bf16 training's products read it).
  void (*forward)(const RowProblem& p, ElementType output, const void* x, const void* weight, const void* bias,
                  double eps, void* y, void* mean, void* rstd, void* stream);
  // Scratch elements (accumulation type) the backward needs.
  int64_t (*backwardScratchElements)(const RowProblem& p);
  // dy in `gradient` (the rows' type, or BF16 for F32 rows) -> dx in the rows' type, and
  // dparams (2, D): dweight then dbias.
  void (*backward)(const RowProblem& p, ElementType gradient, const void* dy, const void* x, const void* weight,
                   const void* mean, const void* rstd, void* dx, void* dparams, void* scratch, void* stream);
};

const NormLaunchers& cudaNormLaunchers();      // fused_cuda.cu
const NormLaunchers& emulatedNormLaunchers();  // fused_cuda_emulated.cpp

}  // namespace intra::kernels
