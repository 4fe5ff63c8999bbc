#include "machine.h"

#include <ATen/Parallel.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "../common/errors.h"
#include "../kernels/attention/attention.h"
#include "../kernels/dispatch.h"
#include "engine.h"

namespace intra {

const CpuDescription& cpuDescription() {
  static const CpuDescription description = [] {
    CpuDescription d;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, flags;
    while (std::getline(cpuinfo, line)) {
      if (d.model.empty() && line.rfind("model name", 0) == 0) d.model = line.substr(line.find(':') + 2);
      if (flags.empty() && line.rfind("flags", 0) == 0) flags = line.substr(line.find(':') + 1) + " ";
    }
    for (const char* f : {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}) {
      if (flags.find(std::string(" ") + f + " ") != std::string::npos) d.features.push_back(f);
    }
    if (d.model.empty()) d.model = "unknown";
    return d;
  }();
  return description;
}

bool cpuHasBf16() {
  const auto& f = cpuDescription().features;
  return std::find(f.begin(), f.end(), "avx512_bf16") != f.end() || std::find(f.begin(), f.end(), "amx_bf16") != f.end();
}

// Which BLAS library is really mapped into the process (Debian switches libblas.so.3
// between the reference BLAS and OpenBLAS through alternatives).
std::string loadedBlas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string file = line.substr(slash);
    if (file.find("openblas") != std::string::npos) return "openblas (" + file + ")";
    if (file.find("libmkl") != std::string::npos) return "mkl (" + file + ")";
    if (file.find("libblas") != std::string::npos && found.empty()) found = file;
  }
  if (!found.empty()) {
    char resolved[4096];
    if (realpath(found.c_str(), resolved)) found = resolved;
    return (found.find("openblas") != std::string::npos ? "openblas (" : "reference blas (") + found + ")";
  }
  return "none found";
}

int64_t resolveThreads(int64_t requested) {
  if (requested > 0) return requested;
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int64_t>(cores);
}

torch::Device resolveDevice(const std::string& requested, std::string& note) {
  const bool built = torch::cuda::is_available() || at::hasCUDA();
  if (requested == "cpu") return torch::kCPU;
  if (requested == "cuda") {
    if (!at::hasCUDA()) throw unsupported("device 'cuda' was asked for, but this build's libtorch has no CUDA");
    if (!torch::cuda::is_available()) throw unsupported("device 'cuda' was asked for, but no CUDA device is visible");
    return torch::kCUDA;
  }
  if (requested == "auto") {
    if (torch::cuda::is_available()) {
      note = "auto chose cuda";
      return torch::kCUDA;
    }
    note = built ? "auto chose cpu: no CUDA device is visible" : "auto chose cpu: libtorch was built without CUDA";
    return torch::kCPU;
  }
  throw invalidArgument("Expected one of cpu, cuda, auto for device but received '" + requested + "'");
}

Capabilities capabilities(int64_t threads) {
  Capabilities caps;
  caps.libtorch = TORCH_VERSION;
  caps.blas = loadedBlas();
  caps.threads = resolveThreads(threads);
  caps.parallel = at::get_parallel_info();
  caps.bf16 = cpuHasBf16();
  caps.cpuModel = cpuDescription().model;
  caps.cpuFeatures = cpuDescription().features;
  caps.cudaBuilt = at::hasCUDA();
  caps.cudaAvailable = torch::cuda::is_available();
  caps.device = caps.cudaAvailable ? "cuda" : "cpu";
  caps.fusedCpu = kernels::fusedInstructionSet();
  caps.fusedCuda = kernels::cudaKernelTargets();
  return caps;
}

}  // namespace intra
