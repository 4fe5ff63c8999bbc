#include "engine.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <fstream>
#include <sstream>
#include <thread>

#include "../kernels/attention/attention.h"
#include "../kernels/filters/filters.h"
#include "anomaly_map.h"
#include "checkpoint.h"
#include "../common/errors.h"
#include "windows.h"

namespace intra {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// bf16 matrix products for the scope (autocast), fp32 everywhere else. libtorch 2.4 replaced
// the per-backend setters (kept there only as deprecated wrappers) by device-typed ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define INTRA_DEVICE_TYPED_AUTOCAST 1
#endif
class AutocastScope {
 public:
  AutocastScope(bool enabled, const torch::Device& device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
#ifdef INTRA_DEVICE_TYPED_AUTOCAST
    const auto type = cuda_ ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_enabled(type, true);
    at::autocast::set_autocast_dtype(type, at::kBFloat16);
#else
    if (cuda_) {
      at::autocast::set_enabled(true);
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    } else {
      at::autocast::set_cpu_enabled(true);
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    }
#endif
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::clear_cache();
#ifdef INTRA_DEVICE_TYPED_AUTOCAST
    at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, false);
#else
    if (cuda_) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
#endif
  }

 private:
  bool enabled_, cuda_;
};

// The CPU's model string and the instruction-set flags that matter to our figures, from
// /proc/cpuinfo: figures from different CPUs must never be compared blind.
struct CpuDescription {
  std::string model;
  std::vector<std::string> features;
};
const CpuDescription& cpuDescription() {
  static const CpuDescription description = [] {
    CpuDescription d;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, flags;
    while (std::getline(cpuinfo, line)) {
      if (d.model.empty() && line.rfind("model name", 0) == 0) d.model = line.substr(line.find(':') + 2);
      if (flags.empty() && line.rfind("flags", 0) == 0) flags = line.substr(line.find(':') + 1) + " ";
    }
    for (const char* f : {"avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}) {
      if (flags.find(std::string(" ") + f + " ") != std::string::npos) d.features.push_back(f);
    }
    if (d.model.empty()) d.model = "unknown";
    return d;
  }();
  return description;
}

bool cpuHasBf16() {
  const auto& f = cpuDescription().features;
  return std::find(f.begin(), f.end(), "avx512_bf16") != f.end() || std::find(f.begin(), f.end(), "amx_bf16") != f.end();
}

// Which BLAS library is really mapped into the process (Debian switches libblas.so.3
// between the reference BLAS and OpenBLAS through alternatives).
std::string loadedBlas() {
  std::ifstream maps("/proc/self/maps");
  std::string line, found;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string file = line.substr(slash);
    if (file.find("openblas") != std::string::npos) return "openblas (" + file + ")";
    if (file.find("libmkl") != std::string::npos) return "mkl (" + file + ")";
    if (file.find("libblas") != std::string::npos && found.empty()) found = file;
  }
  if (!found.empty()) {
    char resolved[4096];
    if (realpath(found.c_str(), resolved)) found = resolved;
    return (found.find("openblas") != std::string::npos ? "openblas (" : "reference blas (") + found + ")";
  }
  return "none found";
}

int64_t resolveThreads(int64_t requested) {
  if (requested > 0) return requested;
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int64_t>(cores);
}

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

std::string serialize(const TrainConfig& t) {
  std::ostringstream out;
  out.precision(17);
  out << "batchSize=" << t.batchSize << "\nlearningRate=" << t.learningRate << "\nalpha=" << t.alpha
      << "\nbeta=" << t.beta << "\ngmsScales=" << t.gmsScales << "\naugment=" << (t.augment ? 1 : 0) << "\nseed=" << t.seed
      << "\nvalidationWindowsPerImage=" << t.validationWindowsPerImage
      << "\ntrainPrecision=" << toString(t.trainPrecision) << "\n";
  return out.str();
}

