#include "preset_training.h"

#include "config.h"

namespace intra {

PresetTraining presetTraining(const std::string& preset) {
  presetConfig(preset);  // the name's check and its message
  if (preset != "cpu") return {};
  // Chosen by measurement on magnetic tile (docs, real data): small batches at a higher rate and
  // few windows per image per epoch, so that the best epoch is chosen often; bf16 where the CPU
  // has it (1.6x the windows per second on an AMD EPYC with avx512_bf16); 30 minutes.
  PresetTraining t;
  t.batchSize = 64;
  t.learningRate = 5e-4;
  t.windowsPerImage = 32;
  t.bf16WhereAvailable = true;
  t.minutes = 30;
  return t;
}

}  // namespace intra
