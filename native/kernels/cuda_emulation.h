// Runs CUDA kernel source on CPU threads, for tests on machines without a GPU: one CPU
// thread per CUDA thread of a block, __syncthreads as a barrier among them, the blocks of a
// grid one after another, dynamic shared memory as one buffer poisoned with NaN bytes
// before each block (a read of shared memory nobody wrote shows up in the results).
// It also checks what CUDA leaves undefined: every thread of a block must reach the same
// number of barriers (a thread that returned early while others wait is an error here).
// Not a performance model: warps, memory coalescing and timing mean nothing in it.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/errors.h"

namespace intra::kernels::emulation {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

// A reusable barrier for a fixed number of threads (std::barrier is C++20; this is C++17).
class Barrier {
 public:
  explicit Barrier(unsigned count) : count_(count) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t generation = generation_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
      return;
    }
    changed_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  unsigned count_, arrived_ = 0;
  uint64_t generation_ = 0;
};

struct ThreadState {
  dim3 threadIdx, blockIdx, blockDim, gridDim;
  unsigned char* shared = nullptr;
  Barrier* barrier = nullptr;
  int64_t barriersReached = 0;
  // The thread's warp (32 consecutive threads of the block): a barrier among them (__syncwarp)
  // and one exchange slot per lane (shuffles).
  Barrier* warpBarrier = nullptr;
  uint64_t* laneSlots = nullptr;
  unsigned lane = 0;
};

inline ThreadState& current() {
  thread_local ThreadState state;
  return state;
}

inline void syncThreads() {
  ThreadState& s = current();
  ++s.barriersReached;
  s.barrier->wait();
}

// __syncwarp: every lane of the warp waits for the others (a full mask: the kernels' only use).
inline void syncWarp() { current().warpBarrier->wait(); }

// __shfl_xor_sync with a full mask: the value of lane (lane ^ laneMask), every lane taking part.
template <typename V>
V shuffleXor(V value, unsigned laneMask) {
  static_assert(sizeof(V) <= sizeof(uint64_t), "a shuffled value fits one slot");
  ThreadState& s = current();
  std::memcpy(&s.laneSlots[s.lane], &value, sizeof(V));
  s.warpBarrier->wait();
  V other;
  std::memcpy(&other, &s.laneSlots[s.lane ^ laneMask], sizeof(V));
  s.warpBarrier->wait();  // no lane writes its slot again before every lane has read
  return other;
}

// The sum over the warp's 32 lanes as the xor butterfly of shuffles computes it (masks 16, 8,
// 4, 2, 1: every lane ends with the same bits, additions commuting exactly), from one exchange
// of the lanes' values instead of five: two warp barriers where the shuffles take ten.
template <typename V>
V warpButterflySum(V value) {
  static_assert(sizeof(V) <= sizeof(uint64_t), "a summed value fits one slot");
  ThreadState& s = current();
  std::memcpy(&s.laneSlots[s.lane], &value, sizeof(V));
  s.warpBarrier->wait();
  V lanes[32];
  for (unsigned l = 0; l < 32; ++l) std::memcpy(&lanes[l], &s.laneSlots[l], sizeof(V));
  s.warpBarrier->wait();
  for (unsigned mask = 16; mask > 0; mask >>= 1) {
    V next[32];
    for (unsigned l = 0; l < 32; ++l) next[l] = lanes[l] + lanes[l ^ mask];
    std::memcpy(lanes, next, sizeof(lanes));
  }
  return lanes[s.lane];
}

// Runs `body` (the kernel call) as a grid of blocks of threads.
inline void run(const std::function<void()>& body, dim3 grid, dim3 block, size_t sharedBytes, const char* file,
                int line) {
  const unsigned threads = block.x * block.y * block.z;
  if (threads == 0 || threads > 1024) {
    throw IntraError("INTRA_DEVICE", std::string("kernel launch at ") + file + ":" + std::to_string(line) +
                                         ": a block of " + std::to_string(threads) + " threads");
  }
  std::vector<uint64_t> pool(sharedBytes / sizeof(uint64_t) + 2);
  Barrier barrier(threads);
  std::vector<std::unique_ptr<Barrier>> warps;
  for (unsigned first = 0; first < threads; first += 32) warps.push_back(std::make_unique<Barrier>(std::min(32u, threads - first)));
  std::vector<uint64_t> slots(threads + 32);
  std::vector<int64_t> reached(threads, 0);
  std::atomic<bool> mismatch{false};
  auto worker = [&](unsigned t) {
    ThreadState& s = current();
    s.threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
    s.blockDim = block;
    s.gridDim = grid;
    s.shared = reinterpret_cast<unsigned char*>(pool.data());
    s.barrier = &barrier;
    s.warpBarrier = warps[t / 32].get();
    s.laneSlots = slots.data() + (t / 32) * 32;
    s.lane = t % 32;
    for (unsigned z = 0; z < grid.z; ++z) {
      for (unsigned y = 0; y < grid.y; ++y) {
        for (unsigned x = 0; x < grid.x; ++x) {
          if (t == 0) std::memset(pool.data(), 0xff, pool.size() * sizeof(uint64_t));
          barrier.wait();
          s.blockIdx = dim3(x, y, z);
          s.barriersReached = 0;
          body();
          reached[t] = s.barriersReached;
          barrier.wait();
          if (t == 0) {
            for (unsigned i = 1; i < threads; ++i) mismatch = mismatch || reached[i] != reached[0];
          }
        }
      }
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) workers.emplace_back(worker, t);
  for (auto& w : workers) w.join();
  if (mismatch) {
    throw IntraError("INTRA_DEVICE", std::string("kernel launched at ") + file + ":" + std::to_string(line) +
                                         ": the threads of a block reached different numbers of barriers");
  }
}

}  // namespace intra::kernels::emulation

// CUDA's built-in variables, for kernel source compiled by the emulation only.
#define threadIdx (::intra::kernels::emulation::current().threadIdx)
#define blockIdx (::intra::kernels::emulation::current().blockIdx)
#define blockDim (::intra::kernels::emulation::current().blockDim)
#define gridDim (::intra::kernels::emulation::current().gridDim)
