#include "model.h"

#include <cmath>
#include <optional>

#include "../kernels/activation/bias_gelu.h"
#include "../kernels/attention/attention.h"
#include "../kernels/bias/bias_add.h"
#include "../kernels/norm/layer_norm.h"
#include "../common/profile.h"
#include "machine.h"

namespace intra {

namespace nn = torch::nn;

AttentionImpl::AttentionImpl(const ModelConfig& c) : kind_(c.attention), heads_(c.heads) {
  const int64_t D = c.dim;
  if (kind_ == AttentionKind::Mfsa) {
    queryHidden_ = register_module("query_hidden", nn::Linear(D, 2 * D));
    query_ = register_module("query", nn::Linear(2 * D, D / 2));
    keyHidden_ = register_module("key_hidden", nn::Linear(D, 2 * D));
    key_ = register_module("key", nn::Linear(2 * D, D / 2));
  } else {
    query_ = register_module("query", nn::Linear(D, D));
    key_ = register_module("key", nn::Linear(D, D));
  }
  value_ = register_module("value", nn::Linear(D, D));
  output_ = register_module("output", nn::Linear(D, D));
}

namespace {
thread_local const WorkingWeights* workingInScope = nullptr;
}  // namespace

void WorkingWeights::refresh(const std::vector<torch::Tensor>& masters) {
  torch::NoGradGuard noGrad;
  for (const torch::Tensor& master : masters) {
    torch::Tensor& copy = copies_[master.unsafeGetTensorImpl()];
    if (copy.defined()) {
      copy.copy_(master);
    } else {
      copy = master.detach().to(torch::kBFloat16).requires_grad_(true);
    }
  }
}

const torch::Tensor& WorkingWeights::of(const torch::Tensor& master) {
  if (workingInScope == nullptr || !master.defined()) return master;
  auto found = workingInScope->copies_.find(master.unsafeGetTensorImpl());
  return found == workingInScope->copies_.end() ? master : found->second;
}

torch::Tensor WorkingWeights::copyOf(const torch::Tensor& master) const {
  auto found = copies_.find(master.unsafeGetTensorImpl());
  return found == copies_.end() ? torch::Tensor() : found->second;
}

void WorkingWeights::clearGradients() {
  for (auto& entry : copies_) entry.second.mutable_grad() = torch::Tensor();
}

WorkingWeights::Scope::Scope(const WorkingWeights* weights) : previous_(workingInScope) { workingInScope = weights; }
WorkingWeights::Scope::~Scope() { workingInScope = previous_; }

namespace {
// residual + layer(x) (no residual where undefined) with the layer's working copies where they
// are in scope. Where the bias kernels are fused, the product is taken without its bias and
// our kernel adds the bias and the residual in one pass; it reads the fp32 bias and returns its
// gradient in fp32, so it takes the master, as bias + GELU does. A bias alone without autograd
// (scoring, validation) stays in the product, whose epilogue adds it at no extra pass (bf16
// scoring was 1-5% slower with our pass there, AMD EPYC Zen 5).
torch::Tensor project(nn::Linear& layer, const torch::Tensor& x, kernels::Implementation bias,
                      const torch::Tensor& residual = torch::Tensor()) {
  const bool ours = residual.defined() || torch::GradMode::is_enabled();
  if (bias != kernels::Implementation::Reference && layer->bias.defined() && ours) {
    return kernels::biasAdd(torch::nn::functional::linear(x, WorkingWeights::of(layer->weight)), layer->bias, residual, bias);
  }
  torch::Tensor y = torch::nn::functional::linear(x, WorkingWeights::of(layer->weight), WorkingWeights::of(layer->bias));
  return residual.defined() ? residual + y : y;
}

// GELU(layer(x)): where fused, the product without its bias, then bias and GELU in one pass
// (our kernel reads the fp32 bias and returns its gradient in fp32, so it takes the master).
// With a phase name, the activation (and the bias it adds) is timed apart from the product.
torch::Tensor geluOfLinear(nn::Linear& layer, const torch::Tensor& x, kernels::Implementation impl,
                           const char* phase = nullptr) {
  const bool fused = impl != kernels::Implementation::Reference;
  const torch::Tensor product = torch::nn::functional::linear(x, WorkingWeights::of(layer->weight),
                                                              fused ? torch::Tensor() : WorkingWeights::of(layer->bias));
  std::optional<ProfileScope> scope;
  if (phase) scope.emplace(phase);
  return fused ? kernels::biasGelu(product, layer->bias, impl) : torch::gelu(product);
}
}  // namespace

// Sub-phases (nested in the block's "attention"): the profiler splits the matrix products
// from the attention itself, and MFSA's query/key MLPs from the plain projections.
torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  const int64_t B = x.size(0), S = x.size(1);
  torch::Tensor q, k, v;
  if (kind_ == AttentionKind::Mfsa) {
    ProfileScope scope("attention / query-key mlp");
    q = project(query_, geluOfLinear(queryHidden_, x, activationKernels), biasKernels);
    k = project(key_, geluOfLinear(keyHidden_, x, activationKernels), biasKernels);
  }
  {
    ProfileScope scope("attention / projections");
    if (kind_ != AttentionKind::Mfsa) {
      q = project(query_, x, biasKernels);
      k = project(key_, x, biasKernels);
    }
    v = project(value_, x, biasKernels);
  }
  auto split = [&](const torch::Tensor& t) { return t.view({B, S, heads_, -1}).transpose(1, 2); };
  torch::Tensor out;
  {
    ProfileScope scope("attention / core");
    out = kind_ == AttentionKind::Linear ? kernels::linearAttention(split(q), split(k), split(v), kernels)
                                         : kernels::softmaxAttention(split(q), split(k), split(v), kernels);
  }
  ProfileScope scope("attention / output");
  return project(output_, out.transpose(1, 2).reshape({B, S, -1}), biasKernels, residual);
}

