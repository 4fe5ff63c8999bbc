// Which implementation a kernel call runs: the ATen reference (the truth, kept selectable
// at run time) or our fused kernel.
#pragma once
#include <string>

namespace intra::kernels {

enum class Impl { Reference, Fused };
Impl implFromString(const std::string& name);
std::string toString(Impl impl);

}  // namespace intra::kernels