TrainConfig deserializeTrainConfig(const std::string& text, const std::string& path) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) fields[line.substr(0, eq)] = line.substr(eq + 1);
  }
  auto get = [&](const char* key) -> const std::string& {
    auto it = fields.find(key);
    if (it == fields.end()) {
      throw checkpointError("Checkpoint " + path + " is not usable: its training config has no '" + key + "'");
    }
    return it->second;
  };
  auto integer = [&](const char* key) {
    return parseNumber<int64_t>(get(key), path, std::string("training config field '") + key + "'");
  };
  auto real = [&](const char* key) {
    return parseNumber<double>(get(key), path, std::string("training config field '") + key + "'");
  };
  TrainConfig t;
  t.batchSize = integer("batchSize");
  t.learningRate = real("learningRate");
  t.alpha = real("alpha");
  t.beta = real("beta");
  // Checkpoints from before the thesis recipe have no gmsScales: theirs was the paper's loss.
  if (fields.count("gmsScales")) t.gmsScales = integer("gmsScales");
  t.augment = get("augment") == "1";
  t.seed = static_cast<uint64_t>(parseNumber<uint64_t>(get("seed"), path, "training config field 'seed'"));
  t.validationWindowsPerImage = integer("validationWindowsPerImage");
  t.trainPrecision = precisionFromString(get("trainPrecision"));
  return t;
}

torch::Device resolveDevice(const std::string& requested, std::string& note) {
  const bool built = torch::cuda::is_available() || at::hasCUDA();
  if (requested == "cpu") return torch::kCPU;
  if (requested == "cuda") {
    if (!at::hasCUDA()) throw unsupported("device 'cuda' was asked for, but this build's libtorch has no CUDA");
    if (!torch::cuda::is_available()) throw unsupported("device 'cuda' was asked for, but no CUDA device is visible");
    return torch::kCUDA;
  }
  if (requested == "auto") {
    if (torch::cuda::is_available()) {
      note = "auto chose cuda";
      return torch::kCUDA;
    }
    note = built ? "auto chose cpu: no CUDA device is visible" : "auto chose cpu: libtorch was built without CUDA";
    return torch::kCPU;
  }
  throw invalidArgument("Expected one of cpu, cuda, auto for device but received '" + requested + "'");
}

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

Capabilities capabilities(int64_t threads) {
  Capabilities caps;
  caps.libtorch = TORCH_VERSION;
  caps.blas = loadedBlas();
  caps.threads = resolveThreads(threads);
  caps.parallel = at::get_parallel_info();
  caps.bf16 = cpuHasBf16();
  caps.cpuModel = cpuDescription().model;
  caps.cpuFeatures = cpuDescription().features;
  caps.cudaBuilt = at::hasCUDA();
  caps.cudaAvailable = torch::cuda::is_available();
  caps.device = caps.cudaAvailable ? "cuda" : "cpu";
  caps.fusedCpu = kernels::fusedInstructionSet();
  caps.fusedCuda = kernels::cudaKernelTargets();
  return caps;
}

Engine::Engine(const ModelConfig& model, const TrainConfig& train, const EngineOptions& options)
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
  generator_ = at::make_generator<at::CPUGeneratorImpl>(train_.seed);
  net_ = InTraModel(model_);
  net_->setKernels(kernels_);
  net_->initialise(generator_);  // on the CPU from the engine's generator: same weights on any device
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
  const int64_t size = model_.imageSize, C = model_.channels, K = model_.patchSize, G = model_.gridSide();
  if (images.count <= 0) throw invalidArgument(std::string("Expected at least one image for ") + what);
  if (images.height != size || images.width != size) {
    throw invalidArgument(std::string("Expected ") + what + " of " + std::to_string(size) + "x" +
                          std::to_string(size) + " pixels (the model's image size) but received " +
                          std::to_string(images.width) + "x" + std::to_string(images.height));
  }
  if (images.channels != C) {
    throw invalidArgument(std::string("Expected ") + what + " with " + std::to_string(C) +
                          " channels (the model's) but received " + std::to_string(images.channels));
  }
  ProfileScope scope("upload");
  torch::Tensor pixels = torch::from_blob(const_cast<uint8_t*>(images.data), {images.count, size, size, C},
                                          torch::kByte);
  // (n, G, K, G, K, C) -> (n, G, G, C, K, K): each patch flattened channel-major.
  torch::Tensor patches = pixels.view({images.count, G, K, G, K, C}).permute({0, 1, 3, 5, 2, 4});
  return patches.reshape({images.count, G * G, C * K * K}).contiguous().to(device_);
}

