// bf16 as the element-wise row kernels read and write it (uint16_t, the upper half of a
// float's bits), and loads and stores that widen to and narrow from the compute type. No ATen.
#pragma once
#include <cstdint>
#include <cstring>

namespace intra::kernels {
namespace {  // internal linkage: compiled into each set's functions

// bf16 <-> fp32: the upper half of the float's bits, rounded to nearest even (NaN stays NaN).
inline float widen(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t narrow(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  return f != f ? static_cast<uint16_t>((bits >> 16) | 0x40u) : static_cast<uint16_t>(rounded);
}
template <typename A>
inline A load(float x) { return x; }
template <typename A>
inline A load(double x) { return x; }
template <typename A>
inline A load(uint16_t x) { return widen(x); }
inline void store(float v, float* p) { *p = v; }
inline void store(double v, double* p) { *p = v; }
inline void store(float v, uint16_t* p) { *p = narrow(v); }

}  // namespace
}  // namespace intra::kernels
