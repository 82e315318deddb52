// Wire format of every message between embark processes.
//
// A message is a ZeroMQ multipart message:
//
//   frame 0      MsgHeader, exactly 64 bytes, little-endian (layout below)
//   frame 1..n   raw little-endian arrays, no per-element encoding:
//                  keys   uint64[num_keys]
//                  values float32[num_keys * val_len]   (row-major, one row per key)
//                or, for control messages, one opaque payload (Cereal binary or UTF-8 text)
//
// The receiving ROUTER socket prepends the sender's routing id (set by the sender's DEALER to
// "r<rank>"); Transport strips it and checks it against MsgHeader::sender, so a peer cannot
// pretend to be another.
//
// Requests carry a request_id chosen by the client; the reply echoes it. An error reply has
// type kError, the failing request's id and table, and one frame with a UTF-8 reason.
//
// Shared memory (version 2): a data request whose shm_bytes is non-zero has no frames; its
// arrays lie in the sender's shared-memory segment at shm_offset (layout: core/shm_slot.h), and
// the server answers a pull there too (the pull-reply's shm_offset/shm_bytes name the values).
// Only same-host peers use it, after the kShmOffer / kShmAccept handshake.
//
// Bump kWireVersion whenever the header layout or a message's frames change: a peer speaking
// another version gets an error reply naming both versions instead of misreading arrays.
//
// Thread-safety: plain functions and values.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "core/status.h"

namespace embark {

constexpr uint32_t kWireMagic = 0x4b424d45;  // "EMBK" read as little-endian bytes
constexpr uint16_t kWireVersion = 2;  // 2: 64-byte header with shm_offset/shm_bytes
// Upper bounds that turn an absurd header into an error before anything is allocated.
constexpr uint32_t kMaxKeysPerMessage = 1u << 26;   // 64 Mi keys
constexpr uint32_t kMaxValLen = 1u << 20;           // floats per row
constexpr uint32_t kMaxFrames = 16;
// The most bytes one request may carry (keys and values) or ask for in its reply (pulled
// rows), unless --max_request_mb says otherwise. Clients cut larger requests into chunks; a
// server answers a request over the cap with an error naming it, so a single message cannot
// make a server allocate without bound.
constexpr uint64_t kDefaultMaxRequestBytes = uint64_t{256} << 20;
// ZMQ_MAXMSGSIZE (per frame) is the cap plus this: a frame a little over the cap still
// arrives and gets the error reply that names the cap; ZeroMQ drops the connection of a
// sender whose frame is larger still, before buffering it.
constexpr uint64_t kFrameSlackBytes = uint64_t{1} << 20;

enum class MsgType : uint16_t {
  // data plane (worker <-> server)
  // Data-plane requests carry in aux the id of their key set (unique per prepared key set of
  // a worker): a server may cache the rows of a recent key set under (sender, table, id) and
  // reuse them when the same keys come again, after checking the keys are identical.
  kPull = 1,          // frames: keys            -> kPullReply: values
  kPullReply = 2,
  kPush = 3,          // frames: keys, values    -> kPushAck (no frames)
  kPushAck = 4,
  kPushPull = 5,      // fused: push then return the new rows. frames: keys, values -> kPullReply
  kError = 6,         // frames: reason (UTF-8)
  // Local-update training (worker/row_replica.h): rows travel whole, optimizer state included,
  // so a worker can run the optimizer on its own copy and hand back what changed. val_len is
  // the table's stored row width (Placement::StoredRowWidth).
  kPullRows = 7,      // frames: keys            -> kPullReply: stored rows (weights | state)
  kPushDelta = 8,     // frames: keys, deltas    -> kPushAck; each row += delta (weights and state)
  // Shared-memory handshake (worker -> same-host server): frame = segment name, aux = its
  // token, shm_bytes = its size. The server maps it and answers kShmAccept (status 0) or
  // kShmAccept with an error status and a reason frame; the worker then unlinks the name.
  kShmOffer = 10,
  kShmAccept = 11,
  // control plane (any rank <-> scheduler)
  kRegister = 20,     // rank -> scheduler: payload = NodeInfo (Cereal)
  kNodeTable = 21,    // scheduler -> all: payload = ClusterTable (Cereal)
  kHeartbeat = 22,    // both directions, no frames
  kAbort = 23,        // scheduler -> all: payload = reason (UTF-8); receivers exit non-zero
  kShutdown = 24,     // scheduler -> all: finish cleanly
  kDone = 25,         // rank -> scheduler: this rank's work is finished (aux = exit code)
  kBarrier = 26,      // rank -> scheduler: aux = barrier sequence number, table = group
  kBarrierRelease = 27,
  kApp = 40,          // application control message (scheduler app <-> workers); payload opaque, aux = app subtype
};

const char* MsgTypeName(MsgType t);

#pragma pack(push, 1)
struct MsgHeader {
  uint32_t magic = kWireMagic;
  uint16_t version = kWireVersion;
  uint16_t type = 0;          // MsgType
  uint32_t sender = 0;        // MPI rank of the sender
  uint32_t table = 0;         // table id (data plane) or group (control)
  uint64_t request_id = 0;    // echoed in the reply
  uint32_t num_keys = 0;
  uint32_t val_len = 0;       // floats per key
  uint32_t num_frames = 0;    // frames after the header
  uint32_t status = 0;        // 0 = OK in replies
  uint64_t aux = 0;           // type-specific (barrier number, clock, app subtype, exit code)
  uint64_t shm_offset = 0;    // data plane: slot offset in the worker's shared-memory segment
  uint64_t shm_bytes = 0;     // its length; 0 = the arrays travel as frames
};
#pragma pack(pop)
static_assert(sizeof(MsgHeader) == 64, "MsgHeader must stay 64 bytes: it is the wire format");

// One decoded message: the header plus its array frames, still in ZeroMQ's buffers (no copy).
struct Message {
  MsgHeader header;
  std::vector<zmq::message_t> frames;
  int peer = -1;  // rank the message came from (from the routing id), -1 if unknown

  MsgType type() const { return static_cast<MsgType>(header.type); }
  // Typed views of frames; the caller has validated sizes first (ValidateDataMessage).
  const uint64_t* keys(size_t frame = 0) const { return frames[frame].data<uint64_t>(); }
  const float* values(size_t frame) const { return frames[frame].data<float>(); }
  std::string FrameString(size_t frame) const { return frames[frame].to_string(); }
};

// Builds a header for a message of the given type from `sender`.
MsgHeader MakeHeader(MsgType type, int sender, uint64_t request_id = 0);

// Checks that the raw header frame is a header this build can read: size, magic, version,
// type, frame count and bounds. The message names what is wrong.
Status ParseHeader(const void* data, size_t size, MsgHeader* out);

// Checks a data-plane request or reply: the frames the type requires are present and their
// byte sizes match num_keys and val_len exactly. `expected_val_len` (0 = don't check) is the
// row width of the addressed table.
Status ValidateDataMessage(const Message& msg, uint32_t expected_val_len);

// Little-endian is assumed everywhere (x86-64, aarch64); refuse to build elsewhere rather
// than silently byte-swap arrays.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "embark's wire format is little-endian");

}  // namespace embark
