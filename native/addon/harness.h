// The kernel harness's exports (see harness.cpp).
#pragma once
#include <napi.h>

namespace intra::addon {

Napi::Value checkKernel(const Napi::CallbackInfo& info);
Napi::Value toleranceViolations(const Napi::CallbackInfo& info);
Napi::Value gradcheckKernel(const Napi::CallbackInfo& info);
Napi::Value benchKernel(const Napi::CallbackInfo& info);
Napi::Value matmulCeiling(const Napi::CallbackInfo& info);

}  // namespace intra::addon
