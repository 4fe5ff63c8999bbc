// The two axes every op family dispatches on: the device a tensor lives on, and the
// implementation asked for. Each family keeps one table keyed by both (attention.h,
// filters.h); the reference (plain ATen ops) runs on any device and needs no entry.
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace intra::kernels {

enum class Device { Cpu, Cuda };
constexpr int kDeviceCount = 2;

// reference: ATen composites, the truth, kept selectable at run time.
// fused: our kernels for the tensor's device.
// cuda-emulated: the CUDA kernels' own source run on CPU threads (one thread per CUDA
//   thread, a barrier for __syncthreads), so that their logic is tested without a GPU.
enum class Implementation { Reference, Fused, CudaEmulated };
constexpr int kImplementationCount = 3;

Implementation implementationFromString(const std::string& name);
std::string toString(Implementation implementation);
std::string toString(Device device);
// The dispatch device of a tensor; any device other than CPU and CUDA is refused.
Device deviceOf(const at::Tensor& tensor);

// Throws INTRA_UNSUPPORTED naming the op, the device and the implementation.
[[noreturn]] void notBuilt(const char* op, Device device, Implementation implementation);

// How many times any family's table handed out an entry for (device, implementation): the
// checks read it before and after a run to know that the kernel under test really ran (a
// dtype that fell through to the reference would compare the reference with itself).
uint64_t tableEntriesUsed(Device device, Implementation implementation);
void countTableEntryUse(Device device, Implementation implementation);

// Function tables of one op family, keyed by (device, implementation). An empty slot means
// "not built here": asking for it is an error that says so, never a silent fallback.
template <typename Functions>
class KernelTable {
 public:
  // `fill` sets the slots this build has (a table holds atomics: it is filled in place).
  template <typename Fill>
  explicit KernelTable(Fill fill) {
    fill(*this);
  }
  void set(Device device, Implementation implementation, const Functions* functions) {
    slot(device, implementation).store(functions);
  }
  // Puts `functions` in a slot and returns what was there: for the checks' deliberately wrong
  // kernels (checks/harness.h, CheckRequest::fault), which must fail through this very dispatch.
  const Functions* exchange(Device device, Implementation implementation, const Functions* functions) {
    return slot(device, implementation).exchange(functions);
  }
  const Functions* find(Device device, Implementation implementation) const {
    return slots_[static_cast<int>(device)][static_cast<int>(implementation)].load(std::memory_order_acquire);
  }
  // The entry for `tensor`'s device, or INTRA_UNSUPPORTED naming `op` where there is none.
  const Functions& require(const char* op, const at::Tensor& tensor, Implementation implementation) const {
    const Device device = deviceOf(tensor);
    const Functions* functions = find(device, implementation);
    if (functions == nullptr) notBuilt(op, device, implementation);
    countTableEntryUse(device, implementation);
    return *functions;
  }

 private:
  std::atomic<const Functions*>& slot(Device device, Implementation implementation) {
    return slots_[static_cast<int>(device)][static_cast<int>(implementation)];
  }
  std::array<std::array<std::atomic<const Functions*>, kImplementationCount>, kDeviceCount> slots_{};
};

// The GPU targets the CUDA kernels were compiled for ("sm_75+sm_80+sm_86+sm_89+sm_90+compute_90"), or "" when this
// build has no CUDA kernels.
std::string cudaKernelTargets();

}  // namespace intra::kernels
