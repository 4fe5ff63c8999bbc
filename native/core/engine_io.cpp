// The engine to and from a checkpoint: tensors, configs as key=value text, optimiser state.
#include <ATen/CPUGeneratorImpl.h>

#include <map>
#include <sstream>

#include "../common/cpu_allocator.h"
#include "../common/errors.h"
#include "checkpoint.h"
#include "engine.h"
#include "machine.h"

namespace intra {

namespace {

// A number stored as text in a checkpoint; anything else is an error naming the file and the field.
template <typename N>
N parseNumber(const std::string& text, const std::string& path, const std::string& field) {
  std::istringstream in(text);
  N value{};
  in >> value;
  if (in.fail() || !in.eof()) {
    throw checkpointError("Checkpoint " + path + " is not usable: " + field + " is not a number ('" + text + "')");
  }
  return value;
}

}  // namespace

void Engine::save(const std::string& path, const std::string& metadataJson) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireTrainingState("save");
  CheckpointContents contents;
  contents.texts["config"] = intra::serialize(model_);
  contents.texts["train"] = intra::serialize(train_);
  contents.texts["metadata"] = metadataJson;
  contents.texts["steps"] = std::to_string(stepsDone_);
  auto named = net_->named_parameters();
  // Right after keepBest (every improving epoch) and restoreBest (a finished model) the best
  // weights are the weights: the file says so instead of holding them twice.
  bool bestAreWeights = !best_.empty();
  for (size_t i = 0; bestAreWeights && i < named.size(); ++i) bestAreWeights = torch::equal(best_[i], named[i].value());
  if (bestAreWeights) contents.texts["best"] = "weights";
  for (size_t i = 0; i < named.size(); ++i) {
    const auto& item = named[i];
    contents.tensors["param:" + item.key()] = item.value();
    if (!best_.empty() && !bestAreWeights) contents.tensors["best:" + item.key()] = best_[i];
    // Adam's moments, so that a resumed run continues exactly where it stopped.
    auto& state = optimizer_->state();
    auto found = state.find(optimizerStateKey(item.value()));
    if (found != state.end()) {
      auto& adam = static_cast<torch::optim::AdamParamState&>(*found->second);
      contents.tensors["adam.exp_avg:" + item.key()] = adam.exp_avg();
      contents.tensors["adam.exp_avg_sq:" + item.key()] = adam.exp_avg_sq();
      contents.texts["adam.step:" + item.key()] = std::to_string(adam.step());
    }
  }
  contents.texts["map"] = intra::serialize(mapConfig());
  for (const auto& [key, tensor] : statisticsTensors()) {
    if (tensor->defined()) contents.tensors[key] = *tensor;
  }
  if (hasTextureStatistics()) {
    contents.tensors["texture_mean"] = textureMean_;
    contents.tensors["texture_precision"] = packSymmetric(texturePrecision_);
  }
  {
    std::lock_guard<std::mutex> generatorLock(generator_.mutex());
    contents.tensors["generator"] = generator_.get_state();
  }
  writeCheckpoint(path, contents);
  metadata_ = metadataJson;
}

std::unique_ptr<Engine> Engine::load(const std::string& path, const EngineOptions& options, LoadPurpose purpose) {
  std::unique_ptr<Engine> engine = loadFile(path, options, purpose);
  // The file's weights were copied into the model's own: their blocks go back to the system
  // rather than staying in the allocator's cache (a third of a scoring engine's memory).
  releaseCachedBlocks();
  return engine;
}

