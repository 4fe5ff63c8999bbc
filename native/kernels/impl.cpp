#include "impl.h"

#include "../core/errors.h"

namespace intra::kernels {

Impl implFromString(const std::string& name) {
  if (name == "reference") return Impl::Reference;
  if (name == "fused") return Impl::Fused;
  throw invalidArgument("Expected one of reference, fused for kernels but received '" + name + "'");
}

std::string toString(Impl impl) { return impl == Impl::Fused ? "fused" : "reference"; }

}  // namespace intra::kernels
