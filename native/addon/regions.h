// Connected regions of defect masks (see regions.cpp).
#pragma once
#include <napi.h>

namespace intra::addon {

Napi::Value labelRegions(const Napi::CallbackInfo& info);

}  // namespace intra::addon
