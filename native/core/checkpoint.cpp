#include "checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../common/errors.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoints are little-endian and copied as such");

namespace intra {

namespace {

constexpr char kMagic[8] = {'I', 'N', 'T', 'R', 'A', 'C', 'K', 'P'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + 2 * sizeof(uint32_t);
enum RecordKind : uint8_t { kText = 0, kTensor = 1 };
constexpr uint32_t kMaxRank = 8;  // the engine stores nothing above 4 dimensions

uint64_t fnv1a(const char* data, size_t size) {  // version 1's file hash
  uint64_t hash = 1469598103934665603ULL;
  for (size_t i = 0; i < size; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 1099511628211ULL;
  }
  return hash;
}

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL, kPrime2 = 0xC2B2AE3D27D4EB4FULL, kPrime3 = 0x165667B19E3779F9ULL,
                   kPrime4 = 0x85EBCA77C2B2AE63ULL, kPrime5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
template <typename T>
inline T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
inline uint64_t mixLane(uint64_t lane, uint64_t input) { return rotl(lane + input * kPrime2, 31) * kPrime1; }
inline uint64_t mergeLane(uint64_t hash, uint64_t lane) { return (hash ^ mixLane(0, lane)) * kPrime1 + kPrime4; }

// The bytes of a few plain values, in the file's order.
template <typename T>
void append(std::string& to, T value) {
  to.append(reinterpret_cast<const char*>(&value), sizeof(T));
}

void appendName(std::string& to, const std::string& name) {
  append<uint32_t>(to, static_cast<uint32_t>(name.size()));
  to += name;
}

uint8_t dtypeCode(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return 0;
    case torch::kLong: return 1;
    case torch::kByte: return 2;
    default: throw checkpointError(std::string("cannot store tensors of type ") + c10::toString(type));
  }
}

// A file being written: every write checked, flushed to disk and renamed over the target on
// commit, removed if anything fails before.
class PendingFile {
 public:
  explicit PendingFile(const std::string& path)
      : path_(path), temporary_(path + ".tmp-" + std::to_string(::getpid())) {
    fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw ioError("Cannot write checkpoint " + path_ + ": cannot create " + temporary_ + ": " + std::strerror(errno));
  }
  ~PendingFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) std::remove(temporary_.c_str());
  }
  void write(const void* data, size_t size) {
    const char* at = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t written = ::write(fd_, at, std::min<size_t>(size, size_t{1} << 30));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) fail("write failed");
      at += written;
      size -= static_cast<size_t>(written);
    }
  }
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  void commit() {
    if (::fsync(fd_) != 0) fail("flushing it to disk failed");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("closing it failed");
    if (std::rename(temporary_.c_str(), path_.c_str()) != 0) fail("renaming " + temporary_ + " over it failed");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ioError("Cannot write checkpoint " + path_ + ": " + what + ": " + std::strerror(errno));
  }
  std::string path_, temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

// Where a checkpoint's bytes come from: memory, or a file read as the parser goes (so that
// skipped records are never read and wanted tensors are read straight into their memory).
// Every read is checked against what is left first: a crafted header never makes the
// reader allocate more than the file holds.
class Source {
 public:
  Source(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {}
  virtual ~Source() = default;

  void read(void* into, size_t size) {
    if (size == 0) return;  // an empty tensor's memory may be null
    if (size > remaining()) fail("it ends early (truncated?)");
    readExactly(into, size);
    if (recording_) recorded_.append(static_cast<const char*>(into), size);
    offset_ += size;
  }
  void skip(uint64_t size) {
    if (size > remaining()) fail("it ends early (truncated?)");
    skipExactly(size);
    offset_ += size;
  }
  template <typename T>
  T get() {
    T value;
    read(&value, sizeof(T));
    return value;
  }
  std::string getString() {
    const uint32_t size = get<uint32_t>();
    if (size > remaining()) fail("it ends early (truncated?)");
    std::string s(size, '\0');
    read(s.data(), size);
    return s;
  }
  uint64_t remaining() const { return size_ - offset_; }
  // The bytes read between startRecording and takeRecorded (a record's head, for its hash).
  void startRecording() {
    recorded_.clear();
    recording_ = true;
  }
  std::string takeRecorded() {
    recording_ = false;
    return std::move(recorded_);
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw checkpointError("Checkpoint " + path_ + " is not usable: " + why);
  }

 protected:
  virtual void readExactly(void* into, size_t size) = 0;
  virtual void skipExactly(uint64_t size) = 0;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint64_t size_, offset_ = 0;
  bool recording_ = false;
  std::string recorded_;
};

class MemorySource : public Source {
 public:
  MemorySource(const std::string& path, const char* data, size_t size) : Source(path, size), at_(data) {}

