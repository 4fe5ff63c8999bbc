#include "distributed.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "../common/errors.h"

#ifdef INTRA_DISTRIBUTED
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace intra {

namespace {

IntraError distributedError(const std::string& message) { return IntraError("INTRA_DISTRIBUTED", message); }

std::string firstLineOf(const std::string& text) { return text.substr(0, text.find('\n')); }

#ifdef INTRA_DISTRIBUTED
class GlooSum final : public PendingSum {
 public:
  GlooSum(c10::intrusive_ptr<c10d::Work> work, const GroupConfig& config) : work_(std::move(work)), config_(config) {}
  void wait() override {
    try {
      work_->wait();
    } catch (const std::exception& e) {
      throw distributedError("Rank " + std::to_string(config_.rank) + " of " + std::to_string(config_.worldSize) +
                             " lost the group (a rank stopped or timed out after " + std::to_string(config_.timeoutMs) +
                             " ms): " + firstLineOf(e.what()));
    }
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  const GroupConfig& config_;
};

class GlooGroup final : public DataParallelGroup {
 public:
  GlooGroup(const GroupConfig& config, c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::ProcessGroupGloo> group)
      : DataParallelGroup(config), store_(std::move(store)), group_(std::move(group)) {}

  std::unique_ptr<PendingSum> launchSum(const torch::Tensor& flat) override {
    std::vector<torch::Tensor> one{flat};
    return std::make_unique<GlooSum>(group_->allreduce(one), config_);
  }

  void broadcast(const torch::Tensor& tensor) override {
    std::vector<torch::Tensor> one{tensor};
    GlooSum(group_->broadcast(one), config_).wait();
  }

  // Gloo has no bf16 sums: bf16 gradients (the working copies') are summed in fp32, exactly
  // widened, and rounded once on the way back.
  c10::ScalarType sumType(c10::ScalarType type) const override { return type == torch::kBFloat16 ? torch::kFloat : type; }

 private:
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};
#endif

}  // namespace

bool DataParallelGroup::available() {
#ifdef INTRA_DISTRIBUTED
  return true;
#else
  return false;
#endif
}

std::unique_ptr<DataParallelGroup> DataParallelGroup::join(const GroupConfig& config, const std::string& configuration) {
  if (config.worldSize < 1 || config.rank < 0 || config.rank >= config.worldSize) {
    throw invalidArgument("Expected 0 <= RANK < WORLD_SIZE but received RANK " + std::to_string(config.rank) + " and WORLD_SIZE " +
                          std::to_string(config.worldSize));
  }
  if (config.port < 1 || config.port > 65535) throw invalidArgument("Expected a port in 1..65535 for MASTER_PORT but received " + std::to_string(config.port));
  if (config.timeoutMs < 1) throw invalidArgument("Expected a positive timeout but received " + std::to_string(config.timeoutMs));
#ifndef INTRA_DISTRIBUTED
  (void)configuration;
  throw unsupported("This build has no c10d with Gloo (libgloo-dev was missing when it was built): data-parallel training is not available");
#else
  const std::string master = config.masterAddr + ":" + std::to_string(config.port);
  const auto timeout = std::chrono::milliseconds(config.timeoutMs);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(config.port);
    options.isServer = config.rank == 0;
    options.numWorkers = config.worldSize;
    options.waitWorkers = true;
    options.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(config.masterAddr, options);
  } catch (const std::exception& e) {
    const std::string why = firstLineOf(e.what());
    if (config.rank == 0) {
      throw distributedError("Rank 0 cannot serve the rendezvous at " + master + " (is the port in use?), or not all " +
                             std::to_string(config.worldSize) + " ranks joined within " + std::to_string(config.timeoutMs) + " ms: " + why);
    }
    throw distributedError("Rank " + std::to_string(config.rank) + " cannot reach the master at " + master + " within " +
                           std::to_string(config.timeoutMs) + " ms: " + why);
  }
  // Every rank's configuration against rank 0's before any collective: a mismatch is named,
  // never a hang or a silent mix of two trainings.
  try {
    store->set("intra/config/" + std::to_string(config.rank), std::vector<uint8_t>(configuration.begin(), configuration.end()));
    const auto first = store->get("intra/config/0");
    const std::string zero(first.begin(), first.end());
    if (zero != configuration) {
      throw distributedError("Rank " + std::to_string(config.rank) + " was started with another configuration than rank 0 (model, training or world size differ): every rank must run the same command");
    }
  } catch (const IntraError&) {
    throw;
  } catch (const std::exception& e) {
    throw distributedError("Rank " + std::to_string(config.rank) + " lost the rendezvous at " + master + ": " + firstLineOf(e.what()));
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(config.rank), static_cast<int>(config.worldSize), options);
    return std::make_unique<GlooGroup>(config, store, group);
  } catch (const std::exception& e) {
    throw distributedError("Rank " + std::to_string(config.rank) + " could not connect to the other ranks: " + firstLineOf(e.what()));
  }
#endif
}

