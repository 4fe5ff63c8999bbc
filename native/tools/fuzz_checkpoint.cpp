// libFuzzer target over the model-file reader and the config parser: any input must either
// parse or be refused with an IntraError (INTRA_CHECKPOINT); anything else (another
// exception, a crash, a sanitizer report, an allocation far beyond the input) is a finding.
// Built and run by scripts/fuzz-checkpoint.sh with clang, ASan and UBSan.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../common/errors.h"
#include "../core/checkpoint.h"
#include "../core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The checksum gates everything else: an input that does not end with the checksum of
  // what precedes it gets one appended, so the fuzzer's mutations reach the parser.
  auto fnv1a = [](const char* p, size_t n) {
    uint64_t hash = 1469598103934665603ULL;
    for (size_t i = 0; i < n; ++i) {
      hash ^= static_cast<unsigned char>(p[i]);
      hash *= 1099511628211ULL;
    }
    return hash;
  };
  std::string bytes(reinterpret_cast<const char*>(data), size);
  uint64_t stored = 0;
  if (size >= sizeof(stored)) std::memcpy(&stored, data + size - sizeof(stored), sizeof(stored));
  if (size < sizeof(stored) || fnv1a(bytes.data(), size - sizeof(stored)) != stored) {
    const uint64_t hash = fnv1a(bytes.data(), bytes.size());
    bytes.append(reinterpret_cast<const char*>(&hash), sizeof(hash));
  }
  try {
    intra::CheckpointContents contents = intra::parseCheckpoint("fuzz-input", bytes);
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
