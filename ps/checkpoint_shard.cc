#include "ps/checkpoint_shard.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/crc32.h"
#include "core/file_env.h"
#include "core/hash.h"

namespace embark {

namespace {
constexpr char kMagic[8] = {'E', 'M', 'B', 'K', 'S', 'H', 'R', 'D'};
constexpr uint32_t kVersion = 2;         // written: CRC-32 checksum
constexpr uint32_t kFnvVersion = 1;      // read only: HashBytes checksum

// The checksum of `bytes` as the shard format `version` defines it.
uint64_t ShardChecksum(uint32_t version, std::string_view bytes) {
  return version == kFnvVersion ? HashBytes(bytes) : Crc32(bytes);
}

template <class T>
void Put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& bytes, size_t end) : bytes_(bytes), end_(end) {}
  template <class T>
  bool Get(T* v) {
    if (end_ - pos_ < sizeof(T)) return false;
    std::memcpy(v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  const char* Take(size_t n) {
    if (end_ - pos_ < n) return nullptr;
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  bool done() const { return pos_ == end_; }

 private:
  const std::string& bytes_;
  const size_t end_;
  size_t pos_ = 0;
};
}  // namespace

Status WriteShardFile(const std::string& path, const std::vector<std::string>& names,
                      const std::vector<bool>& dense, const std::vector<uint32_t>& row_floats,
                      const std::function<void(const std::function<void(const ShardRow&)>&)>& for_each_row,
                      uint64_t* checksum, FileEnv* env) {
  // Rows are collected per table first because the row count precedes the rows.
  std::vector<std::string> bodies(names.size());
  std::vector<uint64_t> counts(names.size(), 0);
  for_each_row([&](const ShardRow& r) {
    std::string& b = bodies[r.table];
    Put(&b, r.key);
    Put(&b, r.floats);
    b.append(reinterpret_cast<const char*>(r.row), size_t{r.floats} * sizeof(float));
    ++counts[r.table];
  });
  std::string out(kMagic, sizeof(kMagic));
  Put(&out, kVersion);
  Put(&out, static_cast<uint32_t>(names.size()));
  for (size_t t = 0; t < names.size(); ++t) {
    Put(&out, static_cast<uint32_t>(names[t].size()));
    out += names[t];
    Put(&out, static_cast<uint8_t>(dense[t] ? 1 : 0));
    Put(&out, row_floats[t]);
    Put(&out, counts[t]);
    out += bodies[t];
  }
  *checksum = ShardChecksum(kVersion, out);
  Put(&out, *checksum);
  // Durable before the server reports it saved: the scheduler writes the MANIFEST naming this
  // file only after that, so a MANIFEST on disk implies the shard is.
  Status st = WriteFileDurably(env, path, out);
  if (!st.ok()) return Status::IoError("checkpoint shard: " + st.message());
  return Status::OK();
}

Status ReadShardFile(const std::string& path, const std::vector<std::string>& names,
                     const std::vector<uint32_t>& row_floats,
                     const std::function<Status(const ShardRow&)>& on_row,
                     const uint64_t* expected_checksum) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("checkpoint shard " + path + " is missing or unreadable");
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseShardBytes(path, ss.str(), names, row_floats, on_row, expected_checksum);
}

Status ParseShardBytes(const std::string& path, const std::string& bytes, const std::vector<std::string>& names,
                       const std::vector<uint32_t>& row_floats,
                       const std::function<Status(const ShardRow&)>& on_row,
                       const uint64_t* expected_checksum) {
  auto corrupt = [&](const std::string& why) { return Status::Corruption("checkpoint shard " + path + ": " + why); };
  if (bytes.size() < sizeof(kMagic) + 16) return corrupt("truncated (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("not an embark shard (bad magic)");
  uint32_t version = 0;
  std::memcpy(&version, bytes.data() + sizeof(kMagic), sizeof(version));
  if (version != kVersion && version != kFnvVersion)
    return corrupt("version " + std::to_string(version) + ", expected 1 or 2");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  if (ShardChecksum(version, std::string_view(bytes.data(), bytes.size() - 8)) != stored)
    return corrupt("checksum mismatch (truncated or modified file)");
  if (expected_checksum != nullptr && *expected_checksum != stored)
    return corrupt("checksum " + std::to_string(stored) + " differs from the MANIFEST's " + std::to_string(*expected_checksum) +
                   " (a shard of another checkpoint?)");
  Reader in(bytes, bytes.size() - 8);
  in.Take(sizeof(kMagic));
  uint32_t tables = 0;
  in.Take(sizeof(version));  // checked above
  if (!in.Get(&tables) || tables != names.size())
    return corrupt("has " + std::to_string(tables) + " tables but this model has " + std::to_string(names.size()) +
                   " (a checkpoint of another model?)");
  for (uint32_t t = 0; t < tables; ++t) {
    uint32_t len = 0, floats = 0;
    uint8_t dense = 0;
    uint64_t rows = 0;
    if (!in.Get(&len)) return corrupt("truncated table header");
    const char* name = in.Take(len);
    if (name == nullptr || !in.Get(&dense) || !in.Get(&floats) || !in.Get(&rows)) return corrupt("truncated table header");
    if (std::string(name, len) != names[t] || floats != row_floats[t]) {
      return corrupt("table " + std::to_string(t) + " is '" + std::string(name, len) + "' with " +
                     std::to_string(floats) + " floats per row, but this model has '" + names[t] + "' with " +
                     std::to_string(row_floats[t]) + " (a checkpoint of another model or optimizer?)");
    }
    for (uint64_t r = 0; r < rows; ++r) {
      uint64_t key;
      uint32_t n;
      if (!in.Get(&key) || !in.Get(&n) || n > floats) return corrupt("truncated or malformed row");
      const char* data = in.Take(size_t{n} * sizeof(float));
      if (data == nullptr) return corrupt("truncated row");
      // A copy: the floats in the file need not be 4-byte aligned. (n may be 0: an empty
      // vector's data() can be null, which memcpy must not get.)
      std::vector<float> row(n);
      if (n > 0) std::memcpy(row.data(), data, size_t{n} * sizeof(float));
      EMBARK_RETURN_IF_ERROR(on_row({t, key, row.data(), n}));
    }
  }
  if (!in.done()) return corrupt("trailing bytes");
  return Status::OK();
}

}  // namespace embark