 private:
  void readExactly(void* into, size_t size) override {
    std::memcpy(into, at_, size);
    at_ += size;
  }
  void skipExactly(uint64_t size) override { at_ += size; }
  const char* at_;
};

class FileSource : public Source {
 public:
  FileSource(const std::string& path, int fd, uint64_t size) : Source(path, size), fd_(fd) {}

 private:
  void readExactly(void* into, size_t size) override {
    char* at = static_cast<char*>(into);
    while (size > 0) {
      const ssize_t got = ::read(fd_, at, std::min<size_t>(size, size_t{1} << 30));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw checkpointError("Cannot read checkpoint " + path() + ": " + std::strerror(errno));
      if (got == 0) fail("it shrank while being read");
      at += got;
      size -= static_cast<size_t>(got);
    }
  }
  void skipExactly(uint64_t size) override {
    if (::lseek(fd_, static_cast<off_t>(size), SEEK_CUR) < 0) {
      throw checkpointError("Cannot read checkpoint " + path() + ": " + std::strerror(errno));
    }
  }
  int fd_;
};

torch::ScalarType dtypeFromCode(uint8_t code, const Source& source) {
  switch (code) {
    case 0: return torch::kFloat;
    case 1: return torch::kLong;
    case 2: return torch::kByte;
    default: source.fail("unknown tensor type " + std::to_string(code));
  }
}

// The records after the 16 header bytes (`header`); version 2 checks each wanted record's
// hash, then the file hash and that nothing follows it.
CheckpointContents parseRecords(Source& source, const std::string& header, uint32_t version, const RecordFilter& wanted,
                                Hashes hashes) {
  uint32_t records;
  std::memcpy(&records, header.data() + sizeof(kMagic) + sizeof(uint32_t), sizeof(records));
  const bool hashed = version >= 2, check = hashes == Hashes::Check;
  std::string digest = header;  // the file hash's input: the header, then every record hash
  CheckpointContents contents;
  for (uint32_t i = 0; i < records; ++i) {
    source.startRecording();
    std::string name = source.getString();
    const uint8_t kind = source.get<uint8_t>();
    const bool keep = !wanted || wanted(name);
    const void* data = nullptr;
    uint64_t bytes = 0;
    std::string head;  // the record's bytes before its data
    if (kind == kText) {
      bytes = source.get<uint64_t>();
      head = source.takeRecorded();
      if (bytes > source.remaining()) {
        source.fail("text " + name + " claims " + std::to_string(bytes) + " bytes but the file has " +
                    std::to_string(source.remaining()) + " left (truncated?)");
      }
      if (keep) {
        std::string& text = contents.texts[name];
        text.resize(bytes);
        source.read(text.data(), bytes);
        data = text.data();
      }
    } else if (kind == kTensor) {
      // Everything a header claims is checked against the bytes that are really there before
      // anything is allocated: a crafted header must never cost more memory than the file.
      torch::ScalarType type = dtypeFromCode(source.get<uint8_t>(), source);
      const uint32_t rank = source.get<uint32_t>();
      if (rank > kMaxRank) source.fail("tensor " + name + " claims " + std::to_string(rank) + " dimensions");
      std::vector<int64_t> sizes(rank);
      uint64_t elements = 1;
      bool overflow = false;
      for (auto& size : sizes) {
        size = source.get<int64_t>();
        if (size < 0) source.fail("tensor " + name + " has a negative size " + std::to_string(size));
        if (size != 0 && elements > UINT64_MAX / 8 / static_cast<uint64_t>(size)) overflow = true;
        elements *= static_cast<uint64_t>(size);
      }
      bytes = source.get<uint64_t>();
      head = source.takeRecorded();
      if (overflow || bytes != elements * c10::elementSize(type)) {
        source.fail("tensor " + name + " claims " + std::to_string(bytes) + " bytes for " +
                    (overflow ? std::string("more elements than can exist") : std::to_string(elements) + " elements"));
      }
      if (bytes > source.remaining()) {
        source.fail("tensor " + name + " claims " + std::to_string(bytes) + " bytes but the file has " +
                    std::to_string(source.remaining()) + " left (truncated?)");
      }
      if (keep) {
        torch::Tensor t = torch::empty(sizes, torch::TensorOptions().dtype(type));
        source.read(t.data_ptr(), bytes);
        data = t.data_ptr();
        contents.tensors[name] = std::move(t);
      }
    } else {
      source.fail("unknown record kind in " + name);
    }
    if (!keep) source.skip(bytes);
    if (!hashed) continue;
    const uint64_t stored = source.get<uint64_t>();
    if (keep && check && xxh64(data, bytes, xxh64(head.data(), head.size())) != stored) {
      source.fail("record " + name + " does not match its hash (corrupted)");
    }
    append(digest, stored);
  }
  if (hashed) {
    const uint64_t stored = source.get<uint64_t>();
    if (check && xxh64(digest.data(), digest.size()) != stored) source.fail("its checksum does not match (truncated or corrupted)");
    if (source.remaining() != 0) source.fail(std::to_string(source.remaining()) + " bytes follow its end");
  }
  return contents;
}

// The 16 header bytes: magic, a version this build reads.
uint32_t checkedVersion(const Source& source, const std::string& header) {
  if (header.size() < sizeof(kMagic) || std::memcmp(header.data(), kMagic, sizeof(kMagic)) != 0) {
    source.fail("it is not an InTra checkpoint (wrong magic bytes)");
  }
  if (header.size() < kHeaderBytes) source.fail("it ends early (truncated?)");
  uint32_t version;
  std::memcpy(&version, header.data() + sizeof(kMagic), sizeof(version));
  if (version != 1 && version != kCheckpointVersion) {
    source.fail("format version " + std::to_string(version) + ", this build reads versions 1 to " +
                std::to_string(kCheckpointVersion));
  }
  return version;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

uint64_t xxh64(const void* data, size_t size, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* const end = p + size;
  uint64_t hash;
  if (size >= 32) {
    uint64_t lanes[4] = {seed + kPrime1 + kPrime2, seed + kPrime2, seed, seed - kPrime1};
    for (; end - p >= 32; p += 32) {
      for (int i = 0; i < 4; ++i) lanes[i] = mixLane(lanes[i], load<uint64_t>(p + 8 * i));
    }
    hash = rotl(lanes[0], 1) + rotl(lanes[1], 7) + rotl(lanes[2], 12) + rotl(lanes[3], 18);
    for (uint64_t lane : lanes) hash = mergeLane(hash, lane);
  } else {
    hash = seed + kPrime5;
  }
  hash += size;
  for (; end - p >= 8; p += 8) hash = rotl(hash ^ mixLane(0, load<uint64_t>(p)), 27) * kPrime1 + kPrime4;
  if (end - p >= 4) {
    hash = rotl(hash ^ (load<uint32_t>(p) * kPrime1), 23) * kPrime2 + kPrime3;
    p += 4;
  }
  for (; p < end; ++p) hash = rotl(hash ^ (*p * kPrime5), 11) * kPrime1;
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

void writeCheckpoint(const std::string& path, const CheckpointContents& contents) {
  PendingFile file(path);
  std::string header(kMagic, sizeof(kMagic));
  append<uint32_t>(header, kCheckpointVersion);
  append<uint32_t>(header, static_cast<uint32_t>(contents.texts.size() + contents.tensors.size()));
  file.write(header);
  std::string digest = header;
  auto record = [&](const std::string& head, const void* data, size_t bytes) {
    const uint64_t hash = xxh64(data, bytes, xxh64(head.data(), head.size()));
    file.write(head);
    file.write(data, bytes);
    file.write(&hash, sizeof(hash));
    append(digest, hash);
  };
  for (const auto& [name, text] : contents.texts) {
    std::string head;
    appendName(head, name);
    append<uint8_t>(head, kText);
    append<uint64_t>(head, text.size());
    record(head, text.data(), text.size());
  }
  for (const auto& [name, value] : contents.tensors) {
    torch::Tensor t = value.detach().to(torch::kCPU).contiguous();
    std::string head;
    appendName(head, name);
    append<uint8_t>(head, kTensor);
    append<uint8_t>(head, dtypeCode(t.scalar_type()));
    append<uint32_t>(head, static_cast<uint32_t>(t.dim()));
    for (int64_t size : t.sizes()) append<int64_t>(head, size);
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    append<uint64_t>(head, bytes);
    record(head, t.data_ptr(), bytes);
  }
  const uint64_t fileHash = xxh64(digest.data(), digest.size());
  file.write(&fileHash, sizeof(fileHash));
  file.commit();
}

CheckpointContents readCheckpoint(const std::string& path, const RecordFilter& wanted) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw checkpointError("Cannot open checkpoint " + path + ": no such readable file");
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw checkpointError("Cannot read checkpoint " + path + ": " + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) throw checkpointError("Cannot open checkpoint " + path + ": it is a folder");
  std::string bytes;
  if (S_ISREG(info.st_mode)) {
    // A version-2 file is parsed as it is read: skipped records are never read.
    FileSource source(path, fd.get(), static_cast<uint64_t>(info.st_size));
    std::string header(std::min<uint64_t>(kHeaderBytes, info.st_size), '\0');
    source.read(header.data(), header.size());
    if (checkedVersion(source, header) == kCheckpointVersion) return parseRecords(source, header, kCheckpointVersion, wanted, Hashes::Check);
    // Version 1's one hash covers every byte: it is read whole.
    bytes.resize(static_cast<size_t>(info.st_size));
    if (::pread(fd.get(), bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
      throw checkpointError("Cannot read checkpoint " + path + ": it shrank while being read");
    }
  } else {
    // A stream of unknown size (a pipe) is read to its end.
    char chunk[1 << 16];
    for (;;) {
      const ssize_t got = ::read(fd.get(), chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw checkpointError("Cannot read checkpoint " + path + ": " + std::strerror(errno));
      if (got == 0) break;
      bytes.append(chunk, static_cast<size_t>(got));
    }
  }
  return parseCheckpoint(path, bytes, wanted);
}

CheckpointContents parseCheckpoint(const std::string& path, const std::string& bytes, const RecordFilter& wanted,
                                   Hashes hashes) {
  MemorySource whole(path, bytes.data(), bytes.size());
  const std::string header = bytes.substr(0, kHeaderBytes);
  const uint32_t version = checkedVersion(whole, header);
  if (version == kCheckpointVersion) {
    whole.skip(kHeaderBytes);
    return parseRecords(whole, header, version, wanted, hashes);
  }
  // Version 1: the records, then the FNV-1a hash of every byte before it.
  if (bytes.size() < kHeaderBytes + sizeof(uint64_t)) whole.fail("it ends early (truncated?)");
  const size_t body = bytes.size() - sizeof(uint64_t);
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + body, sizeof(stored));
  if (hashes == Hashes::Check && fnv1a(bytes.data(), body) != stored) whole.fail("its checksum does not match (truncated or corrupted)");
  MemorySource records(path, bytes.data() + kHeaderBytes, body - kHeaderBytes);
  return parseRecords(records, header, version, wanted, hashes);
}

}  // namespace intra