BlockImpl::BlockImpl(const ModelConfig& c, int64_t index)
    : norm1Name_("block " + std::to_string(index) + " / norm"),
      norm2Name_("block " + std::to_string(index) + " / norm"),
      attentionName_("block " + std::to_string(index) + " / attention"),
      mlpName_("block " + std::to_string(index) + " / mlp") {
  norm1_ = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({c.dim})));
  attention_ = register_module("attention", Attention(c));
  norm2_ = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({c.dim})));
  hidden_ = register_module("mlp_hidden", nn::Linear(c.dim, c.mlpRatio * c.dim));
  projection_ = register_module("mlp_output", nn::Linear(c.mlpRatio * c.dim, c.dim));
}

namespace {
// Under CPU autocast the products after a norm read bf16: the fused norm writes it, so the one
// or three products reading it (MFSA's q and k MLPs and v) cast nothing, nor their gradients
// back (these are then summed in bf16). The reference keeps autocast's way: float out, cast
// by each product, gradients summed in float.
torch::Tensor layerNorm(nn::LayerNorm& norm, const torch::Tensor& x, kernels::Implementation impl) {
  const bool fused = impl != kernels::Implementation::Reference && x.is_cpu();
  const std::optional<at::ScalarType> products = fused ? cpuAutocastType() : std::nullopt;
  return kernels::layerNorm(x, norm->weight, norm->bias, norm->options.eps(), impl, products);
}
}  // namespace

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor normed;
  {
    ProfileScope scope(norm1Name_);
    normed = layerNorm(norm1_, x, normKernels);
  }
  torch::Tensor y;
  {
    ProfileScope scope(attentionName_);
    y = attention_(normed, x);
  }
  {
    ProfileScope scope(norm2Name_);
    normed = layerNorm(norm2_, y, normKernels);
  }
  ProfileScope scope(mlpName_);
  return project(projection_, geluOfLinear(hidden_, normed, activationKernels, "mlp / gelu"), biasKernels, y);
}

InTraModelImpl::InTraModelImpl(const ModelConfig& c) : config_(c) {
  c.validate();
  patchEmbedding_ = register_module("patch_embedding", nn::Linear(c.patchValues(), c.dim));
  positionEmbedding_ = register_parameter("position_embedding", torch::zeros({c.gridPatches(), c.dim}));
  inpaintToken_ = register_parameter("inpaint_token", torch::zeros({c.dim}));
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks_.push_back(register_module("block" + std::to_string(i), Block(c, i)));
  }
  head_ = register_module("head", nn::Linear(c.dim, c.patchValues()));
}

