// The few things CUDA kernel source needs that differ between nvcc and the CPU emulation
// (cuda_emulation.h): qualifiers, storage types and their conversions, math, shared memory,
// the block barrier and the launch. Kernel files (*.cuh) include this and nothing of CUDA.
//
// Under nvcc the kernels are real CUDA. Compiled by g++ (INTRA_CUDA_EMULATION), every CUDA
// thread of a block is a CPU thread, __syncthreads is a barrier over them, and blocks run
// one after another: the kernels' indexing, staging and reductions are tested on any machine.
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../common/errors.h"

// Each build of the kernel source lives in its own inline namespace. nvcc's build and the
// emulation's define the same inline functions and templates (the launchers, withTypes, ...):
// under one name the linker keeps a single definition for both, and a GPU build's launches
// ran the emulation on device pointers. Callers still write device::attention::...
#if defined(__CUDACC__)
#define INTRA_DEVICE_BUILD nvcc_build
#else
#define INTRA_DEVICE_BUILD emulated_build
#endif
namespace intra::kernels::device {
inline namespace INTRA_DEVICE_BUILD {}
}  // namespace intra::kernels::device

#if defined(__CUDACC__)

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>

#define INTRA_KERNEL __global__
#define INTRA_LAUNCH_BOUNDS(threads) __launch_bounds__(threads)
#define INTRA_DEVICE __device__ __forceinline__

namespace intra::kernels::device::INTRA_DEVICE_BUILD {

using Bf16 = __nv_bfloat16;
using F16 = __half;

INTRA_DEVICE float widenToFloat(Bf16 x) { return __bfloat162float(x); }
INTRA_DEVICE float widenToFloat(F16 x) { return __half2float(x); }
template <typename T>
INTRA_DEVICE T narrowFromFloat(float x);
template <>
INTRA_DEVICE Bf16 narrowFromFloat<Bf16>(float x) { return __float2bfloat16_rn(x); }
template <>
INTRA_DEVICE F16 narrowFromFloat<F16>(float x) { return __float2half_rn(x); }

INTRA_DEVICE float expOf(float x) { return expf(x); }
INTRA_DEVICE double expOf(double x) { return exp(x); }
INTRA_DEVICE float logOf(float x) { return logf(x); }
INTRA_DEVICE double logOf(double x) { return log(x); }
INTRA_DEVICE float sqrtOf(float x) { return sqrtf(x); }
INTRA_DEVICE double sqrtOf(double x) { return sqrt(x); }
INTRA_DEVICE float erfOf(float x) { return erff(x); }
INTRA_DEVICE double erfOf(double x) { return erf(x); }

template <typename A>
INTRA_DEVICE A* dynamicShared() {
  extern __shared__ __align__(16) unsigned char pool[];
  return reinterpret_cast<A*>(pool);
}

INTRA_DEVICE void blockBarrier() { __syncthreads(); }
INTRA_DEVICE void warpBarrier() { __syncwarp(); }
// The value of lane (lane ^ laneMask), every lane of the warp taking part.
template <typename V>
INTRA_DEVICE V shuffleXor(V value, int laneMask) { return __shfl_xor_sync(0xffffffffu, value, laneMask); }
// The sum over a full warp by the xor butterfly (masks 16 … 1), in every lane.
template <typename V>
INTRA_DEVICE V warpSum(V value) {
  for (int mask = 16; mask > 0; mask >>= 1) value += __shfl_xor_sync(0xffffffffu, value, mask);
  return value;
}
// The hardware's approximate exponential and logarithm (the softmax of 16-bit types).
INTRA_DEVICE float fastExp(float x) { return __expf(x); }
INTRA_DEVICE float fastLog(float x) { return __logf(x); }

inline void checkCuda(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) {
    throw IntraError("INTRA_DEVICE", std::string(what) + " failed at " + file + ":" + std::to_string(line) + ": " +
                                         cudaGetErrorString(status));
  }
}

// Blocks asking for more than 48 KiB of shared memory must opt in: once per kernel and device
// (the attribute stays set), again only for a larger size than set before.
inline void optInSharedMemory(const void* kernel, size_t shared, const char* file, int line) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, size_t> granted;
  int device = 0;
  checkCuda(cudaGetDevice(&device), "cudaGetDevice", file, line);
  std::lock_guard<std::mutex> lock(mutex);
  size_t& size = granted[{kernel, device}];
  if (shared <= size) return;
  checkCuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared)),
            "cudaFuncSetAttribute", file, line);
  size = shared;
}

