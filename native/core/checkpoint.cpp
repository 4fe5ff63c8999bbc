#include "checkpoint.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "../common/errors.h"

namespace intra {

namespace {

constexpr char kMagic[8] = {'I', 'N', 'T', 'R', 'A', 'C', 'K', 'P'};
enum RecordKind : uint8_t { kText = 0, kTensor = 1 };
constexpr uint32_t kMaxRank = 8;  // the engine stores nothing above 4 dimensions

uint64_t fnv1a(const char* data, size_t size) {
  uint64_t hash = 1469598103934665603ULL;
  for (size_t i = 0; i < size; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 1099511628211ULL;
  }
  return hash;
}

class Buffer {
 public:
  template <typename T>
  void put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void putBytes(const void* data, size_t size) { bytes_.append(static_cast<const char*>(data), size); }
  void putString(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    putBytes(s.data(), s.size());
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

class Cursor {
 public:
  Cursor(const std::string& path, const char* data, size_t size) : path_(path), data_(data), size_(size) {}
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  const char* take(size_t size) {
    if (size > remaining()) fail("it ends early (truncated?)");
    const char* at = data_ + offset_;
    offset_ += size;
    return at;
  }
  size_t remaining() const { return size_ - offset_; }
  std::string getString() {
    uint32_t n = get<uint32_t>();
    return std::string(take(n), n);
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw checkpointError("Checkpoint " + path_ + " is not usable: " + why);
  }

 private:
  std::string path_;
  const char* data_;
  size_t size_, offset_ = 0;
};

uint8_t dtypeCode(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return 0;
    case torch::kLong: return 1;
    case torch::kByte: return 2;
    default: throw checkpointError(std::string("cannot store tensors of type ") + c10::toString(type));
  }
}

torch::ScalarType dtypeFromCode(uint8_t code, const Cursor& cursor) {
  switch (code) {
    case 0: return torch::kFloat;
    case 1: return torch::kLong;
    case 2: return torch::kByte;
    default: cursor.fail("unknown tensor type " + std::to_string(code));
  }
}

}  // namespace

void writeCheckpoint(const std::string& path, const CheckpointContents& contents) {
  Buffer out;
  out.putBytes(kMagic, sizeof(kMagic));
  out.put<uint32_t>(kCheckpointVersion);
  out.put<uint32_t>(static_cast<uint32_t>(contents.texts.size() + contents.tensors.size()));
  for (const auto& [name, text] : contents.texts) {
    out.putString(name);
    out.put<uint8_t>(kText);
    out.put<uint64_t>(text.size());
    out.putBytes(text.data(), text.size());
  }
  for (const auto& [name, value] : contents.tensors) {
    torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
    out.putString(name);
    out.put<uint8_t>(kTensor);
    out.put<uint8_t>(dtypeCode(t.scalar_type()));
    out.put<uint32_t>(static_cast<uint32_t>(t.dim()));
    for (int64_t size : t.sizes()) out.put<int64_t>(size);
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    out.put<uint64_t>(bytes);
    out.putBytes(t.data_ptr(), bytes);
  }
  out.put<uint64_t>(fnv1a(out.bytes().data(), out.bytes().size()));

  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file) throw ioError("Cannot write checkpoint " + path + ": cannot create " + temporary);
    file.write(out.bytes().data(), static_cast<std::streamsize>(out.bytes().size()));
    file.flush();
    if (!file) {
      std::remove(temporary.c_str());
      throw ioError("Cannot write checkpoint " + path + ": write failed (disk full?)");
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw ioError("Cannot write checkpoint " + path + ": " + std::strerror(errno));
  }
}

CheckpointContents readCheckpoint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw checkpointError("Cannot open checkpoint " + path + ": no such readable file");
  // One read of the whole file where its size is known (a paper-size model with its optimizer
  // state is ~900 MB: character by character took ~1 s of a load); streams that cannot seek
  // (a pipe) are read to their end.
  std::string bytes;
  const std::streamoff size = file.seekg(0, std::ios::end) ? std::streamoff(file.tellg()) : -1;
  if (size >= 0 && file.seekg(0, std::ios::beg)) {
    bytes.resize(static_cast<size_t>(size));
    if (!file.read(bytes.data(), size)) throw checkpointError("Cannot read checkpoint " + path + ": it shrank while being read");
  } else {
    file.clear();
    bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  return parseCheckpoint(path, bytes);
}

CheckpointContents parseCheckpoint(const std::string& path, const std::string& bytes) {
  Cursor cursor(path, bytes.data(), bytes.size());
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    cursor.fail("it is not an InTra checkpoint (wrong magic bytes)");
  }
  if (bytes.size() < sizeof(kMagic) + 16) cursor.fail("it ends early (truncated?)");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - sizeof(uint64_t), sizeof(uint64_t));
  cursor.take(sizeof(kMagic));
  const uint32_t version = cursor.get<uint32_t>();
  if (version != kCheckpointVersion) {
    cursor.fail("format version " + std::to_string(version) + ", this build reads version " +
                std::to_string(kCheckpointVersion));
  }
  if (fnv1a(bytes.data(), bytes.size() - sizeof(uint64_t)) != stored) {
    cursor.fail("its checksum does not match (truncated or corrupted)");
  }
  CheckpointContents contents;
  const uint32_t records = cursor.get<uint32_t>();
  for (uint32_t i = 0; i < records; ++i) {
    if (cursor.remaining() <= sizeof(uint64_t)) cursor.fail("it ends early (truncated?)");
    std::string name = cursor.getString();
    const uint8_t kind = cursor.get<uint8_t>();
    if (kind == kText) {
      const uint64_t n = cursor.get<uint64_t>();
      contents.texts[name] = std::string(cursor.take(n), n);
    } else if (kind == kTensor) {
      // Everything a header claims is checked against the bytes that are really there before
      // anything is allocated: a crafted header must never cost more memory than the file.
      torch::ScalarType type = dtypeFromCode(cursor.get<uint8_t>(), cursor);
      const uint32_t rank = cursor.get<uint32_t>();
      if (rank > kMaxRank) cursor.fail("tensor " + name + " claims " + std::to_string(rank) + " dimensions");
      std::vector<int64_t> sizes(rank);
      uint64_t elements = 1;
      bool overflow = false;
      for (auto& size : sizes) {
        size = cursor.get<int64_t>();
        if (size < 0) cursor.fail("tensor " + name + " has a negative size " + std::to_string(size));
        if (size != 0 && elements > UINT64_MAX / 8 / static_cast<uint64_t>(size)) overflow = true;
        elements *= static_cast<uint64_t>(size);
      }
      const uint64_t n = cursor.get<uint64_t>();
      const uint64_t elementBytes = c10::elementSize(type);
      if (overflow || n != elements * elementBytes) {
        cursor.fail("tensor " + name + " claims " + std::to_string(n) + " bytes for " +
                    (overflow ? std::string("more elements than can exist") : std::to_string(elements) + " elements"));
      }
      if (n > cursor.remaining()) {
        cursor.fail("tensor " + name + " claims " + std::to_string(n) + " bytes but the file has " +
                    std::to_string(cursor.remaining()) + " left");
      }
      torch::Tensor t = torch::empty(sizes, torch::TensorOptions().dtype(type));
      std::memcpy(t.data_ptr(), cursor.take(n), n);
      contents.tensors[name] = t;
    } else {
      cursor.fail("unknown record kind in " + name);
    }
  }
  return contents;
}

}  // namespace intra
