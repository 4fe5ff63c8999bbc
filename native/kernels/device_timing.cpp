#include "device_timing.h"

#include <chrono>

#include "../common/cpu_allocator.h"

#ifdef INTRA_CUDA_KERNELS
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace intra::kernels {

namespace {
int64_t cpuBaseline = 0;
#ifdef INTRA_CUDA_KERNELS
int64_t cudaBaseline = 0;
int64_t cudaAllocated(const at::Device& device, bool peak) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
  // Entry 0 is the aggregate over pool kinds; StatType moved namespaces between libtorch 1.13
  // and 2.x, its first value did not.
  const auto& all = stats.allocated_bytes[0];
  return peak ? all.peak : all.current;
}
#endif
}  // namespace

double timeOnDevice(const at::Device& device, const std::function<void()>& body) {
#ifdef INTRA_CUDA_KERNELS
  if (device.is_cuda()) {
    at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
    auto stream = c10::cuda::getCurrentCUDAStream(device.index() < 0 ? 0 : device.index());
    start.record(stream);
    body();
    stop.record(stream);
    stop.synchronize();
    return start.elapsed_time(stop);
  }
#endif
  const auto begin = std::chrono::steady_clock::now();
  body();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
}

void resetDevicePeak(const at::Device& device) {
#ifdef INTRA_CUDA_KERNELS
  if (device.is_cuda()) {
    const int index = device.index() < 0 ? 0 : device.index();
    c10::cuda::CUDACachingAllocator::resetPeakStats(index);
    cudaBaseline = cudaAllocated(device, false);
    return;
  }
#endif
  cpuBaseline = liveBytes();
  resetPeakBytes();
}

int64_t devicePeakBytes(const at::Device& device) {
#ifdef INTRA_CUDA_KERNELS
  if (device.is_cuda()) return cudaAllocated(device, true) - cudaBaseline;
#endif
  if (!device.is_cpu() || !cachingCountingAllocatorInstalled()) return -1;
  return peakBytes() - cpuBaseline;
}

TF32Off::TF32Off()
    : cudnn_(at::globalContext().allowTF32CuDNN()), cublas_(at::globalContext().allowTF32CuBLAS()) {
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
}

TF32Off::~TF32Off() {
  at::globalContext().setAllowTF32CuDNN(cudnn_);
  at::globalContext().setAllowTF32CuBLAS(cublas_);
}

}  // namespace intra::kernels