// Launches `kernel` on `stream` (a cudaStream_t) and checks the launch.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared, void* stream, const char* file, int line,
            Args... args) {
  if (shared > 48 * 1024) optInSharedMemory(reinterpret_cast<const void*>(kernel), shared, file, line);
  kernel<<<grid, block, shared, static_cast<cudaStream_t>(stream)>>>(args...);
  checkCuda(cudaGetLastError(), "kernel launch", file, line);
}

// The most shared memory one block may have on the current device.
inline size_t sharedMemoryLimit() {
  int device = 0, bytes = 0;
  checkCuda(cudaGetDevice(&device), "cudaGetDevice", __FILE__, __LINE__);
  checkCuda(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
            "cudaDeviceGetAttribute", __FILE__, __LINE__);
  return static_cast<size_t>(bytes);
}

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD

#elif defined(INTRA_CUDA_EMULATION)

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>

#include "cuda_emulation.h"

#define INTRA_KERNEL
#define INTRA_LAUNCH_BOUNDS(threads)
#define INTRA_DEVICE inline

namespace intra::kernels::device::INTRA_DEVICE_BUILD {

using dim3 = emulation::dim3;
using Bf16 = c10::BFloat16;
using F16 = c10::Half;

inline float widenToFloat(Bf16 x) { return static_cast<float>(x); }
inline float widenToFloat(F16 x) { return static_cast<float>(x); }
template <typename T>
inline T narrowFromFloat(float x) { return T(x); }  // c10's conversions round to nearest even

inline float expOf(float x) { return std::exp(x); }
inline double expOf(double x) { return std::exp(x); }
inline float logOf(float x) { return std::log(x); }
inline double logOf(double x) { return std::log(x); }
inline float sqrtOf(float x) { return std::sqrt(x); }
inline double sqrtOf(double x) { return std::sqrt(x); }
inline float erfOf(float x) { return std::erf(x); }
inline double erfOf(double x) { return std::erf(x); }

template <typename A>
inline A* dynamicShared() { return reinterpret_cast<A*>(emulation::current().shared); }
inline void blockBarrier() { emulation::syncThreads(); }
inline void warpBarrier() { emulation::syncWarp(); }
template <typename V>
inline V shuffleXor(V value, int laneMask) { return emulation::shuffleXor(value, static_cast<unsigned>(laneMask)); }
template <typename V>
inline V warpSum(V value) { return emulation::warpButterflySum(value); }
inline float fastExp(float x) { return std::exp(x); }
inline float fastLog(float x) { return std::log(x); }

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), emulation::dim3 grid, emulation::dim3 block, size_t shared, void* /*stream*/,
            const char* file, int line, Args... args) {
  emulation::run([&] { kernel(args...); }, grid, block, shared, file, line);
}

// An H100's opt-in limit, so that the emulation refuses what the real device would.
inline size_t sharedMemoryLimit() { return 227 * 1024; }

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD

#else
#error "device_code.h is for CUDA kernel source: compile it with nvcc, or define INTRA_CUDA_EMULATION"
#endif

namespace intra::kernels::device::INTRA_DEVICE_BUILD {

// Storage type T <-> accumulation type A (float for float, bf16 and fp16; double for double).
template <typename A, typename T>
INTRA_DEVICE A widen(T x) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) return static_cast<A>(x);
  else return static_cast<A>(widenToFloat(x));
}
template <typename T, typename A>
INTRA_DEVICE T narrow(A x) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) return static_cast<T>(x);
  else return narrowFromFloat<T>(static_cast<float>(x));
}

template <typename A>
INTRA_DEVICE A maxOf(A a, A b) { return a > b ? a : b; }
template <typename A>
INTRA_DEVICE A negativeInfinity() { return -std::numeric_limits<A>::infinity(); }
INTRA_DEVICE int64_t clampIndex(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

}  // namespace intra::kernels::device::INTRA_DEVICE_BUILD

#define INTRA_LAUNCH(kernel, grid, block, shared, stream, ...) \
  ::intra::kernels::device::launch(kernel, grid, block, shared, stream, __FILE__, __LINE__, __VA_ARGS__)