std::vector<torch::Tensor> InTraModelImpl::productOperands() {
  std::vector<torch::Tensor> operands;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (const auto* linear = module->as<nn::Linear>()) {
      operands.push_back(linear->weight);
      if (linear->bias.defined()) operands.push_back(linear->bias);
    }
  }
  return operands;
}

void InTraModelImpl::initialise(at::Generator& generator) {
  torch::NoGradGuard noGrad;
  for (auto& item : named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    bool isNorm = name.find("norm") != std::string::npos;
    if (isNorm) {
      p.fill_(name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0 ? 1.0 : 0.0);
    } else if (p.dim() == 1 && name != "inpaint_token") {
      p.zero_();  // biases
    } else {
      p.normal_(0.0, 0.02, generator);  // ViT's initialisation scale
    }
  }
}

void InTraModelImpl::setKernels(kernels::Implementation attention, kernels::Implementation norm,
                                kernels::Implementation activation, kernels::Implementation bias) {
  for (auto& block : blocks_) {
    block->attention()->kernels = attention;
    block->attention()->activationKernels = activation;
    block->attention()->biasKernels = bias;
    block->normKernels = norm;
    block->activationKernels = activation;
    block->biasKernels = bias;
  }
  biasKernels_ = bias;
}

torch::Tensor InTraModelImpl::embedPatches(const torch::Tensor& patches) {
  ProfileScope scope("embedding");
  return project(patchEmbedding_, patches, biasKernels_);
}

torch::Tensor InTraModelImpl::sequence(const torch::Tensor& embedded, const torch::Tensor& positions,
                                       const torch::Tensor& covered) {
  ProfileScope scope("embedding");
  const int64_t S = embedded.size(1);
  torch::Tensor position = positionEmbedding_.index_select(0, positions.reshape({-1})).view(embedded.sizes());
  torch::Tensor isCovered =
      (torch::arange(S, covered.options()).unsqueeze(0) == covered.unsqueeze(1)).unsqueeze(-1);  // (B,S,1)
  // The covered patch's pixels never reach the model: its slot holds x_inpaint + posemb.
  return torch::where(isCovered, inpaintToken_.view({1, 1, -1}).expand_as(embedded), embedded) + position;
}

// The backward of block i runs from the moment its output's gradient is complete to the
// moment its input's is: hooks on both mark the span (autograd runs CPU backward on the
// calling thread, where the profiler is bound).
void InTraModelImpl::timeBackward(const torch::Tensor& input, const torch::Tensor& output, int64_t index) {
  auto start = std::make_shared<int64_t>(0);
  output.register_hook([start](const torch::Tensor& grad) {
    *start = monotonicNs();
    return grad;
  });
  input.register_hook([start, index](const torch::Tensor& grad) {
    if (*start != 0) recordPhase("block " + std::to_string(index) + " / backward", *start, monotonicNs(), 1);
    return grad;
  });
}

torch::Tensor InTraModelImpl::forward(const torch::Tensor& input) {
  // Long residuals, U-Net style: block i's output is added to the input of block
  // depth-1-i, for every i with i + 1 < depth - 1 - i (so 0 -> 12, ..., 5 -> 7 at depth 13).
  const int64_t depth = static_cast<int64_t>(blocks_.size());
  std::vector<torch::Tensor> early;
  torch::Tensor x = input;
  for (int64_t i = 0; i < depth; ++i) {
    const int64_t partner = depth - 1 - i;  // the early block feeding block i, if any
    if (config_.longResiduals && partner + 1 < i && partner < static_cast<int64_t>(early.size())) {
      x = x + early[partner];
    }
    torch::Tensor input = x;
    x = blocks_[i]->forward(x);
    if (profilingActive() && x.requires_grad()) timeBackward(input, x, i);
    if (config_.longResiduals && i + 1 < depth - 1 - i) early.push_back(x);
  }
  ProfileScope scope("head");
  return torch::sigmoid(project(head_, x.mean(1), biasKernels_));
}

}  // namespace intra