torch::Tensor Engine::patchesToImages(const torch::Tensor& patches) const {
  const int64_t n = patches.size(0), C = model_.channels, K = model_.patchSize, G = model_.gridSide();
  return patches.view({n, G, G, C, K, K}).permute({0, 3, 1, 4, 2, 5}).reshape({n, C, G * K, G * K});
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

Engine::Windows Engine::sampleWindows(int64_t count, int64_t imageCount, bool augment,
                                      at::Generator& generator) const {
  const int64_t L = model_.windowSize, origins = model_.gridSide() - L + 1;
  auto draw = [&](int64_t high) { return torch::randint(high, {count}, generator, torch::kLong); };
  Windows w;
  w.image = draw(imageCount);
  w.row = draw(origins);
  w.col = draw(origins);
  w.slot = draw(L * L);
  w.transform = augment ? draw(8) : torch::zeros({count}, torch::kLong);
  return w;
}

torch::Tensor Engine::augmented(const torch::Tensor& pictures, const torch::Tensor& transforms) const {
  const int64_t B = pictures.size(0), C = pictures.size(1), P = pictures.size(2);
  torch::Tensor sources = symmetrySources_.index_select(0, transforms);  // (B, X*X)
  return pictures.gather(2, sources.unsqueeze(1).expand({B, C, P}));
}

torch::Tensor Engine::lossOn(const torch::Tensor& source, const Windows& windows, bool training) {
  const int64_t L = model_.windowSize, K = model_.patchSize, C = model_.channels, G = model_.gridSide();
  const int64_t B = windows.image.size(0), S = L * L;
  std::optional<ProfileScope> sampling(std::in_place, "sampling");
  torch::Tensor positions = windowPatchIndices(windows.row, windows.col, L, G).to(device_);  // (B, S)
  torch::Tensor images = windows.image.to(device_);
  torch::Tensor patches = source.index({images.unsqueeze(1), positions}).to(torch::kFloat).div_(255.0);  // (B,S,P)

  if (train_.augment && training) {
    // The window as the whole image turned (or flipped) would show it: its pixels turn as
    // one picture, and its positions are those of where it lands in the turned grid. Turned
    // pixels at unturned positions would teach that a rotated patch belongs where it was.
    torch::Tensor picture = patches.view({B, L, L, C, K, K}).permute({0, 3, 1, 4, 2, 5}).reshape({B, C, L * K * L * K});
    torch::Tensor transformed = augmented(picture, windows.transform.to(device_));
    patches = transformed.view({B, C, L, K, L, K}).permute({0, 2, 4, 1, 3, 5}).reshape({B, S, C * K * K});
    auto [row, col] = turnedWindowOrigins(windows.row, windows.col, windows.transform, L, G);
    positions = windowPatchIndices(row, col, L, G).to(device_);
  }
  torch::Tensor slots = windows.slot.to(device_);
  torch::Tensor target = patches.index({torch::arange(B, slots.options()), slots});  // (B, P)
  sampling.reset();

  torch::Tensor predicted;
  {
    AutocastScope autocast(train_.trainPrecision == Precision::Bf16, device_);
    torch::Tensor sequence = net_->sequence(net_->embedPatches(patches), positions, slots);
    predicted = net_->forward(sequence).to(torch::kFloat);
  }
  torch::Tensor a = predicted.view({B, C, K, K}), b = target.view({B, C, K, K});
  torch::Tensor l2, gms, ssim;
  {
    ProfileScope scope("loss / l2");
    l2 = torch::mse_loss(a, b);
  }
  {
    ProfileScope scope("loss / gms");
    gms = (1 - kernels::gmsMap(a, b, kernels_)).mean();
    if (train_.gmsScales > 1) {
      // MSGMS (thesis eq. 4.7): scale l is the patch average-pooled by 2^(l-1), weighted 1/l,
      // each scale's sum over pixels taken as its mean (as eq. 4.6 normalises the SSIM).
      torch::Tensor pa = a, pb = b;
      for (int64_t l = 2; l <= train_.gmsScales; ++l) {
        pa = torch::avg_pool2d(pa, 2);
        pb = torch::avg_pool2d(pb, 2);
        gms = gms + (1 - kernels::gmsMap(pa, pb, kernels_)).mean() / static_cast<double>(l);
      }
      gms = gms / static_cast<double>(train_.gmsScales);
    }
  }
  {
    ProfileScope scope("loss / ssim");
    ssim = (1 - kernels::ssimMap(a, b, kernels_)).mean();
  }
  torch::Tensor total = l2 + train_.alpha * gms + train_.beta * ssim;
  if (training) {
    {
      ProfileScope scope("backward");
      optimizer_->zero_grad();
      total.backward();
    }
    ProfileScope scope("optimizer");
    optimizer_->step();
  }
  return torch::stack({total, l2, gms, ssim}).detach().to(torch::kDouble);
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
    sums += lossOn(trainPatches_, w, true);
    ++weightsVersion_;
    windows += w.image.size(0);
    ++stepsDone_;
  }
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
  torch::Tensor sums = torch::zeros({4}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  for (int64_t from = 0; from < total; from += train_.batchSize) {
    const int64_t to = std::min(total, from + train_.batchSize);
    auto part = [&](const torch::Tensor& t) { return t.slice(0, from, to); };
    Windows w{part(validationWindows_.image), part(validationWindows_.row), part(validationWindows_.col),
              part(validationWindows_.slot), part(validationWindows_.transform)};
    sums += lossOn(validationPatches_, w, false) * static_cast<double>(to - from);
  }
  LossParts parts = partsOf(sums, static_cast<double>(total), total, 0);
  parts.seconds = secondsSince(start);
  return parts;
}

torch::Tensor Engine::reconstructPatches(const torch::Tensor& source) {
  // Every patch of every image, each from its own window (eq. 4-5), in large batches.
  const int64_t n = source.size(0), G = model_.gridSide(), perImage = G * G;
  InferenceWindows table = inferenceWindows(G, model_.windowSize);
  torch::Tensor indices = table.patchIndices.to(device_), slots = table.coveredSlot.to(device_);
  torch::Tensor out = torch::empty({n * perImage, model_.patchValues()}, torch::TensorOptions().device(device_));
  InTraModel& net = inferenceNet();
  const auto type = net->parameters().front().scalar_type();
  torch::Tensor embedded = net->embedPatches(source.to(type).div(255.0));  // (n, G*G, D)
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
    torch::NoGradGuard noGrad;
    if (!bf16Net_) {
      bf16Net_ = InTraModel(model_);
      bf16Net_->setKernels(kernels_);
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

AnomalyResult Engine::anomalyMaps(const ImageBatch& images, bool withReconstruction) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfilerBinding bindProfiler(&profiler_);
  useThreads();
  if (!diffMean_.defined()) {
    throw invalidState("The model has no training statistics: call fitNormalStatistics after training");
  }
  torch::Tensor patches = toPatches(images, "images");
  torch::InferenceMode inference;
  net_->eval();
  torch::Tensor reconstruction = patchesToImages(reconstructPatches(patches));
  std::optional<ProfileScope> mapping(std::in_place, "maps");
  torch::Tensor original = patchesToImages(patches.to(torch::kFloat).div(255.0));
  torch::Tensor diff = multiScaleGmsDiff(original, reconstruction, kernels_).squeeze(1);  // (n, H, W)
  torch::Tensor maps = (diff - diffMean_).pow(2);
  mapping.reset();
  ProfileScope download("download");
  AnomalyResult result;
  result.scores = std::get<0>(maps.flatten(1).max(1)).contiguous().to(torch::kCPU);
  result.maps = maps.contiguous().to(torch::kCPU);
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
  const int64_t n = trainPatches_.size(0), G = model_.gridSide();
  // Images per chunk so that one chunk's windows fill about one inference batch.
  const int64_t chunk = std::max<int64_t>(1, options_.inferenceBatch / (G * G));
  torch::Tensor sum = torch::zeros({model_.imageSize, model_.imageSize}, torch::TensorOptions().device(device_));
  for (int64_t from = 0; from < n; from += chunk) {
    torch::Tensor patches = trainPatches_.slice(0, from, std::min(n, from + chunk));
    torch::Tensor reconstruction = patchesToImages(reconstructPatches(patches));
    torch::Tensor original = patchesToImages(patches.to(torch::kFloat).div(255.0));
    ProfileScope scope("maps");
    sum += multiScaleGmsDiff(original, reconstruction, kernels_).squeeze(1).sum(0);
  }
  diffMean_ = sum / static_cast<double>(n);
}

void Engine::keepBest() {
  std::lock_guard<std::mutex> lock(mutex_);
  best_.clear();
  for (const auto& p : net_->parameters()) best_.push_back(p.detach().clone());
}

void Engine::restoreBest() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (best_.empty()) throw invalidState("No best weights are remembered: call keepBest first");
  torch::NoGradGuard noGrad;
  auto params = net_->parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best_[i]);
  ++weightsVersion_;
}

