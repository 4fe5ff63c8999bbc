// The engine: one model, its optimiser, its images and its statistics, on one device.
// Every public method takes the engine's lock, so calls on one engine run one at a time.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "../kernels/dispatch.h"
#include "../kernels/registry.h"
#include "anomaly_map.h"
#include "capabilities.h"
#include "config.h"
#include "distributed.h"
#include "machine.h"
#include "model.h"
#include "texture.h"
#include "../common/profile.h"

namespace intra {

// Images as handed over by the caller: uint8, (count, height, width, channels) interleaved.
struct ImageBatch {
  const uint8_t* data = nullptr;
  int64_t count = 0, height = 0, width = 0, channels = 0;
  // Optional: each image's texture descriptors at the model's size, float (count,
  // kTextureDescriptors, height, width) (texture.h); what map settings with the texture term need.
  const float* texture = nullptr;
};

struct LossParts {
  double total = 0, l2 = 0, gms = 0, ssim = 0;
  int64_t windows = 0;
  double seconds = 0;
};

struct AnomalyResult {
  torch::Tensor maps;            // float (V, n, H, W), contiguous, CPU: one set per MapConfig asked for
  torch::Tensor scores;          // float (V, n)
  torch::Tensor reconstruction;  // float (n, H, W, C) in [0, 1], or undefined
};


// What a loaded engine is for. Scoring reads the weights, statistics and configs and skips
// the optimiser state and the best epoch's copy (three quarters of a trained model's file,
// and of its memory); such an engine refuses to train or to save, so that nothing it lacks
// is ever lost or silently reset.
enum class LoadPurpose { Training, Scoring };

class Engine {
 public:
  Engine(const ModelConfig& model, const TrainConfig& train, const EngineOptions& options);
  static std::unique_ptr<Engine> load(const std::string& path, const EngineOptions& options,
                                      LoadPurpose purpose = LoadPurpose::Training);

  void setTrainingImages(const ImageBatch& images);
  // The validation windows are fixed: `windowsPerImage` of them per image (0: the training
  // config's), drawn from `windowSeed` (absent: one derived from the training seed).
  void setValidationImages(const ImageBatch& images, int64_t windowsPerImage = 0,
                           std::optional<uint64_t> windowSeed = std::nullopt);
  LossParts trainSteps(int64_t steps);
  LossParts validate();  // in a group: the whole set's loss, each rank computing a share
  torch::Tensor reconstruct(const ImageBatch& images);  // float (n, H, W, C)
  // withMaps false: the scores alone cross back (the maps stay on the device). One
  // reconstruction serves every MapConfig of `configs` (empty: the model's own).
  AnomalyResult anomalyMaps(const ImageBatch& images, bool withReconstruction, bool withMaps = true,
                            const std::vector<MapConfig>& configs = {});
  // Anomaly scores (float (V, n), CPU) of the validation images the engine holds, per MapConfig
  // (empty: the model's own): thresholds are fitted on them without sending them across again.
  torch::Tensor validationScores(const std::vector<MapConfig>& configs = {});
  // The per-pixel mean (eq. 7) and spread of each term's diff over the training images, with
  // the current weights, in one pass.
  void fitNormalStatistics();
  // The texture term's statistics (texture.h): the caller reads the training images at their own
  // size (the engine holds them at the model's) and adds their descriptors, float (n,
  // kTextureDescriptors, H, W), batch by batch; fitting turns the sums into each pixel's mean and
  // precision matrix and replaces the model's.
  void addTextureSamples(const torch::Tensor& descriptors);
  void fitTextureStatistics();
  // The scoring settings the model file keeps (the paper's unless set).
  MapConfig mapConfig() const {
    std::lock_guard<std::mutex> lock(mapConfigMutex_);  // not the engine's: describe() must not wait on a running call
    return mapConfig_;
  }
  void setMapConfig(const MapConfig& config);
  // Trains as one rank of a data-parallel group from now on: each step draws the whole batch
  // (the same on every rank, from the same sampler), computes this rank's share of it, and
  // averages the gradients over the ranks before the optimiser step; losses are the group's.
  // Blocks until every rank has joined (or the timeout). Every rank must hold the same weights.
  void joinGroup(const GroupConfig& config);
  // The mean over the ranks of each value (as given when training alone): how the ranks agree
  // on what only the host decides (whether to stop, a budget's clock).
  std::vector<double> groupAverage(const std::vector<double>& values);
  // 0 and 1 when training alone.
  int64_t groupRank() const { return group_ ? group_->rank() : 0; }
  int64_t groupSize() const { return group_ ? group_->worldSize() : 1; }
  // The group's settings and what its gradient all-reduce has done (default and zero alone).
  GroupConfig groupConfig() const { return group_ ? group_->config() : GroupConfig{}; }
  GradientReducer::Statistics reducerStatistics() const { return reducer_ ? reducer_->statistics() : GradientReducer::Statistics{}; }
  void keepBest();     // remembers the current weights as the best so far
  void restoreBest();  // puts the remembered best weights back
  void save(const std::string& path, const std::string& metadataJson);

