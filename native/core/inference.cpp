// Inference: reconstructions of whole images, anomaly maps, and the training images' mean
// difference map they are compared with.
#include "../common/errors.h"
#include "anomaly_map.h"
#include "engine.h"
#include "windows.h"

namespace intra {

torch::Tensor Engine::reconstructPatches(const torch::Tensor& source) {
  // Every patch of every image, each from its own window (eq. 4-5), in large batches.
  const int64_t n = source.size(0), perImage = model_.gridPatches();
  InferenceWindows table = inferenceWindows(model_.gridRows(), model_.gridCols(), model_.windowSize);
  torch::Tensor indices = table.patchIndices.to(device_), slots = table.coveredSlot.to(device_);
  torch::Tensor out = torch::empty({n * perImage, model_.patchValues()}, torch::TensorOptions().device(device_));
  InTraModel& net = inferenceNet();
  const auto type = net->parameters().front().scalar_type();
  torch::Tensor embedded = net->embedPatches(source.to(type).div(255.0));  // (n, N*M, D)
  const int64_t total = n * perImage;
  for (int64_t from = 0; from < total; from += options_.inferenceBatch) {
    const int64_t to = std::min(total, from + options_.inferenceBatch);
    torch::Tensor ids = torch::arange(from, to, torch::TensorOptions().dtype(torch::kLong).device(device_));
    torch::Tensor image = ids.div(perImage, "floor"), patch = ids.remainder(perImage);
    std::optional<ProfileScope> gather(std::in_place, "windows");
    torch::Tensor positions = indices.index_select(0, patch);  // (b, S)
    torch::Tensor windowEmbedded = embedded.index({image.unsqueeze(1), positions});
    gather.reset();
    torch::Tensor sequence = net->sequence(windowEmbedded, positions, slots.index_select(0, patch));
    out.slice(0, from, to).copy_(net->forward(sequence));
  }
  return out.view({n, perImage, model_.patchValues()});
}

InTraModel& Engine::inferenceNet() {
  if (options_.inferencePrecision != Precision::Bf16) return net_;
  if (bf16Version_ != weightsVersion_) {
    ProfileScope scope("weights to bf16");  // once per change of the weights, not per call
    torch::NoGradGuard noGrad;
    if (!bf16Net_) {
      bf16Net_ = InTraModel(model_);
      bf16Net_->setKernels(kernelsFor(kernels::Family::Attention), kernelsFor(kernels::Family::Norm),
                           kernelsFor(kernels::Family::Activation), kernelsFor(kernels::Family::Bias));
      bf16Net_->to(device_, torch::kBFloat16);
      bf16Net_->eval();
    }
    auto from = net_->parameters(), to = bf16Net_->parameters();
    for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
    bf16Version_ = weightsVersion_;
  }
  return bf16Net_;
}

torch::Tensor Engine::reconstruct(const ImageBatch& images) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  torch::Tensor patches = toPatches(images, "images");
  torch::InferenceMode inference;
  net_->eval();
  return patchesToImages(reconstructPatches(patches)).permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
}

AnomalyResult Engine::anomalyMaps(const ImageBatch& images, bool withReconstruction, bool withMaps,
                                  const std::vector<MapConfig>& configs) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  const std::vector<MapConfig> usable = usableConfigs(configs, images.texture != nullptr);
  torch::Tensor texture;
  if (images.texture != nullptr) {
    // The descriptors' shape follows the images' (checked by toPatches against the model's).
    texture = torch::from_blob(const_cast<float*>(images.texture), {images.count, kTextureDescriptors, images.height, images.width}, torch::kFloat)
                  .to(device_);
  }
  return anomalyOf(toPatches(images, "images"), withReconstruction, withMaps, usable, texture);
}

torch::Tensor Engine::validationScores(const std::vector<MapConfig>& configs) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  const std::vector<MapConfig> usable = usableConfigs(configs, false);
  if (!validationPatches_.defined()) throw invalidState("No validation images: call setValidationImages first");
  return anomalyOf(validationPatches_, false, false, usable).scores;
}

void Engine::setMapConfig(const MapConfig& config) {
  config.validate();
  std::lock_guard<std::mutex> lock(mapConfigMutex_);
  mapConfig_ = config;
}

std::vector<MapConfig> Engine::usableConfigs(const std::vector<MapConfig>& configs, bool withDescriptors) const {
  if (!hasNormalStatistics()) {
    throw invalidState("The model has no training statistics: call fitNormalStatistics after training");
  }
  std::vector<MapConfig> usable = configs.empty() ? std::vector<MapConfig>{mapConfig()} : configs;
  for (const MapConfig& config : usable) {
    config.validate();
    if (config.needsSpreads() && !hasSpreadStatistics()) {
      throw invalidState("The model's training statistics hold neither per-pixel spreads nor the intensity term (fitted before they existed), which map " +
                         toString(config.map) + " with normalise " + toString(config.normalise) + " needs: refit them with intra refit");
    }
    if (config.needsTexture() && !hasTextureStatistics()) {
      throw invalidState("The model holds no statistics of the texture descriptors this engine measures (fitted before the texture term, or with another set of descriptors), which map " + toString(config.map) +
                         " needs: refit them with intra refit");
    }
    if (config.needsTexture() && !withDescriptors) {
      throw invalidArgument("Map " + toString(config.map) + " needs each image's texture descriptors, measured at its own size: pass them with the images");
    }
  }
  return usable;
}