std::unique_ptr<Engine> Engine::loadFile(const std::string& path, const EngineOptions& options, LoadPurpose purpose) {
  const bool scoring = purpose == LoadPurpose::Scoring;
  CheckpointContents contents = readCheckpoint(path, [scoring](const std::string& name) {
    return !scoring || (name.rfind("adam.", 0) != 0 && name.rfind("best:", 0) != 0);
  });
  auto text = [&](const std::string& key) -> const std::string& {
    auto it = contents.texts.find(key);
    if (it == contents.texts.end()) throw checkpointError("Checkpoint " + path + " is not usable: it has no " + key);
    return it->second;
  };
  auto unusable = [&](const std::string& why) { return checkpointError("Checkpoint " + path + " is not usable: " + why); };
  ModelConfig model;
  try {
    model = deserializeModelConfig(text("config"));
    model.validate();
  } catch (const IntraError& e) {
    throw unusable(e.what());
  }
  // The config must describe the weights the file holds before a model is built from it: a
  // crafted config (dim 2^30, say) must never allocate more than the file's own weights.
  int64_t stored = 0;
  for (const auto& [name, tensor] : contents.tensors) {
    if (name.rfind("param:", 0) == 0) stored += tensor.numel();
  }
  const int64_t expected = countParameters(model);
  if (stored != expected) {
    throw unusable("its config (dim " + std::to_string(model.dim) + ", depth " + std::to_string(model.depth) + ", image " +
                   std::to_string(model.imageWidth) + "x" + std::to_string(model.imageHeight) + ") needs " + std::to_string(expected) + " weights but the file holds " +
                   std::to_string(stored));
  }
  TrainConfig train;
  try {
    train = deserializeTrainConfig(text("train"));
  } catch (const IntraError& e) {
    throw unusable(e.what());
  }
  try {
    train.validate();
  } catch (const IntraError& e) {
    throw unusable(std::string("its training config: ") + e.what());
  }
  std::unique_ptr<Engine> engine(new Engine(model, train, options, InitialWeights::Skipped));
  engine->scoringOnly_ = scoring;
  engine->metadata_ = text("metadata");
  engine->stepsDone_ = parseNumber<int64_t>(text("steps"), path, "'steps'");
  torch::NoGradGuard noGrad;
  // Every stored tensor of a weight has the weight's shape; a smaller one would broadcast.
  auto shaped = [&](const std::string& key, const torch::Tensor& like) -> const torch::Tensor& {
    const torch::Tensor& t = contents.tensors.at(key);
    if (t.sizes() != like.sizes() || t.scalar_type() != at::kFloat) {
      throw unusable(key + " has shape " + c10::str(t.sizes()) + " (" + c10::toString(t.scalar_type()) + "), expected " +
                     c10::str(like.sizes()) + " (Float)");
    }
    return t;
  };
  std::vector<torch::Tensor> best;
  const auto bestText = contents.texts.find("best");
  const bool bestAreWeights = bestText != contents.texts.end() && !scoring;
  if (bestText != contents.texts.end() && bestText->second != "weights") {
    throw unusable("its 'best' says '" + bestText->second + "', expected 'weights'");
  }
  for (auto& item : engine->net_->named_parameters()) {
    const std::string key = item.key();
    if (contents.tensors.find("param:" + key) == contents.tensors.end()) throw unusable("it has no weights for " + key);
    item.value().copy_(shaped("param:" + key, item.value()));
    if (bestAreWeights) {
      if (contents.tensors.count("best:" + key)) throw unusable("it has best weights for " + key + " and says they are the weights");
      best.push_back(item.value().detach().clone());
    } else if (contents.tensors.count("best:" + key)) {
      best.push_back(shaped("best:" + key, item.value()).to(engine->device_));
    }
    if (contents.tensors.count("adam.exp_avg:" + key)) {
      if (!contents.tensors.count("adam.exp_avg_sq:" + key)) throw unusable("it has no adam.exp_avg_sq for " + key);
      auto adam = std::make_unique<torch::optim::AdamParamState>();
      adam->step(parseNumber<int64_t>(text("adam.step:" + key), path, "'adam.step:" + key + "'"));
      adam->exp_avg(shaped("adam.exp_avg:" + key, item.value()).to(engine->device_));
      adam->exp_avg_sq(shaped("adam.exp_avg_sq:" + key, item.value()).to(engine->device_));
      engine->optimizer_->state()[optimizerStateKey(item.value())] = std::move(adam);
    }
  }
  if (!best.empty()) {
    if (best.size() != engine->net_->parameters().size()) throw unusable("it has best weights for some parameters only");
    engine->best_ = std::move(best);
  }
  ++engine->weightsVersion_;
  // Files from before the scoring settings have none: theirs are the paper's.
  if (auto map = contents.texts.find("map"); map != contents.texts.end()) {
    try {
      engine->mapConfig_ = deserializeMapConfig(map->second);
    } catch (const IntraError& e) {
      throw unusable(e.what());
    }
  }
  // The statistics: the structure term's mean alone (files fitted before the spreads and the
  // intensity term existed) or all four; any other subset is a damaged file.
  const torch::Tensor imageShaped = torch::empty({model.imageHeight, model.imageWidth});
  int present = 0;
  for (const auto& [key, tensor] : engine->statisticsTensors()) {
    if (contents.tensors.count(key)) {
      *tensor = shaped(key, imageShaped).to(engine->device_);
      ++present;
    }
  }
  const bool meanAlone = present == 1 && engine->termMean_[0].defined();
  if (present != 0 && present != kMapTerms * 2 && !meanAlone) {
    throw unusable("it holds " + std::to_string(present) + " of the " + std::to_string(kMapTerms * 2) + " training statistics (diff_mean, diff_spread, intensity_mean, intensity_spread)");
  }
  // The texture term's statistics: both or neither (files fitted before the term have neither, and
  // so has a checkpoint saved before training ended; scoring with the term then asks for a refit).
  const bool textureMean = contents.tensors.count("texture_mean") != 0, texturePrecision = contents.tensors.count("texture_precision") != 0;
  if (textureMean != texturePrecision) throw unusable("it holds one of the texture term's two statistics (texture_mean, texture_precision)");
  // The precision is kept as its upper triangle. Statistics of another descriptor set (a
  // consistent pair of another size, its precision whole or a triangle) are left out like absent
  // ones: the term's settings then ask for a refit, which measures the current set.
  const auto otherDescriptorSet = [&]() {
    const torch::Tensor &mean = contents.tensors.at("texture_mean"), &precision = contents.tensors.at("texture_precision");
    const int64_t d = mean.dim() == 3 ? mean.size(0) : kTextureDescriptors;
    return d != kTextureDescriptors && d > 0 && mean.sizes() == at::IntArrayRef({d, model.imageHeight, model.imageWidth}) &&
           (precision.sizes() == at::IntArrayRef({model.imageHeight, model.imageWidth, d, d}) ||
            precision.sizes() == at::IntArrayRef({model.imageHeight, model.imageWidth, d * (d + 1) / 2}));
  };
  if (textureMean && !otherDescriptorSet()) {
    engine->textureMean_ = shaped("texture_mean", torch::empty({kTextureDescriptors, model.imageHeight, model.imageWidth})).to(engine->device_);
    const int64_t triangle = kTextureDescriptors * (kTextureDescriptors + 1) / 2;
    engine->texturePrecision_ =
        unpackSymmetric(shaped("texture_precision", torch::empty({model.imageHeight, model.imageWidth, triangle})), kTextureDescriptors).to(engine->device_);
  }
  if (engine->mapConfig_.needsSpreads() && meanAlone) {
    throw unusable("its map settings (" + toString(engine->mapConfig_.map) + ", " + toString(engine->mapConfig_.normalise) + ", " +
                   toString(engine->mapConfig_.imageScore) + ") need statistics it does not hold");
  }
  auto generator = contents.tensors.find("generator");
  if (generator != contents.tensors.end()) {
    std::lock_guard<std::mutex> generatorLock(engine->generator_.mutex());
    try {
      engine->generator_.set_state(generator->second);
    } catch (const c10::Error& e) {
      throw unusable(std::string("its sampler state is not valid: ") + e.what_without_backtrace());
    }
  }
  return engine;
}

}  // namespace intra
