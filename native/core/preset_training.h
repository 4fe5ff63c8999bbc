// What a preset brings to training beside its geometry (config.cpp's presetConfig): the one home
// of the `cpu` preset's training, which the recipes (lib/train/recipes.ts) put under their own
// defaults and the flags over both.
#pragma once
#include <optional>
#include <string>

#include "config.h"

namespace intra {

struct PresetTraining {
  std::optional<int64_t> batchSize;
  std::optional<double> learningRate;
  std::optional<int64_t> windowsPerImage;
  bool bf16WhereAvailable = false;  // bf16 matrix products when the machine has them
  std::optional<double> minutes;    // a training-time budget
  std::optional<MapConfig> map;     // the map settings its models keep (absent: the paper's)
};

// Nothing for the presets that train by the recipe alone; INTRA_INVALID_ARGUMENT for an unknown name.
PresetTraining presetTraining(const std::string& preset);

}  // namespace intra