AnomalyResult Engine::anomalyOf(const torch::Tensor& patches, bool withReconstruction, bool withMaps,
                                const std::vector<MapConfig>& configs, const torch::Tensor& texture) {
  torch::InferenceMode inference;
  net_->eval();
  torch::Tensor reconstruction = patchesToImages(reconstructPatches(patches));
  std::optional<ProfileScope> mapping(std::in_place, "maps");
  torch::Tensor original = patchesToImages(patches.to(torch::kFloat).div(255.0));
  const kernels::Implementation filters = kernelsFor(kernels::Family::Filters);
  // Each term's diff once, however many configs use it.
  std::array<torch::Tensor, kMapTerms> diffs;
  auto diffOf = [&](MapTerm term) -> const torch::Tensor& {
    torch::Tensor& diff = diffs[static_cast<size_t>(term)];
    if (!diff.defined()) diff = anomalyDiff(train_.anomalyMap, original, reconstruction, filters, term).squeeze(1);  // (n, H, W)
    return diff;
  };
  std::vector<torch::Tensor> maps, scores;
  torch::Tensor textureMap;  // once, however many configs use it
  for (const MapConfig& config : configs) {
    auto term = [&](MapTerm t) {
      const size_t i = static_cast<size_t>(t);
      return termAnomaly(diffOf(t), termMean_[i], termSpread_[i], config.normalise);
    };
    torch::Tensor map = term(MapTerm::Structure);
    if (withIntensity(config.map)) map = map + term(MapTerm::Intensity);
    if (config.needsTexture()) {
      if (!textureMap.defined()) textureMap = textureAnomaly(texture, textureMean_, texturePrecision_);
      map = map + textureMap;
    }
    scores.push_back(imageScores(map, config));
    if (withMaps) maps.push_back(map);
  }
  mapping.reset();
  ProfileScope download("download");
  AnomalyResult result;
  result.scores = torch::stack(scores).contiguous().to(torch::kCPU);
  if (withMaps) result.maps = torch::stack(maps).contiguous().to(torch::kCPU);
  if (withReconstruction) result.reconstruction = reconstruction.permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  return result;
}

void Engine::fitNormalStatistics() {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  if (!trainPatches_.defined()) throw invalidState("No training images: call setTrainingImages first");
  torch::InferenceMode inference;
  net_->eval();
  const int64_t n = trainPatches_.size(0);
  // Images per chunk so that one chunk's windows fill about one inference batch.
  const int64_t chunk = std::max<int64_t>(1, options_.inferenceBatch / model_.gridPatches());
  // Sums and sums of squares in double: the spread is their difference, over hundreds of images.
  const auto sumOptions = torch::TensorOptions().dtype(torch::kDouble).device(device_);
  std::array<torch::Tensor, kMapTerms> sum, squares;
  for (int t = 0; t < kMapTerms; ++t) {
    sum[t] = torch::zeros({model_.imageHeight, model_.imageWidth}, sumOptions);
    squares[t] = torch::zeros({model_.imageHeight, model_.imageWidth}, sumOptions);
  }
  for (int64_t from = 0; from < n; from += chunk) {
    torch::Tensor patches = trainPatches_.slice(0, from, std::min(n, from + chunk));
    torch::Tensor reconstruction = patchesToImages(reconstructPatches(patches));
    torch::Tensor original = patchesToImages(patches.to(torch::kFloat).div(255.0));
    ProfileScope scope("maps");
    for (int t = 0; t < kMapTerms; ++t) {
      torch::Tensor diff = anomalyDiff(train_.anomalyMap, original, reconstruction, kernelsFor(kernels::Family::Filters), static_cast<MapTerm>(t))
                               .squeeze(1).to(torch::kDouble);
      sum[t] += diff.sum(0);
      squares[t] += diff.pow(2).sum(0);
    }
  }
  for (int t = 0; t < kMapTerms; ++t) {
    torch::Tensor mean = sum[t] / static_cast<double>(n);
    // The sample standard deviation (n - 1); one image has no spread: zero, which the floor of
    // the standardised map then replaces.
    torch::Tensor variance = n > 1 ? ((squares[t] - mean * sum[t]) / static_cast<double>(n - 1)).clamp_min(0) : torch::zeros_like(mean);
    termMean_[t] = mean.to(torch::kFloat);
    termSpread_[t] = variance.sqrt().to(torch::kFloat);
  }
}

void Engine::addTextureSamples(const torch::Tensor& descriptors) {
  std::lock_guard<std::mutex> lock(mutex_);
  useThreads();
  const std::vector<int64_t> shape{kTextureDescriptors, model_.imageHeight, model_.imageWidth};
  if (descriptors.dim() != 4 || descriptors.sizes().slice(1).vec() != shape) {
    throw invalidArgument("Expected texture descriptors of (count, " + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " +
                          std::to_string(shape[2]) + ")");
  }
  if (!descriptors.isfinite().all().item<bool>()) throw invalidArgument("Expected finite texture descriptors");
  textureSums_.add(descriptors.to(device_));
}

void Engine::fitTextureStatistics() {
  std::lock_guard<std::mutex> lock(mutex_);
  useThreads();
  if (textureSums_.count < 2) {
    throw invalidState("Texture statistics need the descriptors of at least two training images (have " + std::to_string(textureSums_.count) +
                       "): call addTextureSamples first");
  }
  std::tie(textureMean_, texturePrecision_) = textureGaussian(textureSums_);
  textureSums_ = TextureSums{};
}

}  // namespace intra
