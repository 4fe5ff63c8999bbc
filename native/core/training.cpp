// Training: window sampling, augmentation, the loss, optimiser steps, validation, and the
// best epoch's weights.
#include <ATen/CPUGeneratorImpl.h>

#include <optional>

#include "../common/errors.h"
#include "../kernels/optim/adam.h"
#include "engine.h"
#include "loss.h"
#include "machine.h"
#include "windows.h"

namespace intra {

Engine::Windows Engine::sampleWindows(int64_t count, int64_t imageCount, bool augment,
                                      at::Generator& generator) const {
  const int64_t L = model_.windowSize;
  auto draw = [&](int64_t high) { return torch::randint(high, {count}, generator, torch::kLong); };
  Windows w;
  w.image = draw(imageCount);
  w.row = draw(model_.gridRows() - L + 1);
  w.col = draw(model_.gridCols() - L + 1);
  w.slot = draw(L * L);
  // A rectangle keeps its shape under half turns and flips only (t = 0, 2, 4, 6).
  w.transform = !augment ? torch::zeros({count}, torch::kLong) : model_.square() ? draw(8) : draw(4) * 2;
  return w;
}

torch::Tensor Engine::augmented(const torch::Tensor& pictures, const torch::Tensor& transforms) const {
  const int64_t B = pictures.size(0), C = pictures.size(1), P = pictures.size(2);
  torch::Tensor sources = symmetrySources_.index_select(0, transforms);  // (B, X*X)
  return pictures.gather(2, sources.unsqueeze(1).expand({B, C, P}));
}

// libtorch's Adam keeps the state (moments and step counts, which checkpoints store); the
// fused path creates it as Adam::step would and updates every parameter in one pass.
void Engine::stepOptimizer() {
  ++weightsVersion_;
  if (reducer_) {
    // What the backward's hooks have not yet waited for: the exposed part of the all-reduce.
    ProfileScope scope("all-reduce");
    reducer_->afterBackward();
  }
  if (kernelsFor(kernels::Family::Optimizer) == kernels::Implementation::Reference) {
    optimizer_->step();
    return;
  }
  torch::NoGradGuard noGrad;
  const bool working = kernelsFor(kernels::Family::Weights) != kernels::Implementation::Reference;
  for (auto& group : optimizer_->param_groups()) {
    std::vector<kernels::AdamTensors> tensors;
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    if (options.weight_decay() != 0 || options.amsgrad()) {
      throw unsupported("the fused Adam implements neither weight decay nor AMSGrad");
    }
    const kernels::AdamHyper hyper{options.lr(), std::get<0>(options.betas()), std::get<1>(options.betas()), options.eps()};
    for (auto& p : group.params()) {
      // A product's weight collects its gradient on its working copy (bf16), which the
      // update rewrites; a master used elsewhere too (none in this model) adds both.
      const torch::Tensor copy = working ? working_.copyOf(p) : torch::Tensor();
      torch::Tensor grad = p.grad();
      if (copy.defined() && copy.grad().defined()) grad = grad.defined() ? grad + copy.grad() : copy.grad();
      if (!grad.defined()) continue;
      const auto key = optimizerStateKey(p);
      auto& states = optimizer_->state();
      if (states.find(key) == states.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        states[key] = std::move(fresh);
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*states[key]);
      state.step(state.step() + 1);
      tensors.push_back({p, grad, state.exp_avg(), state.exp_avg_sq(), state.step(), copy});
    }
    kernels::adamUpdate(tensors, hyper, kernelsFor(kernels::Family::Optimizer));
  }
  if (working && !working_.empty()) workingVersion_ = weightsVersion_;
}

const WorkingWeights* Engine::workingWeights() {
  if (kernelsFor(kernels::Family::Weights) == kernels::Implementation::Reference) return nullptr;
  if (workingVersion_ != weightsVersion_) {
    ProfileScope scope("weights to bf16");
    working_.refresh(net_->productOperands());
    workingVersion_ = weightsVersion_;
  }
  return &working_;
}

torch::Tensor Engine::lossOn(const torch::Tensor& source, const Windows& windows, bool training) {
  const int64_t L = model_.windowSize, K = model_.patchSize, C = model_.channels, M = model_.gridCols();
  const int64_t B = windows.image.size(0), S = L * L;
  std::optional<ProfileScope> sampling(std::in_place, "sampling");
  torch::Tensor positions = windowPatchIndices(windows.row, windows.col, L, M).to(device_);  // (B, S)
  torch::Tensor images = windows.image.to(device_);
  torch::Tensor patches = source.index({images.unsqueeze(1), positions}).to(torch::kFloat).div_(255.0);  // (B,S,P)

  if (train_.augment && training) {
    // The window as the whole image turned (or flipped) would show it: its pixels turn as
    // one picture, and its positions are those of where it lands in the turned grid. Turned
    // pixels at unturned positions would teach that a rotated patch belongs where it was.
    torch::Tensor picture = patches.view({B, L, L, C, K, K}).permute({0, 3, 1, 4, 2, 5}).reshape({B, C, L * K * L * K});
    torch::Tensor transformed = augmented(picture, windows.transform.to(device_));
    patches = transformed.view({B, C, L, K, L, K}).permute({0, 2, 4, 1, 3, 5}).reshape({B, S, C * K * K});
    auto [row, col] = turnedWindowOrigins(windows.row, windows.col, windows.transform, L, model_.gridRows(), M);
    positions = windowPatchIndices(row, col, L, M).to(device_);
  }
  torch::Tensor slots = windows.slot.to(device_);
  torch::Tensor target = patches.index({torch::arange(B, slots.options()), slots});  // (B, P)
  sampling.reset();

  torch::Tensor predicted;
  {
    AutocastScope autocast(train_.trainPrecision == Precision::Bf16, device_);
    WorkingWeights::Scope working(workingWeights());
    torch::Tensor sequence = net_->sequence(net_->embedPatches(patches), positions, slots);
    predicted = net_->forward(sequence).to(torch::kFloat);
  }
  PatchLoss loss = patchLoss(train_, predicted.view({B, C, K, K}), target.view({B, C, K, K}), kernelsFor(kernels::Family::Filters));
  torch::Tensor total = loss.total;
  if (training) {
    {
      ProfileScope scope("backward");
      // Gradients left undefined rather than zeroed: the backward then hands each parameter
      // its gradient as computed, where zeros would cost a fill and an add over every weight.
      for (auto& p : net_->parameters()) p.mutable_grad() = torch::Tensor();
      working_.clearGradients();
      if (reducer_) reducer_->beforeBackward(gradientLeaves());
      total.backward();
    }
    ProfileScope scope("optimizer");
    stepOptimizer();
  }
  return torch::stack({total, loss.l2, loss.gms, loss.ssim}).detach().to(torch::kDouble);
}

namespace {
// Loss parts from (total, l2, gms, ssim) sums read back in one copy, divided by `count`.
LossParts partsOf(const torch::Tensor& sums, double count, int64_t windows, double seconds) {
  ProfileScope scope("loss / readback");
  torch::Tensor host = sums.to(torch::kCPU).contiguous();
  const double* v = host.data_ptr<double>();
  return {v[0] / count, v[1] / count, v[2] / count, v[3] / count, windows, seconds};
}
}  // namespace

LossParts Engine::trainSteps(int64_t steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  if (steps <= 0) throw invalidArgument("Expected a positive integer for steps but received " + std::to_string(steps));
  requireTrainingState("train");
  if (!trainPatches_.defined()) throw invalidState("No training images: call setTrainingImages first");
  const auto start = Clock::now();
  net_->train();
  torch::Tensor sums = torch::zeros({4}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  int64_t windows = 0;
  for (int64_t i = 0; i < steps; ++i) {
    Windows w;
    {
      ProfileScope scope("sampling");
      w = sampleWindows(train_.batchSize, trainPatches_.size(0), train_.augment, generator_);
    }
    windows += w.image.size(0);
    if (group_) {
      // This rank's share of the batch every rank drew alike: the union is the whole batch.
      const int64_t share = train_.batchSize / group_->worldSize(), from = group_->rank() * share;
      auto mine = [&](const torch::Tensor& t) { return t.slice(0, from, from + share); };
      w = Windows{mine(w.image), mine(w.row), mine(w.col), mine(w.slot), mine(w.transform)};
    }
    sums += lossOn(trainPatches_, w, true);
    ++stepsDone_;
  }
  if (group_) group_->average({sums});  // the group's losses: the mean over the ranks' equal shares
  LossParts parts = partsOf(sums, static_cast<double>(steps), windows, 0);
  parts.seconds = secondsSince(start);
  return parts;
}

LossParts Engine::validate() {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  if (!validationPatches_.defined()) throw invalidState("No validation images: call setValidationImages first");
  const auto start = Clock::now();
  torch::NoGradGuard noGrad;
  net_->eval();
  const int64_t total = validationWindows_.image.size(0);
  // In a group each rank computes a contiguous share of the same windows and the sums are
  // added up: every rank gets the whole set's loss for 1/N of the work.
  const int64_t ranks = group_ ? group_->worldSize() : 1, rank = group_ ? group_->rank() : 0;
  const int64_t first = total * rank / ranks, last = total * (rank + 1) / ranks;
  torch::Tensor sums = torch::zeros({4}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  for (int64_t from = first; from < last; from += train_.batchSize) {
    const int64_t to = std::min(last, from + train_.batchSize);
    auto part = [&](const torch::Tensor& t) { return t.slice(0, from, to); };
    Windows w{part(validationWindows_.image), part(validationWindows_.row), part(validationWindows_.col),
              part(validationWindows_.slot), part(validationWindows_.transform)};
    sums += lossOn(validationPatches_, w, false) * static_cast<double>(to - from);
  }
  if (group_) {
    group_->average({sums});
    sums.mul_(static_cast<double>(ranks));  // the mean of the ranks' sums, times N: their sum
  }
  LossParts parts = partsOf(sums, static_cast<double>(total), total, 0);
  parts.seconds = secondsSince(start);
  return parts;
}

void Engine::joinGroup(const GroupConfig& config) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireTrainingState("train in a group");
  if (group_) throw invalidState("This engine has joined a group already");
  if (!device_.is_cpu()) {
    // Gloo would move every bucket through the host; NCCL, the collectives a GPU group needs, is not built in.
    throw unsupported("Data-parallel training runs on CPU engines (Gloo); this engine is on " + device_.str() + ", and NCCL is not built into intra");
  }
  if (train_.batchSize % config.worldSize != 0) {
    throw invalidArgument("Expected a batch size divisible by WORLD_SIZE " + std::to_string(config.worldSize) + " but received " +
                          std::to_string(train_.batchSize) + ": every rank computes an equal share of each batch");
  }
  useThreads();
  // What every rank must agree on: the model, the training and the step the weights are at.
  const std::string configuration = intra::serialize(model_) + intra::serialize(train_) + "world=" + std::to_string(config.worldSize) +
                                    "\nsteps=" + std::to_string(stepsDone_) + "\n";
  group_ = DataParallelGroup::join(config, configuration);
  reducer_ = std::make_unique<GradientReducer>(*group_);
}

std::vector<torch::Tensor> Engine::gradientLeaves() const {
  // Masters and their bf16 working copies: whichever of the two the products read collects
  // the gradient, and both sums go into the step.
  std::vector<torch::Tensor> leaves;
  for (const auto& p : net_->parameters()) {
    leaves.push_back(p);
    const torch::Tensor copy = working_.copyOf(p);
    if (copy.defined()) leaves.push_back(copy);
  }
  return leaves;
}

std::vector<double> Engine::groupAverage(const std::vector<double>& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!group_ || values.empty()) return values;
  torch::Tensor t = torch::tensor(values, torch::kDouble);
  group_->average({t});
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void Engine::requireTrainingState(const char* what) const {
  if (scoringOnly_) {
    throw invalidState(std::string("Cannot ") + what + ": this engine was loaded for scoring (without its optimiser state " +
                       "and best weights); load the model with purpose 'training' to " + what);
  }
}

void Engine::keepBest() {
  std::lock_guard<std::mutex> lock(mutex_);
  best_.clear();
  for (const auto& p : net_->parameters()) best_.push_back(p.detach().clone());
}

void Engine::restoreBest() {
  std::lock_guard<std::mutex> lock(mutex_);
  requireTrainingState("restore the best weights");
  if (best_.empty()) throw invalidState("No best weights are remembered: call keepBest first");
  torch::NoGradGuard noGrad;
  auto params = net_->parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_[i]);
  ++weightsVersion_;
}

}  // namespace intra