  const ModelConfig& modelConfig() const { return model_; }
  const TrainConfig& trainConfig() const { return train_; }
  // A copy taken under the engine's lock: a queued save may be replacing it.
  std::string metadata() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return metadata_;
  }
  int64_t stepsDone() const { return stepsDone_; }
  int64_t parameterCount() const;
  bool hasNormalStatistics() const { return termMean_[0].defined(); }
  // Spreads and the intensity term's statistics: what every map but the paper's needs (files
  // fitted before they existed hold the structure term's mean alone).
  bool hasSpreadStatistics() const { return termSpread_[0].defined(); }
  bool hasTextureStatistics() const { return textureMean_.defined() && texturePrecision_.defined(); }
  bool scoringOnly() const { return scoringOnly_; }
  int64_t inferenceBatch() const { return options_.inferenceBatch; }
  std::string deviceName() const { return device_.str(); }
  const std::string& deviceNote() const { return deviceNote_; }
  Profiler& profiler() { return profiler_; }
  kernels::Implementation kernels() const { return kernels_; }
  // What each kernel family runs (registry.h): `kernels` where the family's table has an entry
  // for this device and EngineOptions::referenceFor does not name it, else its reference
  // (Adam: libtorch's own step; layer norm, bias + GELU, bias adds: ATen's composites). Weights:
  // under bf16 training with the fused Adam, the products read bf16 working copies of the
  // weights that Adam rewrites; else autocast casts the fp32 masters every step.
  kernels::Implementation kernelsFor(kernels::Family family) const { return familyKernels_[static_cast<size_t>(family)]; }

