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
#include "ps/dense_block.h"
#include "ps/key_set_cache.h"
#include "ps/placement.h"
#include "ps/sparse_table.h"

namespace embark {

struct ServerOptions {
  int threads = 1;      // sub-shards (one thread each)
  uint64_t seed = 0;    // job seed for deterministic row initialisation
  size_t key_set_cache = 64;  // recent key sets whose row lookups are reused (0 = off)
};

struct ServerStats {
  uint64_t requests = 0;
  uint64_t keys = 0;
  uint64_t rejected = 0;
  uint64_t cache_hits = 0;
  uint64_t shm_requests = 0;  // requests whose arrays came through shared memory
};

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

  // Checkpoints: writes every row this server holds to `path` (atomically); loads the rows it
  // owns from every shard of a checkpoint (any number of servers may have written them).
  Status SaveShard(const std::string& path, uint64_t* checksum) const;
  Status LoadShards(const std::vector<std::string>& paths);

  const ServerStats& stats() const { return stats_; }
  size_t RowsHeld(uint32_t table) const;
  // One line per table: rows held and bytes per row.
  std::string Report() const;

 private:
  struct SubShard {
    std::vector<std::unique_ptr<SparseTable>> sparse;  // per table; null for dense tables
  };
  // Shape, table and values; key ownership too unless the keys were validated before.
  Status Validate(const Message& request, bool keys_known_good) const;
  uint32_t CheckpointRowFloats(uint32_t table) const;
  // Serves checkpoint requests the scheduler queued on the control plane.
  void ServeCheckpointRequests();
  void Execute(const Message& request, KeySetCache::Entry* cached, bool hit, float* pull_out);
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
  std::vector<std::unique_ptr<ShmSegment>> peer_shm_;  // per worker rank: its offered segment
};

}  // namespace embark
