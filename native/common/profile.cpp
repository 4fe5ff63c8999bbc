#include "profile.h"

#include <ctime>

namespace intra {

namespace {
thread_local Profiler* active = nullptr;
thread_local int depth = 0;
}  // namespace

int64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool profilingActive() { return active != nullptr; }

void recordPhase(std::string name, int64_t startNs, int64_t endNs, int depth) {
  if (active) active->record({std::move(name), startNs, endNs, depth});
}

std::vector<ProfileEvent> Profiler::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ProfileEvent> out;
  out.swap(events_);
  return out;
}

void Profiler::record(ProfileEvent event) {
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(std::move(event));
}

ProfilerBinding::ProfilerBinding(Profiler* profiler) : previous_(active) {
  active = profiler != nullptr && profiler->enabled() ? profiler : nullptr;
}

ProfilerBinding::~ProfilerBinding() { active = previous_; }

ProfileScope::ProfileScope(const char* name) : profiler_(active) {
  if (profiler_) {
    event_.name = name;
    begin();
  }
}

ProfileScope::ProfileScope(std::string name) : profiler_(active) {
  if (profiler_) {
    event_.name = std::move(name);
    begin();
  }
}

void ProfileScope::begin() {
  event_.depth = depth++;
  event_.startNs = monotonicNs();
}

ProfileScope::~ProfileScope() {
  if (!profiler_) return;
  event_.endNs = monotonicNs();
  --depth;
  profiler_->record(std::move(event_));
}

}  // namespace intra
