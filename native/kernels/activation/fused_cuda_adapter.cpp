// The table entry (cuda, fused) of bias + GELU: CUDA tensors to the kernels of fused_cuda.cu on
// the current stream. Built only when libtorch has CUDA.
#include "fused_cuda_adapter.h"

namespace intra::kernels {

const ActivationFunctions& cudaFusedActivation() { return cuda_adapter::ActivationAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
