// The CPU instruction sets our element-wise row kernels (layer norm, bias + GELU) are built
// for, as function target attributes, and which one runs: the set matching the attention
// kernels' (so that INTRA_CPU_KERNELS narrows every family at once and the tests reach each).
#pragma once
#include <cstdint>
#include <type_traits>

namespace intra::kernels {

enum class CpuVectorSet { Avx512, Avx2, Generic };

// From the attention kernels' chosen set (attention/fused_cpu.cpp).
CpuVectorSet cpuVectorSet();

// One row op's entry points for each storage type the row kernels read: float, double and bf16
// (as uint16_t), each with its compute type (float, double, float).
template <template <typename, typename> class Entry>
struct ByStorage {
  Entry<float, float> f32;
  Entry<double, double> f64;
  Entry<uint16_t, float> bf16;
};
// The entry for storage type X.
template <typename X, template <typename, typename> class Entry>
auto entryFor(const ByStorage<Entry>& entries) {
  if constexpr (std::is_same_v<X, uint16_t>) return entries.bf16;
  else if constexpr (std::is_same_v<X, double>) return entries.f64;
  else return entries.f32;
}

}  // namespace intra::kernels

// A function template's three instantiations, as a ByStorage.
#define INTRA_BY_STORAGE(function) {&function<float, float>, &function<double, double>, &function<uint16_t, float>}

// INTRA_FOR_EACH_CPU_SET(MACRO) expands MACRO(Name, target attribute) once per set this build
// can run: a file of row loops defines MACRO to stamp out its entry points for each.
#if defined(INTRA_X86_KERNELS)
#define INTRA_FOR_EACH_CPU_SET(MACRO)                                                                   \
  MACRO(Avx512, __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,prefer-vector-width=512")))) \
  MACRO(Avx2, __attribute__((target("avx2,fma"))))                                                        \
  MACRO(Generic, )
// The entry points of `set` from the Avx512Set(), Avx2Set(), GenericSet() a file stamps out.
#define INTRA_SET_OF(set)                                                                        \
  ((set) == ::intra::kernels::CpuVectorSet::Avx512 ? Avx512Set()                                  \
   : (set) == ::intra::kernels::CpuVectorSet::Avx2 ? Avx2Set()                                    \
                                                   : GenericSet())
#else
#define INTRA_FOR_EACH_CPU_SET(MACRO) MACRO(Generic, )
#define INTRA_SET_OF(set) GenericSet()
#endif
