// ShardMap: which server holds each row of every sparse table.
//
// Placement has two levels so that a resize or a restore never re-hashes a key:
//   key --(hash, fixed forever)--> virtual shard (vshard) --(table)--> server index.
// The number of vshards is a power of two fixed for the life of a job (default 4096). The
// vshard -> server table is owned by the scheduler and sent to every process; changing the
// number of servers only rewrites table entries, i.e. moves whole vshards.
//
// Hashing. VShardOf(key, table_id) = low bits of Mix64(key XOR TableSalt(table_id)). The salt
// makes the rows of different tables that share a key (for example FM's linear weight and
// factor vector of one feature) land on independent servers, so one hot feature does not put
// the hot rows of every table on the same server. Table 0 has salt 0. Every caller that places
// or looks up a row of table t must pass the same t (the server-side stores, checkpoints and
// the worker's KV client all call these functions, never their own hash).
//
// Balanced layout. Balanced(S, V) gives server s the CONTIGUOUS range of vshards
// [ceil(s*V/S), ceil((s+1)*V/S)), so per-server counts differ by at most one. Contiguous
// (rather than v % S) matters for sub-sharding: a server splits its rows among T threads by
// vshard % T, which is balanced on any contiguous range but degenerate for v % S when S and T
// share a factor (S = T = 2 would put all of server 0's rows in thread 0).
//
// Thread-safety: a ShardMap is an immutable value after construction; const methods may be
// called from any number of threads. KeySlices is per-caller scratch, not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"
#include "core/status.h"

namespace embark {

// The keys of one request grouped by destination server, produced by ShardMap::Slice.
// Positions of the keys that server s owns are positions()[begin[s] .. begin[s+1]), in
// increasing position order, so sorted input keys stay sorted inside every server's slice.
// Reusing one KeySlices across requests keeps its vectors' capacity: no allocation in the
// steady state.
struct KeySlices {
  std::vector<uint32_t> begin;          // num_servers + 1 offsets into `order`
  std::vector<uint32_t> order;          // positions into the sliced key array, grouped by server
  std::vector<uint16_t> server_of_key;  // server of each input key (also the sort scratch)
  std::vector<uint32_t> cursor;         // scratch for the placement pass

  int num_servers() const { return begin.empty() ? 0 : static_cast<int>(begin.size()) - 1; }
  size_t count(int server) const { return begin[server + 1] - begin[server]; }
  const uint32_t* positions(int server) const { return order.data() + begin[server]; }
};

class ShardMap {
 public:
  static constexpr uint32_t kDefaultVShards = 4096;
  static constexpr uint32_t kMaxVShards = 1u << 20;
  static constexpr int kMaxServers = 65535;  // table entries are uint16_t

  // An empty map (num_servers() == 0). Only assignment, Encode and num_* may be used on it.
  ShardMap() = default;

  // OK when Balanced(num_servers, num_vshards) is allowed: 1 <= num_servers <=
  // min(num_vshards, kMaxServers), num_vshards a power of two in [1, kMaxVShards]. Use it to
  // validate user flags before calling Balanced or Resized, which CHECK-fail otherwise.
  static Status ValidateLayout(int num_servers, uint32_t num_vshards);

  // The contiguous balanced layout described at the top of this file. Epoch 0.
  static ShardMap Balanced(int num_servers, uint32_t num_vshards = kDefaultVShards);

  // Builds a map from an explicit vshard -> server table (table.size() is the vshard count).
  // Fails if the vshard count is not an allowed power of two or an entry is >= num_servers.
  static Status FromTable(int num_servers, std::vector<uint16_t> table, uint64_t epoch,
                          ShardMap* out);

  // Per-table salt XORed into the key before hashing; 0 for table 0.
  static uint64_t TableSalt(uint32_t table_id) {
    return static_cast<uint64_t>(table_id) * 0x9e3779b97f4a7c15ULL;
  }

