// Data-parallel training over libtorch's c10d: a TCP store for the rendezvous (as PyTorch's
// launcher: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK) and Gloo for the collectives on CPUs.
// Each rank computes its share of a batch; the gradients are averaged in buckets before every
// optimiser step, so every rank takes the same step.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace intra {

struct GroupConfig {
  int64_t rank = 0;
  int64_t worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  int64_t port = 29500;
  // How long a rank waits for the others (the rendezvous, and each collective): a lost rank
  // makes the others fail after at most this long, never hang.
  int64_t timeoutMs = 60000;
};

class DataParallelGroup {
 public:
  virtual ~DataParallelGroup() = default;
  // Joins the group: INTRA_DISTRIBUTED errors that name the master for a port in use, a master
  // that cannot be reached in time, or ranks whose `configuration` (what must agree: model,
  // training, seed) differs from rank 0's.
  static std::unique_ptr<DataParallelGroup> join(const GroupConfig& config, const std::string& configuration);
  // Whether this build has c10d with Gloo.
  static bool available();

  int64_t rank() const { return config_.rank; }
  int64_t worldSize() const { return config_.worldSize; }
  // Averages the tensors over the ranks in place: flattened into buckets of one dtype (at most
  // kBucketBytes each), all buckets launched before the first is waited for.
  virtual void average(const std::vector<torch::Tensor>& tensors) = 0;
  static constexpr int64_t kBucketBytes = 25 << 20;  // DistributedDataParallel's default

 protected:
  explicit DataParallelGroup(const GroupConfig& config) : config_(config) {}
  GroupConfig config_;
};

}  // namespace intra
