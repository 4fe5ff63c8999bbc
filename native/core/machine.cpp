#include "machine.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <thread>

#include "../common/errors.h"
#include "../kernels/attention/attention.h"
#include "../kernels/dispatch.h"
#include "capabilities.h"

namespace intra {

namespace {
std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}
}  // namespace

const CpuDescription& cpuDescription() {
  static const CpuDescription description = [] {
    CpuDescription d;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, flags, vendor;
    // Only the first processor's block: every core of one machine reports the same.
    auto value = [&line] { return trimmed(line.substr(line.find(':') + 1)); };
    auto number = [&value] { return std::atoi(value().c_str()); };
    while (std::getline(cpuinfo, line) && !(line.empty() && !d.model.empty())) {
      auto key = trimmed(line.substr(0, line.find(':')));
      if (key == "model name") d.model = value();
      else if (key == "vendor_id") vendor = value();
      else if (key == "cpu family") d.family = number();
      else if (key == "model") d.modelNumber = number();
      else if (key == "stepping") d.stepping = number();
      else if (key == "flags") flags = " " + value() + " ";
    }
    for (const char* f : {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}) {
      if (flags.find(std::string(" ") + f + " ") != std::string::npos) d.features.push_back(f);
    }
    if (d.model.empty()) d.model = "unknown";
    d.core = cpuCoreName(vendor, d.family, d.modelNumber);
    return d;
  }();
  return description;
}

std::string cpuCoreName(const std::string& vendor, int family, int model) {
  if (vendor == "AuthenticAMD") {
    if (family == 0x17) return model >= 0x30 ? "Zen 2" : "Zen";
    if (family == 0x19) {
      const bool zen4 = (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) || (model >= 0xa0 && model <= 0xaf);
      return zen4 ? "Zen 4" : "Zen 3";
    }
    if (family == 0x1a) return "Zen 5";
  }
  if (vendor == "GenuineIntel" && family == 6) {
    switch (model) {
      case 0x55: return "Skylake/Cascade Lake/Cooper Lake server";
      case 0x6a: case 0x6c: return "Ice Lake server";
      case 0x8f: return "Sapphire Rapids";
      case 0xcf: return "Emerald Rapids";
      case 0xad: case 0xae: return "Granite Rapids";
      case 0xaf: return "Sierra Forest";
      default: break;
    }
  }
  return "";
}

std::string CpuDescription::label() const {
  if (family < 0) return model;
  std::ostringstream text;
  text << model << " (";
  if (!core.empty()) text << core << "; ";
  text << "family " << family << ", model " << modelNumber << ", stepping " << stepping << ")";
  return text.str();
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

namespace {

// A function of a library this process already mapped (never loads one), or null.
template <typename Function>
Function loadedFunction(const char* library, const char* name) {
  void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return nullptr;
  auto function = reinterpret_cast<Function>(dlsym(handle, name));
  dlclose(handle);  // RTLD_NOLOAD took a reference; the library stays mapped
  return function;
}

// The BLAS's own word for the kernels it picked (OpenBLAS: its core name, which
// OPENBLAS_CORETYPE pins) — what every fp32 product of the model runs.
std::string fp32Products(const std::string& blas) {
  const auto open = blas.find('('), close = blas.rfind(')');
  const std::string file = open == std::string::npos ? "" : blas.substr(open + 1, close - open - 1);
  if (blas.rfind("openblas", 0) == 0) {
    auto corename = loadedFunction<char* (*)()>(file.c_str(), "openblas_get_corename");
    return corename ? "openblas " + trimmed(corename()) : "openblas";
  }
  return blas.substr(0, open == std::string::npos ? blas.size() : open - 1);
}

// libtorch sends bf16 products to oneDNN where it has it; oneDNN says which ISA it dispatches.
std::string bf16Products() {
  if (!cpuHasBf16()) return "none (no bf16 instructions)";
  if (!at::hasMKLDNN()) return "aten (no oneDNN in this libtorch)";
  using EffectiveIsa = int (*)();
  using IsaName = const char* (*)(int);
  auto effective = loadedFunction<EffectiveIsa>("libdnnl.so.2", "dnnl_get_effective_cpu_isa");
  auto name = loadedFunction<IsaName>("libdnnl.so.2", "dnnl_cpu_isa2str");
  if (effective == nullptr || name == nullptr) return "onednn";
  const char* isa = name(effective());
  if (isa == nullptr) return "onednn";
  std::string text = isa;
  if (text.rfind("cpu_isa_", 0) == 0) text = text.substr(8);
  return "onednn " + text;
}

}  // namespace

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
  caps.cpu = cpuDescription();
  caps.cudaBuilt = at::hasCUDA();
  caps.cudaAvailable = torch::cuda::is_available();
  caps.device = caps.cudaAvailable ? "cuda" : "cpu";
  caps.fusedCpu = kernels::fusedInstructionSet();
  caps.fp32Products = fp32Products(caps.blas);
  caps.bf16Products = bf16Products();
  caps.fusedCuda = kernels::cudaKernelTargets();
  return caps;
}

}  // namespace intra
