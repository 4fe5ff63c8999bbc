// Picture exports (see pictures.cpp).
#pragma once
#include <napi.h>

namespace intra::addon {

Napi::Value resizeMap(const Napi::CallbackInfo& info);
Napi::Value heatPictures(const Napi::CallbackInfo& info);

}  // namespace intra::addon
