// Checkpoint shards: one server's rows (weights and optimizer state) in one file.
//
// Layout (little-endian): "EMBKSHRD", u32 version, u32 tables; per table: u32 name length,
// name bytes, u8 dense, u32 floats per row (dense: floats of the longest block), u64 rows, then
// per row u64 key (dense: block index), u32 floats, floats; finally a u64 checksum of every
// preceding byte: version 2 (written now) the zlib CRC-32 (core/crc32.h) widened to 64 bits,
// version 1 (still read) HashBytes (FNV-1a, core/hash.h), which ran a byte at a time. Written
// durably (PATH.tmp, fsync, rename, directory fsync: core/file_env.h), so neither a killed
// process nor a host crash leaves a half file under PATH.
//
// A delta shard (incremental checkpoint) has the same layout and holds only the rows changed
// since the previous checkpoint; the MANIFEST says which kind a file is. Hook for row eviction
// (not built): a delta must then also list the keys deleted since the previous checkpoint
// (tombstones, e.g. a per-table u64 count and keys after the rows, in a version 3), and loading
// must erase them, or an evicted row would come back from the base.
//
// Loading reads every shard of a checkpoint and keeps the rows this server owns now, so a job
// can resume on a different number of servers (virtual shards move, keys do not re-hash).
//
// Thread-safety: called from the server's receiving thread only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/file_env.h"
#include "core/status.h"

namespace embark {

struct ShardRow {
  uint32_t table;
  uint64_t key;
  const float* row;
  uint32_t floats;
};

// Serialises rows produced by `for_each_row(emit)` for tables `names`/`dense`/`row_floats`,
// writes PATH atomically and durably through `env`, and returns the file's checksum in *checksum.
Status WriteShardFile(const std::string& path, const std::vector<std::string>& names,
                      const std::vector<bool>& dense, const std::vector<uint32_t>& row_floats,
                      const std::function<void(const std::function<void(const ShardRow&)>&)>& for_each_row,
                      uint64_t* checksum, FileEnv* env = FileEnv::Default());

// Reads PATH, verifies magic, version, checksum and that its tables match `names`/`row_floats`
// (a checkpoint of another model is refused, naming the file and the table), and calls
// `on_row` for every row. If `expected_checksum` is non-null the file's checksum must equal it
// (the one its MANIFEST recorded).
Status ReadShardFile(const std::string& path, const std::vector<std::string>& names,
                     const std::vector<uint32_t>& row_floats,
                     const std::function<Status(const ShardRow&)>& on_row,
                     const uint64_t* expected_checksum = nullptr);
// ReadShardFile's checks and decoding of a shard's bytes already in memory; `path` names the
// file in errors.
Status ParseShardBytes(const std::string& path, const std::string& bytes, const std::vector<std::string>& names,
                       const std::vector<uint32_t>& row_floats,
                       const std::function<Status(const ShardRow&)>& on_row,
                       const uint64_t* expected_checksum = nullptr);

}  // namespace embark
