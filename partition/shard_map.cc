#include "partition/shard_map.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include <glog/logging.h>

namespace embark {

namespace {

constexpr char kMagic[8] = {'E', 'M', 'B', 'S', 'H', 'M', 'A', 'P'};
constexpr uint32_t kFormatVersion = 1;
// magic + version + epoch + num_servers + num_vshards
constexpr size_t kHeaderBytes = 8 + 4 + 8 + 4 + 4;
constexpr size_t kChecksumBytes = 8;

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

void PutLittleEndian(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return value;
}

}  // namespace

Status ShardMap::ValidateLayout(int num_servers, uint32_t num_vshards) {
  if (!IsPowerOfTwo(num_vshards) || num_vshards > kMaxVShards) {
    return Status::InvalidArgument("shard map: number of virtual shards must be a power of two "
                                   "in [1, " + std::to_string(kMaxVShards) + "], got " +
                                   std::to_string(num_vshards));
  }
  if (num_servers < 1 || num_servers > kMaxServers) {
    return Status::InvalidArgument("shard map: number of servers must be in [1, " +
                                   std::to_string(kMaxServers) + "], got " +
                                   std::to_string(num_servers));
  }
  if (static_cast<uint32_t>(num_servers) > num_vshards) {
    return Status::InvalidArgument("shard map: " + std::to_string(num_servers) +
                                   " servers but only " + std::to_string(num_vshards) +
                                   " virtual shards; some servers would hold nothing");
  }
  return Status::OK();
}

ShardMap ShardMap::Balanced(int num_servers, uint32_t num_vshards) {
  Status st = ValidateLayout(num_servers, num_vshards);
  CHECK(st.ok()) << st.ToString();
  ShardMap map;
  map.num_servers_ = num_servers;
  map.vshard_mask_ = num_vshards - 1;
  map.server_of_vshard_.resize(num_vshards);
  // floor(v * S / V) is the server whose range [ceil(s*V/S), ceil((s+1)*V/S)) contains v.
  for (uint32_t v = 0; v < num_vshards; ++v) {
    map.server_of_vshard_[v] =
        static_cast<uint16_t>(static_cast<uint64_t>(v) * num_servers / num_vshards);
  }
  return map;
}

Status ShardMap::FromTable(int num_servers, std::vector<uint16_t> table, uint64_t epoch,
                           ShardMap* out) {
  const size_t v = table.size();
  if (!IsPowerOfTwo(v) || v > kMaxVShards) {
    return Status::InvalidArgument("shard map: table has " + std::to_string(v) +
                                   " virtual shards, want a power of two in [1, " +
                                   std::to_string(kMaxVShards) + "]");
  }
  if (num_servers < 1 || num_servers > kMaxServers) {
    return Status::InvalidArgument("shard map: number of servers must be in [1, " +
                                   std::to_string(kMaxServers) + "], got " +
                                   std::to_string(num_servers));
  }
  for (size_t i = 0; i < v; ++i) {
    if (table[i] >= num_servers) {
      return Status::InvalidArgument("shard map: virtual shard " + std::to_string(i) +
                                     " is assigned to server " + std::to_string(table[i]) +
                                     " but there are only " + std::to_string(num_servers) +
                                     " servers");
    }
  }
  ShardMap map;
  map.num_servers_ = num_servers;
  map.vshard_mask_ = static_cast<uint32_t>(v - 1);
  map.epoch_ = epoch;
  map.server_of_vshard_ = std::move(table);
  *out = std::move(map);
  return Status::OK();
}

std::vector<uint32_t> ShardMap::VShardsOfServer(int server) const {
  std::vector<uint32_t> result;
  for (uint32_t v = 0; v < num_vshards(); ++v) {
    if (server_of_vshard_[v] == server) result.push_back(v);
  }
  return result;
}

std::vector<uint32_t> ShardMap::VShardCounts() const {
  std::vector<uint32_t> counts(num_servers_, 0);
  for (uint16_t s : server_of_vshard_) ++counts[s];
  return counts;
}

ShardMap ShardMap::Resized(int new_num_servers, std::vector<uint32_t>* moved) const {
  const uint32_t num_v = num_vshards();
  Status st = ValidateLayout(new_num_servers, num_v);
  CHECK(st.ok()) << st.ToString();

  // Current holdings, indexed by the NEW server numbering (removed servers hold nothing there).
  std::vector<uint32_t> counts(new_num_servers, 0);
  for (uint16_t s : server_of_vshard_) {
    if (s < new_num_servers) ++counts[s];
  }

  // Targets: V % S' servers get one extra vshard. Giving the extras to the servers that hold
  // the most already minimises the number of moves (any other assignment makes some server
  // with more vshards give one up while a smaller one receives one).
  const uint32_t base = num_v / new_num_servers;
  const uint32_t extra = num_v % new_num_servers;
  std::vector<int> by_load(new_num_servers);
  std::iota(by_load.begin(), by_load.end(), 0);
  std::stable_sort(by_load.begin(), by_load.end(),
                   [&](int a, int b) { return counts[a] > counts[b]; });
  std::vector<uint32_t> target(new_num_servers, base);
  for (uint32_t i = 0; i < extra; ++i) ++target[by_load[i]];

  // Collect the vshards that must move: everything of removed servers, and each over-target
  // server's highest-numbered excess (so what it keeps stays a low contiguous run when it was
  // contiguous before).
  std::vector<uint32_t> excess(new_num_servers, 0);
  for (int s = 0; s < new_num_servers; ++s) {
    if (counts[s] > target[s]) excess[s] = counts[s] - target[s];
  }
  std::vector<uint32_t> pool;
  for (uint32_t v = num_v; v-- > 0;) {
    const uint16_t s = server_of_vshard_[v];
    if (s >= new_num_servers) {
      pool.push_back(v);
    } else if (excess[s] > 0) {
      --excess[s];
      pool.push_back(v);
    }
  }
  std::reverse(pool.begin(), pool.end());  // ascending

  ShardMap result;
  result.num_servers_ = new_num_servers;
  result.vshard_mask_ = vshard_mask_;
  result.epoch_ = epoch_ + 1;
  result.server_of_vshard_ = server_of_vshard_;
  // Hand the pool out in ascending order, filling receivers in server order, so each
  // receiver gets as few separate runs of vshards as possible.
  size_t next = 0;
  for (int s = 0; s < new_num_servers; ++s) {
    for (uint32_t c = counts[s]; c < target[s]; ++c) {
      result.server_of_vshard_[pool[next++]] = static_cast<uint16_t>(s);
    }
  }
  CHECK_EQ(next, pool.size()) << "shard map resize: targets do not add up";
  if (moved != nullptr) *moved = std::move(pool);
  return result;
}

std::string ShardMap::Encode() const {
  std::string out;
  out.reserve(kHeaderBytes + 2 * server_of_vshard_.size() + kChecksumBytes);
  out.append(kMagic, sizeof(kMagic));
  PutLittleEndian(&out, kFormatVersion, 4);
  PutLittleEndian(&out, epoch_, 8);
  PutLittleEndian(&out, static_cast<uint32_t>(num_servers_), 4);
  PutLittleEndian(&out, num_vshards(), 4);
  for (uint16_t s : server_of_vshard_) PutLittleEndian(&out, s, 2);
  PutLittleEndian(&out, HashBytes(out), 8);
  return out;
}

Status ShardMap::Decode(std::string_view bytes, ShardMap* out) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return Status::Corruption("shard map: truncated: " + std::to_string(bytes.size()) +
                              " bytes, a header and checksum need " +
                              std::to_string(kHeaderBytes + kChecksumBytes));
  }
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("shard map: bad magic (not an encoded shard map)");
  }
  const uint64_t version = GetLittleEndian(p + 8, 4);
  if (version != kFormatVersion) {
    return Status::Corruption("shard map: unsupported format version " +
                              std::to_string(version) + " (this build reads " +
                              std::to_string(kFormatVersion) + ")");
  }
  const uint64_t epoch = GetLittleEndian(p + 12, 8);
  const uint64_t num_servers = GetLittleEndian(p + 20, 4);
  const uint64_t num_v = GetLittleEndian(p + 24, 4);
  if (!IsPowerOfTwo(num_v) || num_v > kMaxVShards) {
    return Status::Corruption("shard map: virtual shard count " + std::to_string(num_v) +
                              " is not a power of two in [1, " + std::to_string(kMaxVShards) +
                              "]");
  }
  if (num_servers < 1 || num_servers > static_cast<uint64_t>(kMaxServers)) {
    return Status::Corruption("shard map: server count " + std::to_string(num_servers) +
                              " is outside [1, " + std::to_string(kMaxServers) + "]");
  }
  const size_t want = kHeaderBytes + 2 * num_v + kChecksumBytes;
  if (bytes.size() != want) {
    return Status::Corruption("shard map: " + std::string(bytes.size() < want ? "truncated" :
                              "trailing bytes") + ": " + std::to_string(bytes.size()) +
                              " bytes, " + std::to_string(num_v) + " virtual shards need " +
                              std::to_string(want));
  }
  const uint64_t stored_sum = GetLittleEndian(p + want - kChecksumBytes, 8);
  const uint64_t actual_sum = HashBytes(bytes.substr(0, want - kChecksumBytes));
  if (stored_sum != actual_sum) {
    return Status::Corruption("shard map: checksum mismatch (the bytes were damaged)");
  }
  std::vector<uint16_t> table(num_v);
  for (uint64_t v = 0; v < num_v; ++v) {
    table[v] = static_cast<uint16_t>(GetLittleEndian(p + kHeaderBytes + 2 * v, 2));
    if (table[v] >= num_servers) {
      return Status::Corruption("shard map: virtual shard " + std::to_string(v) +
                                " is assigned to server " + std::to_string(table[v]) +
                                " but the map has " + std::to_string(num_servers) + " servers");
    }
  }
  return FromTable(static_cast<int>(num_servers), std::move(table), epoch, out);
}

void ShardMap::Slice(const uint64_t* keys, size_t n, uint32_t table_id, KeySlices* out) const {
  DCHECK_LT(n, size_t{1} << 32);
  const int num_s = num_servers_;
  out->begin.assign(num_s + 1, 0);
  out->server_of_key.resize(n);
  out->order.resize(n);
  uint32_t* begin = out->begin.data();
  uint16_t* server_of_key = out->server_of_key.data();
  // Pass 1: hash every key once, counting per server into begin[s + 1].
  for (size_t i = 0; i < n; ++i) {
    const uint16_t s = server_of_vshard_[VShardOf(keys[i], table_id)];
    server_of_key[i] = s;
    ++begin[s + 1];
  }
  for (int s = 0; s < num_s; ++s) begin[s + 1] += begin[s];
  // Pass 2: stable placement from the stored servers; no re-hashing.
  out->cursor.assign(begin, begin + num_s);
  uint32_t* cursor = out->cursor.data();
  uint32_t* order = out->order.data();
  for (size_t i = 0; i < n; ++i) order[cursor[server_of_key[i]]++] = static_cast<uint32_t>(i);
}

}  // namespace embark
