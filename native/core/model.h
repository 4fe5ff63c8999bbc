// The Inpainting Transformer (Pirnay & Chai 2021) with three attention kinds.
#pragma once
#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <unordered_map>

#include "../kernels/dispatch.h"
#include "config.h"

namespace intra {

// bf16 working copies of the linear layers' weights and biases, kept for bf16 training where
// the fused Adam rewrites them in its pass: while a WorkingWeights::Scope is open on a thread,
// the model's products there read the copy (a leaf that collects its own bf16 gradient)
// instead of autocast casting the fp32 master anew each step and its gradient back.
class WorkingWeights {
 public:
  // Makes or refreshes the copy of each master (rounded to nearest even, as autocast's cast).
  void refresh(const std::vector<torch::Tensor>& masters);
  // The copy of `master`, or `master` itself where it has none (or none is in scope).
  static const torch::Tensor& of(const torch::Tensor& master);
  // The copy of `master`, or an undefined tensor.
  torch::Tensor copyOf(const torch::Tensor& master) const;
  void clearGradients();
  bool empty() const { return copies_.empty(); }

  class Scope {
   public:
    explicit Scope(const WorkingWeights* weights);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    const WorkingWeights* previous_;
  };

 private:
  std::unordered_map<const c10::TensorImpl*, torch::Tensor> copies_;
};

// Multi-head attention. msa: linear q, k, v; mfsa: q and k from MLPs D -> 2D -> D/2 (GELU);
// linear: as msa with phi(x) = elu(x) + 1 kernelised attention instead of softmax.
class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const ModelConfig& config);
  // (B, S, D) -> residual + attention(x), (B, S, D): the output projection adds the residual.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  kernels::Implementation kernels = kernels::Implementation::Reference;
  kernels::Implementation activationKernels = kernels::Implementation::Reference;
  kernels::Implementation biasKernels = kernels::Implementation::Reference;

 private:
  AttentionKind kind_;
  int64_t heads_;
  torch::nn::Linear query_{nullptr}, key_{nullptr}, queryHidden_{nullptr}, keyHidden_{nullptr};
  torch::nn::Linear value_{nullptr}, output_{nullptr};
};
TORCH_MODULE(Attention);

// Pre-norm block: x + attention(norm(x)), then x + mlp(norm(x)).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelConfig& config, int64_t index);
  torch::Tensor forward(const torch::Tensor& x);
  Attention& attention() { return attention_; }
  kernels::Implementation normKernels = kernels::Implementation::Reference;
  kernels::Implementation activationKernels = kernels::Implementation::Reference;
  kernels::Implementation biasKernels = kernels::Implementation::Reference;

 private:
  std::string norm1Name_, norm2Name_, attentionName_, mlpName_;  // profile phase names
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  Attention attention_{nullptr};
  torch::nn::Linear hidden_{nullptr}, projection_{nullptr};
};
TORCH_MODULE(Block);

class InTraModelImpl : public torch::nn::Module {
 public:
  explicit InTraModelImpl(const ModelConfig& config);

  // Patch embedding of every patch: (..., K*K*C) -> (..., D).
  torch::Tensor embedPatches(const torch::Tensor& patches);
  // Builds the input sequence from embedded patches (B, S, D), their grid positions (B, S)
  // (indices f(i, j) into the whole image grid) and the covered slot of each window (B).
  torch::Tensor sequence(const torch::Tensor& embedded, const torch::Tensor& positions,
                         const torch::Tensor& covered);
  // Sequence (B, S, D) -> inpainted patch (B, K*K*C) in [0, 1].
  torch::Tensor forward(const torch::Tensor& sequence);

  // Deterministic initialisation from the engine's own generator.
  void initialise(at::Generator& generator);
  // The attention's kernels, the layer norms', bias + GELU's and the bias adds' (each fused
  // only where the device has it).
  void setKernels(kernels::Implementation attention, kernels::Implementation norm,
                  kernels::Implementation activation, kernels::Implementation bias);
  const ModelConfig& config() const { return config_; }
  std::vector<Block>& blocks() { return blocks_; }
  // The weights and biases of every linear layer: what the matrix products read.
  std::vector<torch::Tensor> productOperands();

 private:
  ModelConfig config_;
  torch::nn::Linear patchEmbedding_{nullptr}, head_{nullptr};
  kernels::Implementation biasKernels_ = kernels::Implementation::Reference;
  void timeBackward(const torch::Tensor& input, const torch::Tensor& output, int64_t index);
  torch::Tensor positionEmbedding_, inpaintToken_;
  std::vector<Block> blocks_;
};
TORCH_MODULE(InTraModel);

}  // namespace intra
