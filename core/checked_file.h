// Checked files: small files (checkpoint positions, the scheduler's state) written atomically
// with a checksum, so a crash or a flipped byte is always detected when they are read back.
//
// Layout: the payload bytes, then "EMBKSUM2", then u64 Crc32(payload) (core/crc32.h)
// little-endian. Files written before CRC-32 end "EMBKSUM1" and u64 HashBytes(payload) (FNV-1a,
// core/hash.h); they are still read.
// WriteCheckedFile writes PATH.tmp, fsyncs it, renames it to PATH and fsyncs the directory
// (core/file_env.h), so PATH is either the previous complete file or the new complete one,
// never half a file -- after a killed process and after a host crash or power loss alike.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>

#include "core/file_env.h"
#include "core/status.h"

namespace embark {

// Writes `payload` with its checksum to `path` atomically; *checksum (may be null) receives it.
Status WriteCheckedFile(const std::string& path, const std::string& payload, uint64_t* checksum,
                        FileEnv* env = FileEnv::Default());

// Reads `path`, verifies the footer and returns the payload. Errors name the file: missing,
// truncated, or "checksum mismatch (truncated or modified file)". If `expected` is non-null,
// the file's checksum must also equal *expected (the one a MANIFEST recorded).
Status ReadCheckedFile(const std::string& path, std::string* payload, const uint64_t* expected = nullptr);

}  // namespace embark
