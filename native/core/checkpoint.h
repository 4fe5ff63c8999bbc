// The checkpoint file: one file, written atomically, checked on load.
//
// Layout (version 2): magic "INTRACKP", u32 format version, u32 record count, then records
// (u32 name length, name, u8 kind, payload, u64 record hash), then a u64 file hash. A text
// record's payload is u64 length + bytes; a tensor record's is u8 dtype, u32 rank, i64 sizes,
// u64 byte length + the contiguous little-endian data. The record hash is
// XXH64(payload data, seed = XXH64(the record's bytes before its data)); the file hash is
// XXH64 of the 16 header bytes followed by every record hash. So a reader can skip records
// it does not want (scoring skips the optimiser state, three quarters of a trained model's
// bytes) and still check every record it reads, the record order and the file's end.
//
// Version 1 (still read): the same records without record hashes, then one FNV-1a hash of
// every byte before it; such a file is read and checked whole.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>

namespace intra {

constexpr uint32_t kCheckpointVersion = 2;  // written; version 1 is still read

struct CheckpointContents {
  std::map<std::string, std::string> texts;
  std::map<std::string, torch::Tensor> tensors;  // on the CPU
};

// Which records a reader wants, by name; empty: all of them.
using RecordFilter = std::function<bool(const std::string& name)>;

// Whether the hashes are checked: always, except for the fuzz target, whose mutations must
// reach the parser behind them.
enum class Hashes { Check, Ignore };

// Writes to `path + ".tmp-<pid>"`, flushes it to disk and renames it over `path`, so a reader
// never sees half a file, even after a crash.
void writeCheckpoint(const std::string& path, const CheckpointContents& contents);
// Throws IntraError(INTRA_CHECKPOINT) naming the file and what is wrong with it. Records that
// `wanted` refuses are skipped unread in a version-2 file (their bytes are not checked).
CheckpointContents readCheckpoint(const std::string& path, const RecordFilter& wanted = nullptr);
// The same on bytes already in memory (`path` names them in errors): the fuzz target's entry.
CheckpointContents parseCheckpoint(const std::string& path, const std::string& bytes,
                                   const RecordFilter& wanted = nullptr, Hashes hashes = Hashes::Check);

// XXH64 (Collet's xxHash, 64-bit) of `size` bytes: ~14 GB/s on one core (AMD EPYC), where
// FNV-1a, one byte at a time, took a second per paper-size model file.
uint64_t xxh64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace intra
