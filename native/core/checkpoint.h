// The checkpoint file: one file, written atomically, checked on load.
//
// Layout: magic "INTRACKP", u32 format version, u32 record count, then records
// (u32 name length, name, u8 kind, payload), then a u64 FNV-1a hash of every byte before
// it. A text record's payload is u64 length + bytes; a tensor record's is u8 dtype,
// u32 rank, i64 sizes, u64 byte length + the contiguous little-endian data.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace intra {

constexpr uint32_t kCheckpointVersion = 1;

struct CheckpointContents {
  std::map<std::string, std::string> texts;
  std::map<std::string, torch::Tensor> tensors;  // on the CPU
};

// Writes to `path + ".tmp-<pid>"` and renames it over `path`, so a reader never sees half a file.
void writeCheckpoint(const std::string& path, const CheckpointContents& contents);
// Throws IntraError(INTRA_CHECKPOINT) naming the file and what is wrong with it.
CheckpointContents readCheckpoint(const std::string& path);
// The same on bytes already in memory (`path` names them in errors): the fuzz target's entry.
CheckpointContents parseCheckpoint(const std::string& path, const std::string& bytes);

}  // namespace intra
