// The table entry (cuda, fused) of bias add: CUDA tensors to the kernels of fused_cuda.cu on
// the current stream. Built only when libtorch has CUDA.
#include "fused_cuda_adapter.h"

namespace intra::kernels {

const BiasFunctions& cudaFusedBias() { return cuda_adapter::BiasAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
