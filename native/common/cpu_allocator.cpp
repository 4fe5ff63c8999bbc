#include "cpu_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace intra {

namespace {

std::atomic<int64_t> live{0}, peak{0};
std::atomic<bool> installed{false};
std::mutex sizesMutex;
// Both never freed: tensors may be released during exit.
std::unordered_map<void*, int64_t>* sizes = new std::unordered_map<void*, int64_t>();
// Freed blocks of 1 MiB and more, kept for reuse by size: the same shapes come back every
// step, and a fresh large block costs page faults and zeroing by the kernel each time.
std::unordered_multimap<int64_t, void*>* cache = new std::unordered_multimap<int64_t, void*>();
int64_t cachedBytes = 0;
constexpr int64_t kCacheMinimum = 1 << 20;
constexpr int64_t kCacheLimit = int64_t(4) << 30;
c10::DeleterFnPtr innerDeleter = nullptr;

void cachingCountingDelete(void* pointer) {
  if (pointer == nullptr) return;
  int64_t bytes = 0;
  bool kept = false;
  {
    std::lock_guard<std::mutex> lock(sizesMutex);
    auto it = sizes->find(pointer);
    if (it != sizes->end()) {
      bytes = it->second;
      sizes->erase(it);
    }
    if (bytes >= kCacheMinimum && cachedBytes + bytes <= kCacheLimit) {
      cache->emplace(bytes, pointer);
      cachedBytes += bytes;
      kept = true;
    }
  }
  live.fetch_sub(bytes);
  if (!kept) innerDeleter(pointer);
}

void* takeCached(int64_t bytes) {
  if (bytes < kCacheMinimum) return nullptr;
  std::lock_guard<std::mutex> lock(sizesMutex);
  auto it = cache->find(bytes);
  if (it == cache->end()) return nullptr;
  void* pointer = it->second;
  cache->erase(it);
  cachedBytes -= bytes;
  (*sizes)[pointer] = bytes;
  return pointer;
}

// Wraps the default CPU allocator. Some ATen code asserts that a CPU DataPtr's context
// is its data pointer, so sizes are kept aside rather than in the context.
class CachingCountingAllocator final : public c10::Allocator {
 public:
  explicit CachingCountingAllocator(c10::Allocator* inner) : inner_(inner) {}

// libtorch 2.3 made allocate non-const and added copy_data to the interface.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define INTRA_ALLOCATE_CONST
#define INTRA_ALLOCATOR_COPY_DATA 1
#else
#define INTRA_ALLOCATE_CONST const
#endif
  c10::DataPtr allocate(size_t bytes) INTRA_ALLOCATE_CONST override {
    void* raw = takeCached(static_cast<int64_t>(bytes));
    c10::Device device(c10::DeviceType::CPU);
    if (raw == nullptr) {
      c10::DataPtr data = inner_->allocate(bytes);
      raw = data.get();
      if (raw == nullptr) return data;
      device = data.device();
      data.release_context();  // ownership passes to cachingCountingDelete
      std::lock_guard<std::mutex> lock(sizesMutex);
      (*sizes)[raw] = static_cast<int64_t>(bytes);
    }
    const int64_t now = live.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    return {raw, raw, &cachingCountingDelete, device};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &cachingCountingDelete; }
#ifdef INTRA_ALLOCATOR_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

 private:
  c10::Allocator* inner_;
};

}  // namespace

void installCachingCountingAllocator() {
  if (installed.exchange(true)) return;
  c10::Allocator* inner = c10::GetCPUAllocator();
  innerDeleter = inner->raw_deleter();
  if (innerDeleter == nullptr) {  // an allocator we cannot wrap safely: leave it as it is
    installed.store(false);
    return;
  }
  static CachingCountingAllocator allocator(inner);
  c10::SetCPUAllocator(&allocator, /*priority=*/1);
}

void releaseCachedBlocks() {
  std::unordered_multimap<int64_t, void*> released;
  {
    std::lock_guard<std::mutex> lock(sizesMutex);
    released.swap(*cache);
    cachedBytes = 0;
  }
  for (const auto& [bytes, pointer] : released) innerDeleter(pointer);
}

void resetPeakBytes() { peak.store(live.load()); }
int64_t peakBytes() { return peak.load(); }
int64_t liveBytes() { return live.load(); }
bool cachingCountingAllocatorInstalled() { return installed.load(); }

}  // namespace intra
