// What this build and machine offer: libtorch, the BLAS and the matrix products' instructions,
// threads, bf16, CUDA and the fused kernels per device (`intra info`, every bench record).
#pragma once
#include <cstdint>
#include <string>

#include "machine.h"

namespace intra {

struct Capabilities {
  std::string libtorch, blas, parallel, device, deviceNote;
  // Which fused kernels this build has per device: the CPU's instruction set (avx512, avx2,
  // generic), the CUDA targets (e.g. "sm_75+sm_80+sm_86+sm_89+sm_90+compute_90"), empty where none are built.
  std::string fusedCpu, fusedCuda;
  // The CPU: model string, CPUID signature, core and flags (from /proc/cpuinfo).
  CpuDescription cpu;
  // What runs the matrix products and with which instructions: fp32 through the BLAS loaded
  // ("openblas Zen"), bf16 through oneDNN ("onednn avx512_core_bf16"; "amx" on AMX CPUs).
  std::string fp32Products, bf16Products;
  int64_t threads = 0;
  bool bf16 = false, cudaBuilt = false, cudaAvailable = false;
};
Capabilities capabilities(int64_t threads);

}  // namespace intra
