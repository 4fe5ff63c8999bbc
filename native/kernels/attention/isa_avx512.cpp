// The fused attention kernels for AVX-512 (built with -march=x86-64-v4 where the compiler targets x86-64).
#define INTRA_VECTOR_BYTES 64
#define INTRA_KERNEL_SET avx512Kernels
#define INTRA_ISA_NAME "avx512"
#include "fused_impl.inc"
