// One promise-returning AsyncWorker for every heavy call. The JS values the work needs
// are read on the main thread before it is queued; Execute() runs `work` on libuv's pool
// and never touches a JS value; `settle` builds the result back on the main thread.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <vector>

#include "convert.h"

namespace intra::addon {

class TaskWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Settle = std::function<Napi::Value(Napi::Env)>;

  // Queues the work; the returned promise settles with settle(env) or a coded Error.
  // `keepAlive` holds JS objects (input typed arrays) whose memory the work reads.
  static Napi::Promise run(Napi::Env env, Work work, Settle settle, std::vector<Napi::Value> keepAlive = {}) {
    auto* worker = new TaskWorker(env, std::move(work), std::move(settle), keepAlive);
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 private:
  TaskWorker(Napi::Env env, Work work, Settle settle, const std::vector<Napi::Value>& keepAlive)
      : Napi::AsyncWorker(env, "intra"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), settle_(std::move(settle)) {
    for (const auto& value : keepAlive) references_.push_back(Napi::Persistent(value));
  }

  void Execute() override {
    try {
      work_();
    } catch (...) {
      failure_ = describeCurrentException();
      SetError(failure_.message);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(settle_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(makeError(env, describeCurrentException()).Value());
    }
  }

  void OnError(const Napi::Error&) override { deferred_.Reject(makeError(Env(), failure_).Value()); }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Settle settle_;
  std::vector<Napi::Reference<Napi::Value>> references_;
  ErrorInfo failure_;
};

}  // namespace intra::addon
