// KVClient: a worker's asynchronous pull/push access to the parameter servers.
//
// Usage (ps-lite style: every operation returns a timestamp; Wait on it):
//
//   PreparedKeys keys;
//   kv.Prepare(table, raw_keys, n, &keys);        // dedup + sort + group by server, once
//   std::vector<float> rows(keys.size() * kv.RowWidth(table));
//   int ts = kv.Pull(keys, rows.data());          // one message per server, all in flight
//   ... compute gradients for keys.keys order ...
//   int ts2 = kv.Push(keys, grads.data());
//   Status st = kv.Wait(ts2);                     // timeout -> Status naming the server
//
// Zero copy: Push/PushPull send the caller's key and value arrays without copying, so
// `keys` and `vals` must stay alive and unchanged until Wait(ts) returns; Pull writes into
// `out` from the receiving thread, so `out` must not be read before Wait(ts) returns.
// Several requests may be in flight at once, from any number of threads.
//
// Shared memory: after EnableSharedMemory, requests to a server on the same host carry their
// keys and values in a segment shared with that server (worker/shm_channel.h) and the header
// names the slot; the server writes pulled rows into the slot. A request falls back to frames
// whenever the ring has no room, so the choice never changes results or blocks.
//
// Thread-safety: Prepare/Pull/Push/PushPull/Wait may be called from any thread. Start/Stop
// and EnableSharedMemory from the owner. The client runs the process's receiving thread, which also feeds control
// messages (heartbeats, barriers, shutdown) to the ControlPlane.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/control_plane.h"
#include "core/transport.h"
#include "ps/placement.h"
#include "worker/shm_channel.h"

namespace embark {

// The keys of one request, deduplicated and grouped by owning server (sorted inside a group).
struct PreparedKeys {
  uint32_t table = 0;
  uint64_t id = 0;                       // hash of the key set (see MsgHeader::aux)
  std::vector<uint64_t> keys;            // unique keys, grouped by server
  std::vector<uint32_t> server_begin;    // num_servers + 1 offsets into keys
  std::vector<uint32_t> index_of_input;  // for input position i: index of its key in `keys`
  size_t size() const { return keys.size(); }
};

class KVClient {
 public:
  // max_message_bytes: a server's share of a request larger than this is sent as several
  // messages so transfer and server work overlap; 0 = one message per server, as long as it
  // stays within half of max_request_bytes (the servers' cap per message: ServerOptions).
  KVClient(Transport* transport, ControlPlane* control, const Placement& placement,
           double request_timeout_s, size_t max_message_bytes = 0,
           uint64_t max_request_bytes = kDefaultMaxRequestBytes);
  ~KVClient();
  KVClient(const KVClient&) = delete;
  KVClient& operator=(const KVClient&) = delete;

  // Single-process mode: requests are served synchronously by `server` in this process
  // instead of going over the network (same validation, same optimizer code). Call before
  // any request; Start() is then not needed.
  void AttachLocalServer(class Server* server) { local_server_ = server; }

  // Before Start(): creates a segment of segment_bytes for every server on this host and offers
  // it; requests use it once the server accepts. Servers elsewhere keep using frames.
  void EnableSharedMemory(uint64_t segment_bytes);

  void Start();  // starts the receiving thread
  void Stop();   // joins it

  uint32_t RowWidth(uint32_t table) const { return placement_.RowWidth(table); }
  const Placement& placement() const { return placement_; }

  // Deduplicates keys[0, n) (any order, repeats allowed) and groups them by server.
  void Prepare(uint32_t table, const uint64_t* keys, size_t n, PreparedKeys* out) const;
  // Sums per-input-position rows (n * width, in the order given to Prepare) into one row per
  // unique key (keys.size() * width): gradients of duplicate keys are added.
  static void SumDuplicates(const PreparedKeys& keys, const float* input_rows, uint32_t width,
                            std::vector<float>* out);

  int Pull(const PreparedKeys& keys, float* out);
  int Push(const PreparedKeys& keys, const float* vals);
  // Fused: pushes `vals`, then returns the updated rows in `out`, in one round trip.
  int PushPull(const PreparedKeys& keys, const float* vals, float* out);
  // Local-update training (worker/row_replica.h): whole stored rows, weights followed by the
  // optimizer state, placement().StoredRowWidth(table) floats each. PullRows copies them into
  // `out`; PushDelta adds `deltas` (same layout) to them on the servers.
  int PullRows(const PreparedKeys& keys, float* out);
  int PushDelta(const PreparedKeys& keys, const float* deltas);
  // Forgets every output buffer of requests in flight and waits until no reply is being
  // copied: after it returns, late replies are dropped. Call before freeing buffers of
  // requests that were never waited for (error paths).
  void CancelAll();

  // Bytes of keys and values this client has sent to the servers, and of rows it asked
  // back, counted as the servers count theirs (ps/server.cc "bytes in" / "bytes out"):
  // whichever way they travel (frames, shared memory, or in process to a local server).
  uint64_t bytes_sent() const { return bytes_sent_.load(std::memory_order_relaxed); }
  uint64_t bytes_received() const { return bytes_received_.load(std::memory_order_relaxed); }
  // Rows asked for whole (PullRows: local-update training filling its replica).
  uint64_t rows_pulled() const { return rows_pulled_.load(std::memory_order_relaxed); }

  // Waits for request `ts`; timeout_s < 0 means the client's request timeout.
  // A request is split into messages of about 1 MiB (see Chunk), all sent at once.
  Status Wait(int ts, double timeout_s = -1);

 private:
  // One message of a request: a run of consecutive keys of one server's slice. With
  // max_message_bytes set, large slices are cut into chunks of about that size so the server
  // works on one chunk while the next is on the wire, and the worker copies one reply while
  // the next arrives.
  static constexpr uint64_t kNoSlot = ~uint64_t{0};
  struct Chunk {
    int server = 0;
    uint32_t begin = 0;  // first key (index into PreparedKeys::keys)
    uint32_t count = 0;
    bool done = false;
    uint64_t slot = kNoSlot;  // offset of its shared-memory slot, kNoSlot if it travels as frames
  };
  struct Pending {
    int remaining = 0;
    float* out = nullptr;
    const PreparedKeys* keys = nullptr;
    uint32_t width = 0;
    std::vector<Chunk> chunks;
    int copying = 0;  // replies being copied into `out` outside the lock
    Status error;
    const char* what = "";
    MsgType type = MsgType::kPull;
  };
  static constexpr uint32_t kMaxChunks = 1 << 16;  // request_id = ts * kMaxChunks + chunk
  int Issue(MsgType type, const PreparedKeys& keys, const float* vals, float* out);
  void ReceiveLoop();
  void OnReply(const Message& msg);
  void OnShmAccept(const Message& msg);
  std::string DescribeServer(int server) const;

  Transport* const transport_;
  ControlPlane* const control_;
  const Placement placement_;
  const double request_timeout_s_;
  const size_t max_message_bytes_;
  const uint64_t max_request_bytes_;

  std::mutex mu_;
  std::condition_variable cv_;
  int next_ts_ = 1;
  std::unordered_map<int, Pending> pending_;
  class Server* local_server_ = nullptr;
  std::vector<std::unique_ptr<ShmChannel>> shm_;  // per server index; null: frames only
  std::thread receiver_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, rows_pulled_{0};
};

}  // namespace embark
