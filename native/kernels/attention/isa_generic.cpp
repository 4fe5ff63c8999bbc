// The fused attention kernels for the baseline instruction set, for CPUs without AVX2.
#define INTRA_VECTOR_BYTES 16
#define INTRA_KERNEL_SET genericKernels
#define INTRA_ISA_NAME "generic"
#include "fused_impl.inc"
