#include "distributed.h"

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

#ifdef INTRA_DISTRIBUTED
class GlooGroup final : public DataParallelGroup {
 public:
  GlooGroup(const GroupConfig& config, c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::ProcessGroupGloo> group)
      : DataParallelGroup(config), store_(std::move(store)), group_(std::move(group)) {}

  void average(const std::vector<torch::Tensor>& tensors) override {
    // Buckets of one dtype in the tensors' order, as DistributedDataParallel fills them.
    std::vector<std::vector<torch::Tensor>> buckets;
    std::map<c10::ScalarType, size_t> open;
    std::vector<int64_t> bytes;
    for (const torch::Tensor& t : tensors) {
      auto found = open.find(t.scalar_type());
      const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
      if (found == open.end() || bytes[found->second] + size > kBucketBytes) {
        open[t.scalar_type()] = buckets.size();
        buckets.emplace_back();
        bytes.push_back(0);
        found = open.find(t.scalar_type());
      }
      buckets[found->second].push_back(t);
      bytes[found->second] += size;
    }
    std::vector<torch::Tensor> flat;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& bucket : buckets) {
      std::vector<torch::Tensor> views;
      for (const auto& t : bucket) views.push_back(t.reshape({-1}));
      std::vector<torch::Tensor> one{torch::cat(views)};
      works.push_back(group_->allreduce(one));
      flat.push_back(one[0]);
    }
    for (size_t b = 0; b < buckets.size(); ++b) {
      wait(works[b]);
      torch::Tensor sum = flat[b].div_(static_cast<double>(config_.worldSize));
      int64_t offset = 0;
      for (const auto& t : buckets[b]) {
        t.copy_(sum.slice(0, offset, offset + t.numel()).view_as(t));
        offset += t.numel();
      }
    }
  }

 private:
  void wait(const c10::intrusive_ptr<c10d::Work>& work) const {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw distributedError("Rank " + std::to_string(config_.rank) + " of " + std::to_string(config_.worldSize) +
                             " lost the group (a rank stopped or timed out after " + std::to_string(config_.timeoutMs) +
                             " ms): " + firstLine(e.what()));
    }
  }
  static std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};
#endif

std::string firstLineOf(const std::string& text) { return text.substr(0, text.find('\n')); }

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

}  // namespace intra