  // Hot path: one Mix64 and one table load per key.
  uint32_t VShardOf(uint64_t key, uint32_t table_id = 0) const {
    return static_cast<uint32_t>(Mix64(key ^ TableSalt(table_id))) & vshard_mask_;
  }
  int ServerOf(uint64_t key, uint32_t table_id = 0) const {
    return server_of_vshard_[VShardOf(key, table_id)];
  }
  int ServerOfVShard(uint32_t vshard) const { return server_of_vshard_[vshard]; }

  // The thread (sub-shard) in [0, num_threads) of a server that owns a row. It depends only
  // on the vshard, so a row stays in the same thread for the life of the job, and a moved
  // vshard arrives as whole per-thread pieces.
  static int SubShardOfVShard(uint32_t vshard, int num_threads) {
    return static_cast<int>(vshard % static_cast<uint32_t>(num_threads));
  }
  int SubShardOf(uint64_t key, int num_threads, uint32_t table_id = 0) const {
    return SubShardOfVShard(VShardOf(key, table_id), num_threads);
  }

  int num_servers() const { return num_servers_; }
  uint32_t num_vshards() const { return static_cast<uint32_t>(server_of_vshard_.size()); }
  // Incremented by every Resized(); lets processes tell an older map from a newer one.
  uint64_t epoch() const { return epoch_; }

  // The vshards owned by `server`, ascending.
  std::vector<uint32_t> VShardsOfServer(int server) const;
  // Number of vshards owned by each server (num_servers() entries).
  std::vector<uint32_t> VShardCounts() const;

  // A map for new_num_servers that moves as few vshards as possible and leaves every server
  // with floor or ceil of V / new_num_servers vshards. Servers keep what they can; the ones
  // above their target (the most loaded) give up their highest-numbered vshards, which go in
  // ascending order to the servers below target (new servers, or survivors when shrinking).
  // Shrinking removes the highest-indexed servers: all their vshards move. The number of
  // moves is the minimum possible for these rules (adding one server to a balanced map of S
  // servers moves about V / (S + 1)). If `moved` is not null it receives the moved vshards,
  // ascending; their old and new owners are this->ServerOfVShard and result.ServerOfVShard.
  // The result's epoch is epoch() + 1. CHECK-fails if ValidateLayout(new_num_servers,
  // num_vshards()) fails.
  ShardMap Resized(int new_num_servers, std::vector<uint32_t>* moved = nullptr) const;

  // Wire format, all integers little-endian:
  //   8 bytes  magic "EMBSHMAP"
  //   u32      format version (1)
  //   u64      epoch
  //   u32      num_servers
  //   u32      num_vshards (V)
  //   V x u16  server of each vshard
  //   u64      checksum: HashBytes (core/hash.h) of every preceding byte, seed 0
  std::string Encode() const;
  // Parses Encode()'s output; on failure returns Corruption with a message saying what is
  // wrong (truncation, magic, version, checksum, an out-of-range entry) and leaves *out alone.
  static Status Decode(std::string_view bytes, ShardMap* out);

  // Groups keys[0, n) of table `table_id` by server in one hashing pass plus one placement
  // pass (a stable counting sort); see KeySlices. Any key order works; the KV client passes
  // sorted unique keys so every server's slice is sorted and unique too. n must be < 2^32.
  void Slice(const uint64_t* keys, size_t n, uint32_t table_id, KeySlices* out) const;

  bool operator==(const ShardMap& other) const {
    return num_servers_ == other.num_servers_ && epoch_ == other.epoch_ &&
           server_of_vshard_ == other.server_of_vshard_;
  }
  bool operator!=(const ShardMap& other) const { return !(*this == other); }

 private:
  int num_servers_ = 0;
  uint32_t vshard_mask_ = 0;
  uint64_t epoch_ = 0;
  std::vector<uint16_t> server_of_vshard_;  // uint16_t keeps the default table at 8 KiB
};

}  // namespace embark
