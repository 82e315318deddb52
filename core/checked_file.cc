#include "core/checked_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/crc32.h"
#include "core/hash.h"

namespace embark {

namespace {
// Footer 2 (written) checksums with the zlib CRC-32, footer 1 (still read) with HashBytes.
constexpr char kFooterMagic[8] = {'E', 'M', 'B', 'K', 'S', 'U', 'M', '2'};
constexpr char kFnvFooterMagic[8] = {'E', 'M', 'B', 'K', 'S', 'U', 'M', '1'};
constexpr size_t kFooterBytes = sizeof(kFooterMagic) + sizeof(uint64_t);
}  // namespace

Status WriteCheckedFile(const std::string& path, const std::string& payload, uint64_t* checksum, FileEnv* env) {
  const uint64_t sum = Crc32(payload);
  std::string bytes = payload;
  bytes.append(kFooterMagic, sizeof(kFooterMagic));
  bytes.append(reinterpret_cast<const char*>(&sum), sizeof(sum));
  EMBARK_RETURN_IF_ERROR(WriteFileDurably(env, path, bytes));
  if (checksum != nullptr) *checksum = sum;
  return Status::OK();
}

Status ReadCheckedFile(const std::string& path, std::string* payload, const uint64_t* expected) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound(path + ": missing or unreadable");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string bytes = ss.str();
  const char* footer = bytes.size() < kFooterBytes ? nullptr : bytes.data() + bytes.size() - kFooterBytes;
  const bool crc = footer != nullptr && std::memcmp(footer, kFooterMagic, sizeof(kFooterMagic)) == 0;
  const bool fnv = footer != nullptr && std::memcmp(footer, kFnvFooterMagic, sizeof(kFnvFooterMagic)) == 0;
  if (!crc && !fnv) return Status::Corruption(path + ": truncated (no checksum footer)");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - sizeof(stored), sizeof(stored));
  bytes.resize(bytes.size() - kFooterBytes);
  if ((crc ? Crc32(bytes) : HashBytes(bytes)) != stored) return Status::Corruption(path + ": checksum mismatch (truncated or modified file)");
  if (expected != nullptr && *expected != stored)
    return Status::Corruption(path + ": checksum " + std::to_string(stored) + " differs from the MANIFEST's " +
                              std::to_string(*expected) + " (a file of another checkpoint?)");
  *payload = std::move(bytes);
  return Status::OK();
}

}  // namespace embark
