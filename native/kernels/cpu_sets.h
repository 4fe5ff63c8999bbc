// The CPU instruction sets our element-wise row kernels (layer norm, bias + GELU) are built
// for, as function target attributes, and which one runs: the set matching the attention
// kernels' (so that INTRA_CPU_KERNELS narrows every family at once and the tests reach each).
#pragma once

namespace intra::kernels {

enum class CpuVectorSet { Avx512, Avx2, Generic };

// From the attention kernels' chosen set (attention/fused_cpu.cpp).
CpuVectorSet cpuVectorSet();

}  // namespace intra::kernels

// INTRA_FOR_EACH_CPU_SET(MACRO) expands MACRO(Name, target attribute) once per set this build
// can run: a file of row loops defines MACRO to stamp out its entry points for each.
#if defined(INTRA_X86_KERNELS)
#define INTRA_FOR_EACH_CPU_SET(MACRO)                                                                   \
  MACRO(Avx512, __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,prefer-vector-width=512")))) \
  MACRO(Avx2, __attribute__((target("avx2,fma"))))                                                        \
  MACRO(Generic, )
#else
#define INTRA_FOR_EACH_CPU_SET(MACRO) MACRO(Generic, )
#endif
