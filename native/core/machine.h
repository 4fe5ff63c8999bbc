// The machine under the engine: CPU model and instruction sets, the BLAS really loaded, thread
// counts, the device asked for, bf16 autocast scopes, and wall-clock time.
#pragma once
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace intra {

using Clock = std::chrono::steady_clock;

inline double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The key of a parameter's state in a torch::optim optimizer: the TensorImpl's address as
// text in libtorch 1.13 (written as c10::guts::to_string wrote it), the address itself in 2.x.
template <typename Key>
Key optimizerStateKeyOf(c10::TensorImpl* parameter) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << parameter;
    return text.str();
  } else {
    return Key(parameter);
  }
}
inline auto optimizerStateKey(const torch::Tensor& parameter) {
  using Key = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
  return optimizerStateKeyOf<Key>(parameter.unsafeGetTensorImpl());
}

// bf16 matrix products for the scope (autocast), fp32 everywhere else. libtorch 2.4 replaced
// the per-backend setters (kept there only as deprecated wrappers) by device-typed ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define INTRA_DEVICE_TYPED_AUTOCAST 1
#endif
// The type CPU autocast computes products in on this thread, if it is on.
inline std::optional<at::ScalarType> cpuAutocastType() {
#ifdef INTRA_DEVICE_TYPED_AUTOCAST
  if (!at::autocast::is_autocast_enabled(at::kCPU)) return std::nullopt;
  return at::autocast::get_autocast_dtype(at::kCPU);
#else
  if (!at::autocast::is_cpu_enabled()) return std::nullopt;
  return at::autocast::get_autocast_cpu_dtype();
#endif
}
class AutocastScope {
 public:
  AutocastScope(bool enabled, const torch::Device& device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
#ifdef INTRA_DEVICE_TYPED_AUTOCAST
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, at::kBFloat16);
#else
    if (cuda_) {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
#endif
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::clear_cache();
#ifdef INTRA_DEVICE_TYPED_AUTOCAST
    at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
#endif
  }

 private:
  bool enabled_, cuda_;
};

// The CPU's model string, its CPUID signature and the instruction-set flags that matter to our
// figures, from /proc/cpuinfo: figures from different CPUs must never be compared blind. Under
// a hypervisor the model string can be as bare as "AMD EPYC" for two generations whose bf16
// ceilings differ twofold, so the signature and the core it names go with it.
struct CpuDescription {
  std::string model;
  int family = -1, modelNumber = -1, stepping = -1;  // -1: /proc/cpuinfo did not say
  std::string core;                                   // e.g. "Zen 5"; empty when not known
  std::vector<std::string> features;
  // "AMD EPYC (Zen 5; family 26, model 2, stepping 1)": what records and `intra info` print.
  std::string label() const;
};
// The core generation a CPUID family/model names, for the server parts we run on; "" otherwise.
std::string cpuCoreName(const std::string& vendor, int family, int model);
const CpuDescription& cpuDescription();
bool cpuHasBf16();
// Which BLAS library is really mapped into the process.
std::string loadedBlas();
// 0 = all cores.
int64_t resolveThreads(int64_t requested);
// cpu, cuda or auto; `note` says what auto chose and why.
torch::Device resolveDevice(const std::string& requested, std::string& note);

}  // namespace intra
