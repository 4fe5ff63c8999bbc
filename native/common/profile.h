// A phase profiler for the engine: named, nested wall-clock scopes on the calling thread,
// recorded only while profiling is on. Times are CLOCK_MONOTONIC nanoseconds, the clock
// Node's process.hrtime uses, so native and JavaScript phases share one time line.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace intra {

struct ProfileEvent {
  std::string name;
  int64_t startNs = 0, endNs = 0;
  int depth = 0;
};

// One ATen op (or autograd node, or kernel of ours) aggregated over every call: self time
// excludes the ops nested in it, so the selves of all ops add up to the time spent in ops.
struct OpStat {
  std::string name;
  int64_t calls = 0, selfNs = 0, totalNs = 0;
};

class Profiler {
 public:
  Profiler() = default;
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // `ops`: also time every ATen op, autograd node and kernel of ours that the engine's calls
  // run on their own thread (RecordFunction observers: each op then costs a little more).
  void setEnabled(bool enabled, bool ops = false);
  bool enabled() const { return enabled_; }
  bool opsEnabled() const { return opsEnabled_; }
  std::vector<ProfileEvent> take();
  void record(ProfileEvent event);
  std::vector<OpStat> takeOps();
  void recordOp(const char* name, int64_t selfNs, int64_t totalNs);

 private:
  std::atomic<bool> enabled_{false}, opsEnabled_{false};
  std::mutex mutex_;
  std::vector<ProfileEvent> events_;
  std::unordered_map<std::string, OpStat> ops_;
};

int64_t monotonicNs();

// Whether this thread's engine call is being profiled, and a phase timed by other means
// (autograd hooks mark where the backward of one block starts and ends).
bool profilingActive();
void recordPhase(std::string name, int64_t startNs, int64_t endNs, int depth);

// Makes `profiler` the one scopes on this thread report to, for one engine call.
class ProfilerBinding {
 public:
  explicit ProfilerBinding(Profiler* profiler);
  ~ProfilerBinding();

 private:
  Profiler* previous_;
};

// Times its own lifetime as one phase when profiling is on; costs a branch otherwise.
class ProfileScope {
 public:
  explicit ProfileScope(const char* name);
  explicit ProfileScope(std::string name);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  void begin();
  Profiler* profiler_;
  ProfileEvent event_;
};

}  // namespace intra
