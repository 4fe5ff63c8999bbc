// Data-parallel training over libtorch's c10d: a TCP store for the rendezvous (as PyTorch's
// launcher: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK) and Gloo for the collectives on CPUs.
// Each rank computes its share of a batch; a GradientReducer averages the gradients over the
// ranks in buckets, launched while the backward still runs (as DistributedDataParallel does),
// so every rank takes the same step.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <mutex>
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
  // Gradients go out in buckets of at most this many bytes (DistributedDataParallel's
  // bucket_cap_mb; its first bucket is kFirstBucketBytes, so communication starts early).
  int64_t bucketBytes = 25 << 20;
  // Each bucket is launched as soon as its last gradient is computed, while the backward goes
  // on; false: every bucket after the backward (what the overlap saves, measured).
  bool overlap = true;
};

// A sum over the ranks in flight; wait() throws INTRA_DISTRIBUTED naming the lost group.
class PendingSum {
 public:
  virtual ~PendingSum() = default;
  virtual void wait() = 0;
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

  const GroupConfig& config() const { return config_; }
  int64_t rank() const { return config_.rank; }
  int64_t worldSize() const { return config_.worldSize; }
  // Starts summing the dense tensor `flat` over the ranks, in place. Every rank must launch
  // the same sums in the same order.
  virtual std::unique_ptr<PendingSum> launchSum(const torch::Tensor& flat) = 0;
  // Rank 0's values of `tensor` on every rank, in place.
  virtual void broadcast(const torch::Tensor& tensor) = 0;
  // The type a sum of tensors of `type` runs in (the backend's nearest that it can sum).
  virtual c10::ScalarType sumType(c10::ScalarType type) const { return type; }
  // Averages the tensors over the ranks in place, flattened into one buffer per dtype.
  void average(const std::vector<torch::Tensor>& tensors);

 protected:
  explicit DataParallelGroup(const GroupConfig& config) : config_(config) {}
  GroupConfig config_;
};

// Averages the gradients of a fixed list of leaves (the parameters and their bf16 working
// copies) over the ranks, as DistributedDataParallel's reducer does: the first step records
// the order in which the backward produces them, rank 0's order becomes every rank's bucket
// layout (in that order, one dtype per bucket), and from then on a hook on each leaf copies
// its gradient into its bucket and launches every bucket whose gradients are all in, in
// bucket order, while the backward computes the rest.
class GradientReducer {
 public:
  struct Statistics {
    int64_t steps = 0;               // steps reduced
    int64_t buckets = 0;             // buckets of the layout (0 before the first step)
    int64_t bytesPerStep = 0;        // bytes each rank sends into the sums per step
    int64_t launchedInBackward = 0;  // buckets launched from a hook, over all steps
    double waitSeconds = 0;          // time spent after the backward waiting for the sums
  };

  explicit GradientReducer(DataParallelGroup& group);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before each backward, with the leaves whose gradients the step may produce (the same
  // list, in the same order, on every rank; a changed list starts a new layout).
  void beforeBackward(const std::vector<torch::Tensor>& leaves);
  // After it: each gradient the backward produced holds the mean over the ranks.
  void afterBackward();
  Statistics statistics() const;
  static constexpr int64_t kFirstBucketBytes = 1 << 20;

 private:
  struct Bucket {
    c10::ScalarType type = torch::kFloat;  // what the sum runs in (the group's sumType)
    std::vector<size_t> leaves;
    std::vector<int64_t> offsets;  // elements of `flat`
    torch::Tensor flat;
    size_t pending = 0;  // gradients not in yet this step
    std::unique_ptr<PendingSum> sum;
  };
  void onGradient(size_t leaf, const torch::Tensor& grad);
  // Copies `grad` into its place in `bucket`: one gradient fewer pending there.
  void putGradient(Bucket& bucket, int64_t offset, size_t leaf, const torch::Tensor& grad);
  void layOut(const std::vector<int64_t>& order);
  void launchReadyBuckets(bool fromHook);
  void clearHooks();
  static constexpr unsigned kNoHook = ~0u;

  DataParallelGroup& group_;
  std::vector<torch::Tensor> leaves_;
  std::vector<unsigned> hooks_;  // by leaf; kNoHook where it needs no gradient
  std::vector<bool> copied_;     // by leaf: in its bucket this step
  std::vector<int64_t> arrival_;                             // the first step's order
  std::vector<std::pair<int64_t, int64_t>> place_;           // leaf -> (bucket, element offset); bucket -1: none
  std::vector<Bucket> buckets_;
  size_t nextBucket_ = 0;
  bool inBackward_ = false;
  Statistics statistics_;
  mutable std::mutex mutex_;  // hooks run on the autograd engine's threads
};

}  // namespace intra
