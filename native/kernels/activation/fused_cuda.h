// The CUDA bias + GELU kernels' launch interface: raw device pointers, sizes and a stream, no
// CUDA types and no ATen (fused_cuda_adapter.h turns tensors into these calls). Rows are dense
// (rows, N) of one type; the bias and its gradient are in the accumulation type (float;
// double for double rows).
#pragma once
#include <cstdint>

#include "../element_type.h"

namespace intra::kernels {

struct ActivationLaunchers {
  void (*biasGeluForward)(const RowProblem& p, const void* x, const void* bias, void* y, void* stream);
  // Scratch elements (accumulation type) the backward needs.
  int64_t (*biasGeluScratchElements)(const RowProblem& p);
  void (*biasGeluBackward)(const RowProblem& p, const void* dy, const void* x, const void* bias, void* dx, void* dbias,
                           void* scratch, void* stream);
};

const ActivationLaunchers& cudaActivationLaunchers();      // fused_cuda.cu
const ActivationLaunchers& emulatedActivationLaunchers();  // fused_cuda_emulated.cpp

}  // namespace intra::kernels
