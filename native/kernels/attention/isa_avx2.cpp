// The fused attention kernels for AVX2 + FMA (built with -march=x86-64-v3 where the compiler targets x86-64).
#define INTRA_VECTOR_BYTES 32
#define INTRA_KERNEL_SET avx2Kernels
#define INTRA_ISA_NAME "avx2"
#include "fused_impl.inc"
