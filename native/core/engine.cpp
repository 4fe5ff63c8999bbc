// The engine's construction, device and kernels, and its images (training, validation).
// Training steps and the loss are in training.cpp, inference and anomaly maps in
// inference.cpp, the checkpoint mapping in engine_io.cpp, the machine in machine.cpp.
#include "engine.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <optional>

#include "../common/errors.h"
#include "../kernels/attention/attention.h"
#include "../kernels/activation/bias_gelu.h"
#include "../kernels/bias/bias_add.h"
#include "../kernels/filters/filters.h"
#include "../kernels/norm/layer_norm.h"
#include "../kernels/optim/adam.h"
#include "machine.h"
#include "windows.h"

namespace intra {

namespace {

// Applies one of the 8 symmetries of the square to windows (b, C, X, X).
torch::Tensor dihedral(const torch::Tensor& x, int64_t transform) {
  torch::Tensor y = transform % 4 == 0 ? x : torch::rot90(x, transform % 4, {2, 3});
  return transform >= 4 ? y.flip({3}) : y;
}

// auto: our fused kernels where this build has them for the device, else the reference (and
// `auto` says so in the device note); anything named is either built here or an error.
kernels::Implementation chooseKernels(const std::string& requested, const torch::Device& device) {
  const kernels::Device where = device.is_cuda() ? kernels::Device::Cuda : kernels::Device::Cpu;
  auto built = [&](kernels::Implementation impl) {
    return kernels::fusedAttention(where, impl) != nullptr && kernels::fusedFilters(where, impl) != nullptr;
  };
  if (requested == "auto") return built(kernels::Implementation::Fused) ? kernels::Implementation::Fused : kernels::Implementation::Reference;
  const kernels::Implementation impl = kernels::implementationFromString(requested);
  if (impl != kernels::Implementation::Reference && !built(impl)) {
    throw unsupported(kernels::toString(impl) + " kernels were asked for on " + device.str() + ", where this build has none");
  }
  return impl;
}

}  // namespace

Engine::Engine(const ModelConfig& model, const TrainConfig& train, const EngineOptions& options)
    : Engine(model, train, options, InitialWeights::Drawn) {}

Engine::Engine(const ModelConfig& model, const TrainConfig& train, const EngineOptions& options, InitialWeights initial)
    : model_(model), train_(train), options_(options) {
  model_.validate();
  train_.validate();
  if (options_.threads < 0) throw invalidArgument("Expected a non-negative integer for threads");
  if (options_.inferenceBatch <= 0) throw invalidArgument("Expected a positive integer for inferenceBatch");
  options_.threads = resolveThreads(options_.threads);
  device_ = resolveDevice(options_.device, deviceNote_);
  const bool wantsBf16 =
      options_.inferencePrecision == Precision::Bf16 || train_.trainPrecision == Precision::Bf16;
  if (wantsBf16 && device_.is_cpu() && !cpuHasBf16()) {
    throw unsupported("bf16 was asked for, but this CPU has no bf16 instructions (avx512_bf16 or amx_bf16)");
  }
  useThreads();
  kernels_ = chooseKernels(options_.kernels, device_);
  // Each family runs `kernels` where its table has an entry for this device (else its reference)
  // unless options.referenceFor names it; describe() says which.
  const kernels::Device where = device_.is_cuda() ? kernels::Device::Cuda : kernels::Device::Cpu;
  std::array<bool, kernels::kFamilyCount> onReference{};
  for (const std::string& name : options_.referenceFor) onReference[static_cast<size_t>(kernels::familyNamed(name, "referenceFor"))] = true;
  for (const kernels::FamilyDescriptor& family : kernels::kernelFamilies()) {
    const bool fused = kernels_ != kernels::Implementation::Reference && family.built != nullptr &&
                       family.built(where, kernels_) && !onReference[static_cast<size_t>(family.id)];
    familyKernels_[static_cast<size_t>(family.id)] = fused ? kernels_ : kernels::Implementation::Reference;
  }
  // bf16 training's working copies exist where the fused Adam rewrites them.
  const kernels::Implementation optimizer = kernelsFor(kernels::Family::Optimizer);
  familyKernels_[static_cast<size_t>(kernels::Family::Weights)] =
      train_.trainPrecision == Precision::Bf16 && optimizer != kernels::Implementation::Reference &&
              !onReference[static_cast<size_t>(kernels::Family::Weights)]
          ? optimizer
          : kernels::Implementation::Reference;
  generator_ = at::make_generator<at::CPUGeneratorImpl>(train_.seed);
  net_ = InTraModel(model_);
  net_->setKernels(kernelsFor(kernels::Family::Attention), kernelsFor(kernels::Family::Norm),
                   kernelsFor(kernels::Family::Activation), kernelsFor(kernels::Family::Bias));
  // On the CPU from the engine's generator: the same weights on any device.
  if (initial == InitialWeights::Drawn) net_->initialise(generator_);
  net_->to(device_);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(),
                                                    torch::optim::AdamOptions(train_.learningRate));
  // Each symmetry applied once to a picture of pixel indices gives its gather table.
  const int64_t side = model_.windowSize * model_.patchSize;
  torch::Tensor identity = torch::arange(side * side, torch::kLong).view({1, 1, side, side});
  std::vector<torch::Tensor> rows;
  for (int64_t t = 0; t < 8; ++t) rows.push_back(dihedral(identity, t).reshape({side * side}));
  symmetrySources_ = torch::stack(rows).to(device_);
}