void Engine::save(const std::string& path, const std::string& metadataJson) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckpointContents contents;
  contents.texts["config"] = intra::serialize(model_);
  contents.texts["train"] = serialize(train_);
  contents.texts["metadata"] = metadataJson;
  contents.texts["steps"] = std::to_string(stepsDone_);
  auto named = net_->named_parameters();
  for (size_t i = 0; i < named.size(); ++i) {
    const auto& item = named[i];
    contents.tensors["param:" + item.key()] = item.value();
    if (!best_.empty()) contents.tensors["best:" + item.key()] = best_[i];
    // Adam's moments, so that a resumed run continues exactly where it stopped.
    auto& state = optimizer_->state();
    auto found = state.find(c10::guts::to_string(item.value().unsafeGetTensorImpl()));
    if (found != state.end()) {
      auto& adam = static_cast<torch::optim::AdamParamState&>(*found->second);
      contents.tensors["adam.exp_avg:" + item.key()] = adam.exp_avg();
      contents.tensors["adam.exp_avg_sq:" + item.key()] = adam.exp_avg_sq();
      contents.texts["adam.step:" + item.key()] = std::to_string(adam.step());
    }
  }
  if (diffMean_.defined()) contents.tensors["diff_mean"] = diffMean_;
  {
    std::lock_guard<std::mutex> generatorLock(generator_.mutex());
    contents.tensors["generator"] = generator_.get_state();
  }
  writeCheckpoint(path, contents);
  metadata_ = metadataJson;
}

