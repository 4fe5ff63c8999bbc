// The table entry (cuda, fused) of Adam: CUDA tensors to the kernels of fused_cuda.cu on
// the current stream. Built only when libtorch has CUDA.
#include "fused_cuda_adapter.h"

namespace intra::kernels {

const OptimizerFunctions& cudaFusedOptimizer() { return cuda_adapter::OptimizerAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
