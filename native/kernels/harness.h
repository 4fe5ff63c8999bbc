// Correctness checks and timings of the kernels, for the tests and `intra bench kernels`.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace intra::kernels {

struct CheckRequest {
  std::string op;  // softmax_attention | linear_attention | gms | ssim | blur | mean_filter
  std::vector<int64_t> shape;  // attention: B, heads, S, dqk, dv; filters: B, C, H, W (+ kernel)
  uint64_t seed = 0;
};

// For each output and gradient: the largest |x - ref64| of the fused kernel in float, of
// the reference in float, of the fused kernel in double, and of the fused kernel run on
// bf16 inputs; and max |ref64| for scale. Names: "out", "grad0", "grad1", ...
struct ErrorStats {
  double fused32 = 0, reference32 = 0, fused64 = 0, fusedBf16 = 0, referenceBf16 = 0, scale = 0;
};
std::map<std::string, ErrorStats> checkKernel(const CheckRequest& request);

// A central-difference check of the fused kernel's gradient in double along random
// directions: the largest |analytic - numeric| / max(1, |numeric|).
double gradcheckKernel(const CheckRequest& request);

struct BenchRequest {
  std::string op, impl = "fused", pass = "forward";  // pass: forward | forward+backward
  std::vector<int64_t> shape;
  int64_t warmup = 2, repeats = 7;
  std::string dtype = "float32";  // float32 | bfloat16
};
struct BenchResult {
  double medianMs = 0, minMs = 0;
  double flops = 0;   // per run, of the op's arithmetic (attention) or 0
  double bytes = 0;   // per run, of the op's inputs and outputs (filters)
  int64_t peakBytes = 0;  // tensor bytes alive at the peak of one run, above what was alive before
};
BenchResult benchKernel(const BenchRequest& request);

// The machine's ceiling: GFLOP/s of an n x n x n matrix product through this libtorch.
double matmulCeilingGflops(int64_t n, const std::string& dtype, int64_t repeats);

}  // namespace intra::kernels
