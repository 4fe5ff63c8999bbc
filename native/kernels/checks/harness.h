// Correctness checks and timings of the kernels, for the tests, `intra bench kernels` and
// intra-kernel-check: a layer above the families (it runs every one of them), below core.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace intra::kernels {

struct CheckRequest {
  std::string op;  // softmax_attention | linear_attention | gms | ssim | blur | mean_filter | adam
  // attention: B, heads, S, dqk, dv; filters: B, C, H, W (+ kernel); adam: P parameters of N, N + 7, ... elements
  std::vector<int64_t> shape;
  uint64_t seed = 0;
  std::string device = "cpu";  // where the kernel under test and the float references run
  std::string impl = "fused";  // the implementation under test: fused | cuda-emulated
  // A deliberately wrong kernel put in the family's table for this check, to show that the
  // check fails on it (the standing mutation test): "" (none); "output-scale" (attention: the
  // output off by one part in 1024); "gradient-term" (GMS: the gradient of its second image
  // left out of the backward; layer norm: its bias gradient left out).
  std::string fault;
};

// Each run of the kernel under test must go through its table's entry (tableEntriesUsed):
// one that did not (a dtype that fell through to the reference) is an INTRA_INVALID_STATE
// error naming the dtype, not a comparison of the reference with itself.
// For each output and gradient, against the float64 reference computed on the CPU: the
// largest |x - ref64| of the kernel under test in float, of the reference in float (same
// device), of the kernel in double, of the kernel on bf16 inputs and of the reference on
// bf16-rounded inputs computed in float, the same two for fp16; and max |ref64| for scale.
// Names: "out", "grad0", "grad1", ...; Adam's: "param", "exp_avg", "exp_avg_sq" after three
// steps (its bf16 and fp16 fields stay 0: parameters are fp32 master weights).
struct ErrorStats {
  double fused32 = 0, reference32 = 0, fused64 = 0, fusedBf16 = 0, referenceBf16 = 0, fusedF16 = 0,
         referenceF16 = 0, scale = 0;
};
std::map<std::string, ErrorStats> checkKernel(const CheckRequest& request);

// The tolerance rules (llm.c / flash-attention style), each relative to a float64 reference:
// float32 within twice the reference's own float32 error plus 4 float32 ulps of the scale;
// float64 within 1e-12 of the scale (the same arithmetic in another order); bf16 and fp16
// (rounded once more to their own type on output) within twice the reference's error on
// rounded inputs plus one rounding u of the output's own scale (max |ref|, however small) and
// u^2 of at least 1 (what a value that cancels to zero keeps). Returns what is violated, ""
// when nothing.
std::string toleranceViolations(const std::string& name, const ErrorStats& e);

// A central-difference check of the fused kernel's gradient in double along random
// directions: the largest |analytic - numeric| / max(1, |numeric|).
double gradcheckKernel(const CheckRequest& request);

struct BenchRequest {
  // impl: fused | reference | cuda-emulated | sdpa (libtorch 2.x's scaled_dot_product_attention)
  std::string op, impl = "fused", pass = "forward";  // pass: forward | forward+backward
  std::string device = "cpu";
  std::vector<int64_t> shape;
  int64_t warmup = 2, repeats = 7;
  std::string dtype = "float32";  // float32 | bfloat16
};
struct BenchResult {
  double medianMs = 0, minMs = 0;
  double flops = 0;   // per run, of the op's arithmetic (attention) or 0
  double bytes = 0;   // per run, of the op's inputs and outputs (filters)
  // tensor bytes alive at the peak of one run, above what was alive before (the CUDA caching
  // allocator's peak on a GPU); -1 where nothing counts them
  int64_t peakBytes = 0;
};
BenchResult benchKernel(const BenchRequest& request);

// The machine's ceiling: GFLOP/s of an n x n x n matrix product through this libtorch.
double matmulCeilingGflops(int64_t n, const std::string& dtype, int64_t repeats, const std::string& device = "cpu");

}  // namespace intra::kernels