std::unique_ptr<Engine> Engine::load(const std::string& path, const EngineOptions& options) {
  CheckpointContents contents = readCheckpoint(path);
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
                   std::to_string(model.imageSize) + ") needs " + std::to_string(expected) + " weights but the file holds " +
                   std::to_string(stored));
  }
  TrainConfig train = deserializeTrainConfig(text("train"), path);
  try {
    train.validate();
  } catch (const IntraError& e) {
    throw unusable(std::string("its training config: ") + e.what());
  }
  auto engine = std::make_unique<Engine>(model, train, options);
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
  for (auto& item : engine->net_->named_parameters()) {
    const std::string key = item.key();
    if (contents.tensors.find("param:" + key) == contents.tensors.end()) throw unusable("it has no weights for " + key);
    item.value().copy_(shaped("param:" + key, item.value()));
    if (contents.tensors.count("best:" + key)) best.push_back(shaped("best:" + key, item.value()).to(engine->device_));
    if (contents.tensors.count("adam.exp_avg:" + key)) {
      if (!contents.tensors.count("adam.exp_avg_sq:" + key)) throw unusable("it has no adam.exp_avg_sq for " + key);
      auto adam = std::make_unique<torch::optim::AdamParamState>();
      adam->step(parseNumber<int64_t>(text("adam.step:" + key), path, "'adam.step:" + key + "'"));
      adam->exp_avg(shaped("adam.exp_avg:" + key, item.value()).to(engine->device_));
      adam->exp_avg_sq(shaped("adam.exp_avg_sq:" + key, item.value()).to(engine->device_));
      engine->optimizer_->state()[c10::guts::to_string(item.value().unsafeGetTensorImpl())] = std::move(adam);
    }
  }
  if (!best.empty()) {
    if (best.size() != engine->net_->parameters().size()) throw unusable("it has best weights for some parameters only");
    engine->best_ = std::move(best);
  }
  ++engine->weightsVersion_;
  auto diff = contents.tensors.find("diff_mean");
  if (diff != contents.tensors.end()) {
    engine->diffMean_ = shaped("diff_mean", torch::empty({model.imageSize, model.imageSize})).to(engine->device_);
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
