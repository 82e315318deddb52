// Server: one parameter-server process's request loop and the rows it owns.
//
// A server holds, for every sparse table of the job, the rows whose virtual shard maps to it,
// split into sub-shards by virtual shard, one per thread (--server_threads): a row belongs to
// exactly one thread, so rows are never locked. Dense tables' blocks live in sub-shard 0.
//
// Every request is validated before it touches a row: known table, frame sizes matching the
// header and the table's row width, every key owned by this server, finite gradients. A bad
// request gets a kError reply naming the problem and a log line naming the sender; nothing is
// applied from it (no partial updates).
//
// With bounded memory (ServerOptions::memory, policy in ps/bounded_memory.h) the sparse tables
// run in bounded mode: pulls never create rows, pushes go through admission, every push
// request advances its table's step and may trigger a TTL or budget sweep, and the scheduler's
// kServerEpochEnd runs the per-epoch TTL sweep and returns the counters (kServerMemory). The
// key-set cache is off then, since rows come and go.
// Bounded requests: a request over ServerOptions::max_request_bytes (its frames, its arrays, or
// the rows a pull would return) is refused with an error naming the cap before anything is
// allocated for it, and a reply the process cannot allocate is an error reply too: one client
// cannot take the server down by asking for too much.
// Shared memory: a same-host worker may offer a segment (kShmOffer); the server maps it and
// from then on reads that worker's requests in place from the slot the header names and writes
// pull results straight into the slot's output area. A slot outside the segment or of the
// wrong size is a bad request like any other (kError naming the worker), never a crash. The
// worker must not write a slot between sending the request and receiving the reply (KVClient
// never does); one that did could only spoil its own job's rows, as bad gradients could.
//
// Thread-safety: Run() is the process's receiving thread; the object is not shared otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/control_plane.h"
#include "core/fork_join.h"
#include "core/shm_segment.h"
#include "core/transport.h"
#include "ps/bounded_memory.h"
#include "ps/dense_block.h"
#include "ps/key_set_cache.h"
#include "ps/placement.h"
#include "ps/sparse_table.h"