void Engine::useThreads() const {
  // Thread counts are per calling thread under OpenMP: every call sets it again.
  at::set_num_threads(static_cast<int>(options_.threads));
}

int64_t Engine::parameterCount() const {
  int64_t total = 0;
  for (const auto& p : net_->parameters()) total += p.numel();
  return total;
}

torch::Tensor Engine::toPatches(const ImageBatch& images, const char* what) const {
  const int64_t H = model_.imageHeight, W = model_.imageWidth, C = model_.channels, K = model_.patchSize;
  const int64_t rows = model_.gridRows(), cols = model_.gridCols();
  if (images.count <= 0) throw invalidArgument(std::string("Expected at least one image for ") + what);
  if (images.height != H || images.width != W) {
    throw invalidArgument(std::string("Expected ") + what + " of " + std::to_string(W) + "x" + std::to_string(H) +
                          " pixels (the model's width x height) but received " + std::to_string(images.width) + "x" +
                          std::to_string(images.height));
  }
  if (images.channels != C) {
    throw invalidArgument(std::string("Expected ") + what + " with " + std::to_string(C) +
                          " channels (the model's) but received " + std::to_string(images.channels));
  }
  ProfileScope scope("upload");
  torch::Tensor pixels = torch::from_blob(const_cast<uint8_t*>(images.data), {images.count, H, W, C}, torch::kByte);
  // (n, rows, K, cols, K, C) -> (n, rows, cols, C, K, K): each patch flattened channel-major.
  torch::Tensor patches = pixels.view({images.count, rows, K, cols, K, C}).permute({0, 1, 3, 5, 2, 4});
  return patches.reshape({images.count, rows * cols, C * K * K}).contiguous().to(device_);
}

torch::Tensor Engine::patchesToImages(const torch::Tensor& patches) const {
  const int64_t n = patches.size(0), C = model_.channels, K = model_.patchSize;
  const int64_t rows = model_.gridRows(), cols = model_.gridCols();
  return patches.view({n, rows, cols, C, K, K}).permute({0, 3, 1, 4, 2, 5}).reshape({n, C, rows * K, cols * K});
}

void Engine::setTrainingImages(const ImageBatch& images) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  trainPatches_ = toPatches(images, "training images");
}

void Engine::setValidationImages(const ImageBatch& images, int64_t windowsPerImage, std::optional<uint64_t> windowSeed) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  if (windowsPerImage < 0) throw invalidArgument("Expected a positive integer for windowsPerImage but received " + std::to_string(windowsPerImage));
  validationPatches_ = toPatches(images, "validation images");
  // A fixed set of windows, drawn from a generator of its own: the same seed gives the same
  // validation windows whatever the training has drawn.
  at::Generator fixed = at::make_generator<at::CPUGeneratorImpl>(windowSeed.value_or(train_.seed ^ 0x5eed5eed5eedULL));
  const int64_t perImage = windowsPerImage > 0 ? windowsPerImage : train_.validationWindowsPerImage;
  validationWindows_ = sampleWindows(perImage * images.count, images.count, false, fixed);
}

}  // namespace intra
