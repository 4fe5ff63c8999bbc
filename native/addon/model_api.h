// The addon's small synchronous helpers: what this build and machine offer, model configs and
// their tables, and where windows lie on the patch grid.
#pragma once
#include <napi.h>

namespace intra::addon {

Napi::Value capabilitiesOf(const Napi::CallbackInfo& info);
Napi::Value modelConfigOf(const Napi::CallbackInfo& info);
Napi::Value configFields(const Napi::CallbackInfo& info);
Napi::Value windowOrigins(const Napi::CallbackInfo& info);
Napi::Value patchLossOf(const Napi::CallbackInfo& info);
Napi::Value mapDifferencesOf(const Napi::CallbackInfo& info);
Napi::Value textureDescriptorsOf(const Napi::CallbackInfo& info);
Napi::Value methodConstants(const Napi::CallbackInfo& info);
Napi::Value kernelFamiliesOf(const Napi::CallbackInfo& info);
Napi::Value presetTrainingOf(const Napi::CallbackInfo& info);
// turnedWindowOrigins(gridRows, gridCols, windowSize, rows, cols, transforms) -> { rows, cols }
Napi::Value turnedWindowOriginsJs(const Napi::CallbackInfo& info);

}  // namespace intra::addon
