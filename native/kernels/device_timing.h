// Timing and memory peaks of kernel runs per device, for the harness: a host clock on the
// CPU; CUDA events and the CUDA caching allocator's peak on a GPU (never host clocks
// around asynchronous launches).
#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace intra::kernels {

// Milliseconds that `body` takes on `device`.
double timeOnDevice(const at::Device& device, const std::function<void()>& body);

// Peak bytes of tensors on `device` since resetDevicePeak, above those alive at the reset;
// -1 where nothing counts them.
void resetDevicePeak(const at::Device& device);
int64_t devicePeakBytes(const at::Device& device);

// Turns TF32 off for its lifetime, so that a float32 reference on a GPU computes in float32.
class TF32Off {
 public:
  TF32Off();
  ~TF32Off();
  TF32Off(const TF32Off&) = delete;
  TF32Off& operator=(const TF32Off&) = delete;

 private:
  bool cudnn_, cublas_;
};

}  // namespace intra::kernels