 private:
  // Loaded weights replace the initial ones: load skips drawing them (a third of a
  // scoring load's time at the paper's size).
  enum class InitialWeights { Drawn, Skipped };
  Engine(const ModelConfig& model, const TrainConfig& train, const EngineOptions& options, InitialWeights initial);
  static std::unique_ptr<Engine> loadFile(const std::string& path, const EngineOptions& options, LoadPurpose purpose);
  // texture: the images' descriptors (n, kTextureDescriptors, H, W), or undefined.
  AnomalyResult anomalyOf(const torch::Tensor& patches, bool withReconstruction, bool withMaps, const std::vector<MapConfig>& configs,
                          const torch::Tensor& texture = {});
  // `configs`, or the model's own when empty, each checked against the statistics held and,
  // for the texture term, the descriptors the call brought.
  std::vector<MapConfig> usableConfigs(const std::vector<MapConfig>& configs, bool withDescriptors) const;
  // The statistics' tensors by their names in a model file.
  std::array<std::pair<const char*, torch::Tensor*>, kMapTerms * 2> statisticsTensors() {
    return {{{"diff_mean", &termMean_[0]}, {"diff_spread", &termSpread_[0]}, {"intensity_mean", &termMean_[1]}, {"intensity_spread", &termSpread_[1]}}};
  }
  struct Windows {  // a batch of windows: images, upper-left patches, covered slots
    torch::Tensor image, row, col, slot, transform;
  };
  torch::Tensor toPatches(const ImageBatch& images, const char* what) const;  // uint8 (n, G*G, P)
  Windows sampleWindows(int64_t count, int64_t imageCount, bool augment, at::Generator& generator) const;
  // The loss of a batch of windows and, when training, one optimiser step. Returns
  // (total, l2, gms, ssim) as a tensor on the device: nothing is read back to the host here,
  // so a GPU never waits on the CPU inside a step (callers read sums back once per call).
  torch::Tensor lossOn(const torch::Tensor& patches, const Windows& windows, bool training);
  // Rotates/flips each window picture (B, C, X*X) by its transform id with one gather.
  torch::Tensor augmented(const torch::Tensor& pictures, const torch::Tensor& transforms) const;
  torch::Tensor reconstructPatches(const torch::Tensor& patches);  // float (n, G*G, P)
  torch::Tensor patchesToImages(const torch::Tensor& patches) const;  // (n, G*G, P) -> (n, C, H, W)
  void useThreads() const;
  void stepOptimizer();  // one Adam step with optimizerKernels_; the weights change
  std::vector<torch::Tensor> gradientLeaves() const;  // what a group's reducer averages
  // bf16 training with the fused Adam keeps bf16 working copies of the products' weights:
  // them, refreshed if the weights changed other than by that Adam, or null.
  const WorkingWeights* workingWeights();
  void requireTrainingState(const char* what) const;  // refuses `what` on a scoring-only engine
  InTraModel& inferenceNet();  // the net inference runs: net_, or its bf16 copy

  ModelConfig model_;
  TrainConfig train_;
  EngineOptions options_;
  torch::Device device_{torch::kCPU};
  std::string deviceNote_;
  kernels::Implementation kernels_ = kernels::Implementation::Fused;
  std::array<kernels::Implementation, kernels::kFamilyCount> familyKernels_{};  // by kernels::Family
  InTraModel net_{nullptr};
  // bf16 inference runs a bf16 copy of the weights, refreshed when they change: no per-call
  // casts, and half the memory traffic of the element-wise work between the products.
  InTraModel bf16Net_{nullptr};
  int64_t weightsVersion_ = 0, bf16Version_ = -1;
  WorkingWeights working_;
  int64_t workingVersion_ = -1;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  at::Generator generator_;
  torch::Tensor trainPatches_, validationPatches_;  // uint8 on device
  Windows validationWindows_;
  // Row t: for each pixel of a window picture under symmetry t of the square, the pixel of
  // the untransformed picture it comes from (8, X*X), on the device.
  torch::Tensor symmetrySources_;
  // By MapTerm: the training images' per-pixel mean and spread (standard deviation) of the
  // term's diff, float (H, W) on device.
  std::array<torch::Tensor, kMapTerms> termMean_, termSpread_;
  // The texture term's Gaussians: mean float (kTextureDescriptors, H, W), precision (H, W, D, D);
  // and the sums being accumulated for the next fit.
  torch::Tensor textureMean_, texturePrecision_;
  TextureSums textureSums_;
  MapConfig mapConfig_;
  mutable std::mutex mapConfigMutex_;
  std::unique_ptr<DataParallelGroup> group_;  // set: one rank of a data-parallel training
  std::unique_ptr<GradientReducer> reducer_;  // its gradients' all-reduce (destroyed before the group)
  std::vector<torch::Tensor> best_;
  std::string metadata_ = "{}";
  int64_t stepsDone_ = 0;
  bool scoringOnly_ = false;  // loaded for scoring: no optimiser state, no best weights
  Profiler profiler_;
  mutable std::mutex mutex_;
};

}  // namespace intra
