// libFuzzer target over the model-file reader and the config parser: any input must either
// parse or be refused with an IntraError (INTRA_CHECKPOINT); anything else (another
// exception, a crash, a sanitizer report, an allocation far beyond the input) is a finding.
// The CMake target intra-fuzz-checkpoint (a Clang build, ASan and UBSan); scripts/dev/fuzz-checkpoint.sh
// builds and runs it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/errors.h"
#include "../core/checkpoint.h"
#include "../core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The hashes gate everything else: they are not checked here, so that the fuzzer's
  // mutations reach the parser behind them.
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    // Odd-sized inputs are read as scoring reads a model: the optimiser state skipped.
    intra::RecordFilter scoring = [](const std::string& name) { return name.rfind("adam.", 0) != 0; };
    intra::CheckpointContents contents =
        intra::parseCheckpoint("fuzz-input", bytes, size % 2 == 1 ? scoring : nullptr, intra::Hashes::Ignore);
    auto config = contents.texts.find("config");
    if (config != contents.texts.end()) {
      intra::ModelConfig model = intra::deserializeModelConfig(config->second);
      model.validate();
      (void)intra::countParameters(model);
    }
  } catch (const intra::IntraError&) {
    // refused with a message: the expected outcome for garbage
  }
  return 0;
}
