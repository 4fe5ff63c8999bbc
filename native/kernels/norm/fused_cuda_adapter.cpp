// The table entry (cuda, fused) of layer norm: CUDA tensors to the kernels of fused_cuda.cu on
// the current stream. Built only when libtorch has CUDA.
#include "fused_cuda_adapter.h"

namespace intra::kernels {

const NormFunctions& cudaFusedNorm() { return cuda_adapter::NormAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