namespace embark {

struct ServerOptions {
  int threads = 1;      // sub-shards (one thread each)
  uint64_t seed = 0;    // job seed for deterministic row initialisation
  size_t key_set_cache = 64;  // recent key sets whose row lookups are reused (0 = off)
  BoundedMemoryOptions memory;  // admission, TTL, budget (off by default)
  // A request whose keys and values, or whose pulled rows, exceed this many bytes gets an
  // error reply naming the cap (--max_request_mb); nothing is allocated for it.
  uint64_t max_request_bytes = kDefaultMaxRequestBytes;
};

// Bounded-memory counters of a server (or of one of its tables), summed over sub-shards.
struct MemoryStats {
  uint64_t rows_held = 0;
  uint64_t admitted = 0;
  uint64_t rejected_pushes = 0;
  uint64_t evicted_ttl = 0;
  uint64_t evicted_memory = 0;
  uint64_t held_bytes = 0;  // rows + index slots (+ dense blocks and sketches for a server)
  uint64_t peak_bytes = 0;  // server only: the most held_bytes seen after a push request
};

struct ServerStats {
  uint64_t requests = 0;
  uint64_t keys = 0;
  uint64_t rejected = 0;
  uint64_t cache_hits = 0;
  uint64_t shm_requests = 0;  // requests whose arrays came through shared memory
  uint64_t bytes_in = 0;      // keys and values of accepted data requests
  uint64_t bytes_out = 0;     // values of pull replies
};

// kPullRows / kPushDelta: requests on stored rows (weights and optimizer state).
inline bool IsStoredRowRequest(MsgType t) { return t == MsgType::kPullRows || t == MsgType::kPushDelta; }

class Server {
 public:
  Server(Transport* transport, ControlPlane* control, const Placement& placement, int server_index,
         const ServerOptions& opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves requests until the scheduler says shutdown.
  Status Run();

  // Handles one data-plane request and returns the reply to send (kError on a bad request).
  // Public so unit tests can drive a server without sockets.
  Status Handle(const Message& request, MsgHeader* reply_header, std::vector<zmq::message_t>* reply_frames);

  // Checkpoints: writes every row this server holds to `path` (atomically), or with `delta`
  // only the sparse rows changed since the previous SaveShard or LoadShards (dense blocks are
  // always written whole). Changes are found by a 64-bit hash per row kept from the previous
  // save or load, compared at save time: the push path does no bookkeeping at all, at a cost of
  // 8 bytes per row once checkpoints are written.
  Status SaveShard(const std::string& path, uint64_t* checksum, bool delta = false);
  // Loads the rows it owns from every shard file of a checkpoint, in order (any number of
  // servers may have written them; a chain is base shards first, then each delta's).
  // `expected_checksums` (optional, one per path) are the MANIFEST's.
  Status LoadShards(const std::vector<std::string>& paths, const std::vector<uint64_t>* expected_checksums = nullptr);

  const ServerStats& stats() const { return stats_; }
  size_t RowsHeld(uint32_t table) const;
  // One line per table: rows held and bytes per row.
  std::string Report() const;

  // Bounded memory. The counters of one sparse table, or of the whole server (table < 0).
  MemoryStats Memory(int table = -1) const;
  // The end of a training epoch: records the tables' steps, runs the epoch TTL sweep, and
  // returns the counters as "key=value ..." (the kServerMemory payload).
  std::string OnEpochEnd();
  // The start-up line (budget, bytes per row of every table) and the end line (rows held,
  // admitted, rejected pushes, evicted, peak bytes), formats in README "Bounded memory".
  std::string MemoryStartReport() const;
  std::string MemoryEndReport() const;

 private:
  struct SubShard {
    std::vector<std::unique_ptr<SparseTable>> sparse;  // per table; null for dense tables
    // Per table, per row ordinal: hash of (key, row) at the last checkpoint save or load.
    std::vector<std::vector<uint64_t>> saved_hash;
  };
  // Records every row's hash as of now (after a save or a load).
  void RecordRowHashes();
  // The per-message cap: every frame, the request's arrays and a pull's reply.
  Status CheckRequestSize(const Message& request) const;
  // Shape, table and values; key ownership too unless the keys were validated before.
  Status Validate(const Message& request, bool keys_known_good) const;
  uint32_t CheckpointRowFloats(uint32_t table) const;
  // Serves checkpoint requests the scheduler queued on the control plane.
  void ServeCheckpointRequests();
  void Execute(const Message& request, KeySetCache::Entry* cached, bool hit, float* pull_out);
  // kPullRows / kPushDelta (validated): copies stored rows out, or adds deltas to them.
  void ExecuteStoredRows(const Message& request, float* pull_out);
  // After a push request to sparse table t: TTL-step sweep when due, budget sweep when a
  // sub-shard is over its share; tracks the peak. t < 0: the budget only (after a restore).
  void EnforceMemory(int t);
  uint64_t SubShardHeldBytes(int part) const;
  bool bounded() const { return opts_.memory.enabled(); }
  // Maps the segment a worker offers; the reply says whether it worked.
  Status AttachSharedMemory(const Message& offer);
  // Checks a shared-memory request's slot and makes `view` a copy of it whose frames point
  // into the slot (no bytes copied); *out is the slot's output area (pulls).
  Status ViewSharedMemory(const Message& request, Message* view, float** out, uint64_t* out_offset) const;

  Transport* const transport_;
  ControlPlane* const control_;
  const Placement placement_;
  const int server_index_;
  const ServerOptions opts_;
  std::vector<SubShard> shards_;
  std::vector<std::unique_ptr<DenseBlockStore>> dense_;  // per table; null for sparse tables
  ForkJoinPool pool_;
  std::vector<std::vector<uint32_t>> positions_;  // per sub-shard scratch: key positions
  KeySetCache cache_;
  ServerStats stats_;
  // Bounded memory.
  std::vector<uint32_t> table_step_;                     // per table: push requests applied
  std::vector<std::vector<uint32_t>> epoch_end_steps_;   // per table: its step at each epoch end
  uint64_t fixed_bytes_ = 0;        // dense blocks + admission sketches
  uint64_t sub_shard_budget_ = 0;   // (budget - fixed) / sub-shards; 0 = none
  uint64_t peak_bytes_ = 0;
  std::vector<std::unique_ptr<ShmSegment>> peer_shm_;  // per worker rank: its offered segment
};

}  // namespace embark
