// Element types of the raw-pointer kernel interfaces (no ATen, no CUDA).
#pragma once

namespace intra::kernels {

enum class ElementType { F32, F64, BF16, F16 };

}  // namespace intra::kernels
