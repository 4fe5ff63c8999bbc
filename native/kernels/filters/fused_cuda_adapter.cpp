// The table entry (cuda, fused) of the filters: CUDA tensors to the kernels of fused_cuda.cu
// on the current stream. Built only when libtorch has CUDA.
#include "../cuda_contexts.h"
#include "fused_cuda_adapter.h"

namespace intra::kernels {

const FilterFunctions& cudaFusedFilters() { return cuda_adapter::FilterAdapter<CudaContext>::functions(); }

}  // namespace intra::kernels
