#include "profile.h"

#include <ATen/record_function.h>

#include <ctime>

namespace intra {

namespace {
thread_local Profiler* active = nullptr;
thread_local int depth = 0;

// An op open on this thread: when it started and how long the ops nested in it took so far.
struct OpFrame : at::ObserverContext {
  Profiler* profiler = nullptr;
  OpFrame* parent = nullptr;
  int64_t startNs = 0, childNs = 0;
};
thread_local OpFrame* openOp = nullptr;

// Only the thread running a profiled engine call opens frames; ops elsewhere (intra-op
// workers, other engines) pass through. Scoped ops start and end on one thread, so the
// frames form a stack.
std::unique_ptr<at::ObserverContext> opStarted(const at::RecordFunction&) {
  Profiler* profiler = active;
  if (profiler == nullptr || !profiler->opsEnabled()) return nullptr;
  auto frame = std::make_unique<OpFrame>();
  frame->profiler = profiler;
  frame->parent = openOp;
  frame->startNs = monotonicNs();
  openOp = frame.get();
  return frame;
}

void opEnded(const at::RecordFunction& fn, at::ObserverContext* context) {
  auto* frame = static_cast<OpFrame*>(context);
  if (frame == nullptr) return;
  const int64_t total = monotonicNs() - frame->startNs;
  openOp = frame->parent;
  if (openOp != nullptr) openOp->childNs += total;
  frame->profiler->recordOp(fn.name(), total - frame->childNs, total);
}

// The observers are registered while some profiler times ops: registered, every op in the
// process pays for a RecordFunction.
std::mutex observersMutex;
int observerUsers = 0;
at::CallbackHandle observersHandle = 0;

void useOpObservers(bool on) {
  std::lock_guard<std::mutex> lock(observersMutex);
  if (on && observerUsers++ == 0) {
    observersHandle = at::addGlobalCallback(at::RecordFunctionCallback(opStarted, opEnded)
                                                .needsInputs(false)
                                                .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION,
                                                         at::RecordScope::USER_SCOPE}));
  } else if (!on && --observerUsers == 0) {
    at::removeCallback(observersHandle);
  }
}
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

Profiler::~Profiler() {
  if (opsEnabled_) useOpObservers(false);
}

void Profiler::setEnabled(bool enabled, bool ops) {
  const bool timeOps = enabled && ops;
  if (timeOps != opsEnabled_) useOpObservers(timeOps);
  opsEnabled_ = timeOps;
  enabled_ = enabled;
}

std::vector<OpStat> Profiler::takeOps() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<OpStat> out;
  out.reserve(ops_.size());
  for (auto& entry : ops_) out.push_back(std::move(entry.second));
  ops_.clear();
  return out;
}

void Profiler::recordOp(const char* name, int64_t selfNs, int64_t totalNs) {
  std::lock_guard<std::mutex> lock(mutex_);
  OpStat& stat = ops_[name];
  if (stat.calls == 0) stat.name = name;
  ++stat.calls;
  stat.selfNs += selfNs;
  stat.totalNs += totalNs;
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