void DataParallelGroup::average(const std::vector<torch::Tensor>& tensors) {
  std::map<c10::ScalarType, std::vector<torch::Tensor>> byType;  // by the type the sums run in
  for (const torch::Tensor& t : tensors) byType[sumType(t.scalar_type())].push_back(t);
  std::vector<std::pair<torch::Tensor, std::unique_ptr<PendingSum>>> sums;
  for (const auto& [type, group] : byType) {
    std::vector<torch::Tensor> flat;
    for (const torch::Tensor& t : group) flat.push_back(t.reshape({-1}).to(type));
    torch::Tensor one = torch::cat(flat);
    sums.emplace_back(one, launchSum(one));
  }
  size_t next = 0;
  for (auto& [type, group] : byType) {
    auto& [flat, sum] = sums[next++];
    sum->wait();
    flat.div_(static_cast<double>(config_.worldSize));
    int64_t offset = 0;
    for (const torch::Tensor& t : group) {
      t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

GradientReducer::GradientReducer(DataParallelGroup& group) : group_(group) {}

GradientReducer::~GradientReducer() { clearHooks(); }

void GradientReducer::clearHooks() {
  for (size_t i = 0; i < hooks_.size(); ++i) {
    if (hooks_[i] != kNoHook) leaves_[i].remove_hook(hooks_[i]);
  }
  hooks_.clear();
}

void GradientReducer::beforeBackward(const std::vector<torch::Tensor>& leaves) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool same = leaves.size() == leaves_.size();
  for (size_t i = 0; same && i < leaves.size(); ++i) same = leaves[i].unsafeGetTensorImpl() == leaves_[i].unsafeGetTensorImpl();
  if (!same) {
    // A new list (the first step, or working copies made since): record the order anew. Every
    // rank sees the same change at the same step, so the layouts stay the same everywhere.
    clearHooks();
    leaves_ = leaves;
    buckets_.clear();
    place_.clear();
    statistics_.buckets = statistics_.bytesPerStep = 0;
    for (size_t i = 0; i < leaves_.size(); ++i) {
      hooks_.push_back(leaves_[i].requires_grad() ? leaves_[i].register_hook([this, i](const torch::Tensor& grad) { onGradient(i, grad); }) : kNoHook);
    }
  }
  arrival_.clear();
  copied_.assign(leaves_.size(), false);
  for (Bucket& bucket : buckets_) bucket.pending = bucket.leaves.size();
  nextBucket_ = 0;
  inBackward_ = true;
}

void GradientReducer::onGradient(size_t leaf, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!inBackward_ || !grad.defined()) return;
  if (place_.empty()) {
    arrival_.push_back(static_cast<int64_t>(leaf));
    return;
  }
  if (!group_.config().overlap) return;  // copied after the backward
  const auto [b, offset] = place_[leaf];
  if (b < 0) {
    throw invalidState("A parameter that had no gradient in the step that laid out the gradient buckets has one now: every step must use the same parameters");
  }
  if (copied_[leaf]) throw invalidState("A parameter's gradient arrived twice in one backward");
  putGradient(buckets_[static_cast<size_t>(b)], offset, leaf, grad);
  launchReadyBuckets(true);
}

void GradientReducer::putGradient(Bucket& bucket, int64_t offset, size_t leaf, const torch::Tensor& grad) {
  bucket.flat.narrow(0, offset, grad.numel()).view(grad.sizes()).copy_(grad);
  copied_[leaf] = true;
  --bucket.pending;
}

void GradientReducer::launchReadyBuckets(bool fromHook) {
  // In bucket order on every rank: the sums pair up across ranks by their order alone.
  while (nextBucket_ < buckets_.size() && buckets_[nextBucket_].pending == 0) {
    Bucket& bucket = buckets_[nextBucket_++];
    bucket.sum = group_.launchSum(bucket.flat);
    if (fromHook) ++statistics_.launchedInBackward;
  }
}

void GradientReducer::layOut(const std::vector<int64_t>& order) {
  const int64_t cap = std::max<int64_t>(1, group_.config().bucketBytes);
  std::map<c10::ScalarType, size_t> open;  // by the type the sums run in
  std::vector<int64_t> filled;             // elements
  place_.assign(leaves_.size(), {-1, 0});
  for (const int64_t leaf : order) {
    const torch::Tensor& t = leaves_[static_cast<size_t>(leaf)];
    const c10::ScalarType type = group_.sumType(t.scalar_type());
    const int64_t elementBytes = static_cast<int64_t>(c10::elementSize(type));
    auto found = open.find(type);
    // The first bucket is small, so that the first sum starts early in the backward.
    const int64_t limit = found != open.end() && found->second == 0 ? std::min(cap, kFirstBucketBytes) : cap;
    if (found == open.end() || (filled[found->second] > 0 && (filled[found->second] + t.numel()) * elementBytes > limit)) {
      open[type] = buckets_.size();
      buckets_.emplace_back();
      buckets_.back().type = type;
      filled.push_back(0);
      found = open.find(type);
    }
    Bucket& bucket = buckets_[found->second];
    place_[static_cast<size_t>(leaf)] = {static_cast<int64_t>(found->second), filled[found->second]};
    bucket.leaves.push_back(static_cast<size_t>(leaf));
    bucket.offsets.push_back(filled[found->second]);
    filled[found->second] += t.numel();
  }
  statistics_.bytesPerStep = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].flat = torch::empty({filled[b]}, leaves_[buckets_[b].leaves.front()].options().dtype(buckets_[b].type).requires_grad(false));
    buckets_[b].pending = buckets_[b].leaves.size();
    statistics_.bytesPerStep += filled[b] * static_cast<int64_t>(c10::elementSize(buckets_[b].type));
  }
  statistics_.buckets = static_cast<int64_t>(buckets_.size());
}

