// Errors the engine raises on purpose. The addon turns each into a JS Error whose
// `code` is the one given here; a c10::Error becomes INTRA_TORCH and any other exception
// INTRA_NATIVE, so that no C++ exception ever reaches JavaScript unconverted.
// No libtorch in here: every layer (the CUDA kernels too) can include it.
#pragma once
#include <stdexcept>
#include <string>

namespace intra {

class IntraError : public std::runtime_error {
 public:
  IntraError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

inline IntraError invalidArgument(const std::string& message) {
  return IntraError("INTRA_INVALID_ARGUMENT", message);
}
inline IntraError invalidState(const std::string& message) {
  return IntraError("INTRA_INVALID_STATE", message);
}
inline IntraError checkpointError(const std::string& message) {
  return IntraError("INTRA_CHECKPOINT", message);
}
inline IntraError ioError(const std::string& message) { return IntraError("INTRA_IO", message); }
inline IntraError unsupported(const std::string& message) {
  return IntraError("INTRA_UNSUPPORTED", message);
}

}  // namespace intra
