#include "core/checked_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/hash.h"

namespace embark {

namespace {
constexpr char kFooterMagic[8] = {'E', 'M', 'B', 'K', 'S', 'U', 'M', '1'};
constexpr size_t kFooterBytes = sizeof(kFooterMagic) + sizeof(uint64_t);
}  // namespace

Status WriteCheckedFile(const std::string& path, const std::string& payload, uint64_t* checksum, FileEnv* env) {
  const uint64_t sum = HashBytes(payload);
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
  if (bytes.size() < kFooterBytes || std::memcmp(bytes.data() + bytes.size() - kFooterBytes, kFooterMagic, sizeof(kFooterMagic)) != 0)
    return Status::Corruption(path + ": truncated (no checksum footer)");
  uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - sizeof(stored), sizeof(stored));
  bytes.resize(bytes.size() - kFooterBytes);
  if (HashBytes(bytes) != stored) return Status::Corruption(path + ": checksum mismatch (truncated or modified file)");
  if (expected != nullptr && *expected != stored)
    return Status::Corruption(path + ": checksum " + std::to_string(stored) + " differs from the MANIFEST's " +
                              std::to_string(*expected) + " (a file of another checkpoint?)");
  *payload = std::move(bytes);
  return Status::OK();
}

}  // namespace embark