void GradientReducer::afterBackward() {
  std::lock_guard<std::mutex> lock(mutex_);
  inBackward_ = false;
  torch::NoGradGuard noGrad;
  if (place_.empty()) {
    // Rank 0's order is every rank's layout. A rank whose backward produced other gradients
    // runs another model or other kernels: every rank learns of it (a summed flag) and stops
    // here with the reason, before any weight changes, rather than mixing them or hanging.
    auto anyRank = [&](bool mismatch) {
      torch::Tensor flag = torch::full({1}, mismatch ? 1.0 : 0.0, torch::kDouble);
      group_.launchSum(flag)->wait();
      return flag.item<double>() > 0;
    };
    const auto mismatch = [&](const std::string& what) {
      return distributedError("The ranks' backward passes computed gradients for different parameters (" + what +
                              "): every rank must train the same model with the same kernels and precision");
    };
    const int64_t n = static_cast<int64_t>(leaves_.size()), arrived = static_cast<int64_t>(arrival_.size());
    torch::Tensor counts = torch::tensor({n, arrived}, torch::kLong);
    group_.broadcast(counts);
    const int64_t zeroLeaves = counts[0].item<int64_t>(), zeroArrived = counts[1].item<int64_t>();
    if (anyRank(zeroLeaves != n || zeroArrived != arrived)) {
      throw mismatch("rank 0: " + std::to_string(zeroArrived) + " of " + std::to_string(zeroLeaves) + " tensors, rank " +
                     std::to_string(group_.rank()) + ": " + std::to_string(arrived) + " of " + std::to_string(n));
    }
    torch::Tensor order = torch::tensor(arrival_, torch::kLong);
    if (arrived > 0) group_.broadcast(order);
    std::vector<int64_t> agreed(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + order.numel());
    std::vector<int64_t> a = agreed, b = arrival_;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (anyRank(a != b)) throw mismatch("the same number of tensors, but not the same ones");
    layOut(agreed);
  }
  // Gradients no hook has copied (all of them without overlap, or in the laying-out step).
  for (size_t b = nextBucket_; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    for (size_t i = 0; i < bucket.leaves.size(); ++i) {
      const size_t leaf = bucket.leaves[i];
      if (copied_[leaf]) continue;
      const torch::Tensor& grad = leaves_[leaf].grad();
      if (!grad.defined()) {
        throw invalidState("A parameter that had a gradient in the step that laid out the gradient buckets has none now: every step must use the same parameters");
      }
      putGradient(bucket, bucket.offsets[i], leaf, grad);
    }
  }
  launchReadyBuckets(false);
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) {
    bucket.sum->wait();
    bucket.sum.reset();
    bucket.flat.div_(static_cast<double>(group_.worldSize()));
    for (size_t i = 0; i < bucket.leaves.size(); ++i) {
      torch::Tensor grad = leaves_[bucket.leaves[i]].mutable_grad();
      grad.copy_(bucket.flat.narrow(0, bucket.offsets[i], grad.numel()).view(grad.sizes()));
    }
  }
  statistics_.waitSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++statistics_.steps;
}

GradientReducer::Statistics GradientReducer::statistics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return statistics_;
}

}  // namespace intra
