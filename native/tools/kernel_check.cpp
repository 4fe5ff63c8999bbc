// The kernel checks and benchmarks without node: for a GPU machine that has a CUDA libtorch,
// nvcc and CMake but no node (configure with plain cmake; the addon is skipped, this is not).
//
//   intra-kernel-check [--device cpu|cuda] [--impl fused|cuda-emulated] [--bench] [--threads N]
//
// Check mode runs every op on random shapes (odd sizes too) against the float64 reference
// with the tolerance rules of the tests, and a central-difference gradient check in double;
// one JSON object per line, exit 1 if any fails. Bench mode times fused against the ATen
// reference at the model's shapes (the CUDA kernels issue's targets) and prints JSON lines.
#include <ATen/Parallel.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/errors.h"
#include "../kernels/attention/attention.h"
#include "../kernels/checks/harness.h"
#include "../kernels/activation/bias_gelu.h"
#include "../kernels/bias/bias_add.h"
#include "../kernels/norm/layer_norm.h"
#include "../kernels/optim/adam.h"
#include "../kernels/registry.h"

namespace {

using intra::kernels::BenchRequest;
using intra::kernels::CheckRequest;

std::string shapeText(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << "]";
  return out.str();
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

struct Case {
  std::string op;
  std::vector<int64_t> shape;
};

int runChecks(const std::string& device, const std::string& impl) {
  int failures = 0, total = 0;
  // Which CPU kernel set ran (INTRA_CPU_KERNELS may narrow it): its records name it.
  const std::string cpuKernels = device == "cpu" && impl == "fused" ? intra::kernels::fusedInstructionSet() : "";
  const auto where = device == "cuda" ? intra::kernels::Device::Cuda : intra::kernels::Device::Cpu;
  const auto implementation = intra::kernels::implementationFromString(impl);
  // Every op of every family whose table has an entry here, at the registry's shapes (the
  // tests' own), then the central differences where there is a backward.
  for (const auto& family : intra::kernels::kernelFamilies()) {
    if (family.built == nullptr || !family.built(where, implementation)) continue;
    for (const auto& op : family.ops) {
      for (const auto& shape : op.checkShapes) {
        CheckRequest request{op.name, shape, 11, device, impl};
        for (const auto& [name, e] : intra::kernels::checkKernel(request)) {
          const std::string violations = intra::kernels::toleranceViolations(name, e);
          failures += violations.empty() ? 0 : 1;
          ++total;
          std::printf(
              "{\"op\":\"%s\",\"shape\":%s,\"device\":\"%s\",\"impl\":\"%s\",\"cpuKernels\":\"%s\",\"output\":\"%s\",\"scale\":%.3g,"
              "\"fused32\":%.3g,\"reference32\":%.3g,\"fused64\":%.3g,\"fusedBf16\":%.3g,\"referenceBf16\":%.3g,"
              "\"fusedF16\":%.3g,\"referenceF16\":%.3g,\"pass\":%s,\"violations\":%s}\n",
              op.name, shapeText(shape).c_str(), device.c_str(), impl.c_str(), cpuKernels.c_str(), name.c_str(), e.scale,
              e.fused32, e.reference32, e.fused64, e.fusedBf16, e.referenceBf16, e.fusedF16, e.referenceF16,
              violations.empty() ? "true" : "false", quoted(violations).c_str());
        }
      }
    }
    for (const auto& op : family.ops) {
      for (const auto& shape : op.gradcheckShapes) {
        const double worst = intra::kernels::gradcheckKernel({op.name, shape, 3, device, impl});
        const bool pass = worst < 1e-6;
        failures += pass ? 0 : 1;
        ++total;
        std::printf("{\"gradcheck\":\"%s\",\"shape\":%s,\"device\":\"%s\",\"impl\":\"%s\",\"worst\":%.3g,\"pass\":%s}\n",
                    op.name, shapeText(shape).c_str(), device.c_str(), impl.c_str(), worst, pass ? "true" : "false");
      }
    }
  }
  std::printf("%d passed, %d failed\n", total - failures, failures);
  return failures == 0 ? 0 : 1;
}

// The CUDA kernels issue's bench shapes: bf16, D 512, 8 heads, 4096 windows.
int runBench(const std::string& device, const std::string& impl) {
  const double ceiling = intra::kernels::matmulCeilingGflops(device == "cuda" ? 8192 : 2048, "bfloat16", 10, device);
  std::printf("{\"ceiling_bf16_gflops\":%.1f,\"device\":\"%s\"}\n", ceiling, device.c_str());
  const int64_t windows = device == "cuda" ? 4096 : 64;
  std::vector<Case> cases = {{"softmax_attention", {windows, 8, 49, 64, 64}},  // MSA widths
                             {"softmax_attention", {windows, 8, 49, 32, 64}},  // MFSA widths
                             {"softmax_attention", {device == "cuda" ? 256 : 4, 8, 1024, 64, 64}},
                             {"linear_attention", {windows, 8, 49, 64, 64}},
                             {"linear_attention", {device == "cuda" ? 256 : 4, 8, 1024, 64, 64}},
                             {"gms", {windows, 3, 16, 16}},
                             {"ssim", {windows, 3, 16, 16}},
                             {"blur", {device == "cuda" ? 64 : 4, 1, 256, 256, 21}},
                             {"mean_filter", {device == "cuda" ? 64 : 4, 1, 256, 256, 21}},
                             // A quarter of those windows' tokens: the model's rows (D 512) and MLP rows (4D).
                             {"layer_norm", {windows * 49 / 4, 512}},
                             {"bias_gelu", {windows * 49 / 4, 2048}},
                             {"bias_residual", {windows * 49 / 4, 512}}};
  for (const Case& c : cases) {
    for (const char* pass : {"forward", "forward+backward"}) {
      if ((c.op == "blur" || c.op == "mean_filter") && std::string(pass) != "forward") continue;
      double ms[2] = {0, 0};
      int64_t peak[2] = {0, 0};
      const std::string impls[2] = {impl, "reference"};
      for (int i = 0; i < 2; ++i) {
        BenchRequest request;
        request.op = c.op;
        request.impl = impls[i];
        request.pass = pass;
        request.shape = c.shape;
        request.device = device;
        request.dtype = "bfloat16";
        request.warmup = 3;
        request.repeats = 10;
        const auto result = intra::kernels::benchKernel(request);
        ms[i] = result.medianMs;
        peak[i] = result.peakBytes;
      }
      std::printf("{\"op\":\"%s\",\"shape\":%s,\"pass\":\"%s\",\"device\":\"%s\",\"dtype\":\"bfloat16\",\"ms\":%.4f,"
                  "\"reference_ms\":%.4f,\"speedup\":%.2f,\"peak_bytes\":%lld,\"reference_peak_bytes\":%lld}\n",
                  c.op.c_str(), shapeText(c.shape).c_str(), pass, device.c_str(), ms[0], ms[1], ms[1] / ms[0],
                  static_cast<long long>(peak[0]), static_cast<long long>(peak[1]));
      std::fflush(stdout);
    }
  }
  // Against libtorch 2.x's own attention at MSA widths (flash kernels are built for long
  // sequences; a window-specialised kernel should win at S = 49).
  for (const char* pass : {"forward", "forward+backward"}) {
    BenchRequest request;
    request.op = "softmax_attention";
    request.pass = pass;
    request.shape = {windows, 8, 49, 64, 64};
    request.device = device;
    request.dtype = "bfloat16";
    request.warmup = 3;
    request.repeats = 10;
    try {
      request.impl = impl;
      const double ours = intra::kernels::benchKernel(request).medianMs;
      request.impl = "sdpa";
      const double sdpa = intra::kernels::benchKernel(request).medianMs;
      std::printf("{\"op\":\"softmax_attention\",\"versus\":\"sdpa\",\"shape\":%s,\"pass\":\"%s\",\"ms\":%.4f,"
                  "\"sdpa_ms\":%.4f,\"speedup\":%.2f}\n",
                  shapeText(request.shape).c_str(), pass, ours, sdpa, sdpa / ours);
    } catch (const std::exception& e) {
      std::printf("{\"versus\":\"sdpa\",\"skipped\":%s}\n", quoted(e.what()).c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu", impl = "fused";
  bool bench = false;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw intra::invalidArgument("Expected a value after " + arg);
      return argv[++i];
    };
    if (arg == "--device") device = value();
    else if (arg == "--impl") impl = value();
    else if (arg == "--bench") bench = true;
    else if (arg == "--threads") threads = std::stoi(value());
    else {
      std::cerr << "usage: intra-kernel-check [--device cpu|cuda] [--impl fused|cuda-emulated] [--bench] [--threads N]\n";
      return 2;
    }
  }
  try {
    if (threads > 0) at::set_num_threads(threads);
    return bench ? runBench(device, impl) : runChecks(device, impl);
  } catch (const std::exception& e) {
    std::cerr << "intra-kernel-check: " << e.what() << "\n";
    return 2;
  }
}
