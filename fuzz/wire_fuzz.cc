// Fuzz target: the wire decoder (core/wire.h) and everything a server or scheduler decodes
// from a received message: ParseHeader on the raw header frame, ValidateDataMessage and
// Server::Handle on data requests (frames built from the input), and the Cereal payloads of
// control messages (registration, node table, shard map, training protocol, input position).
//
// Input: up to 8 messages, each 64 header bytes, a mode byte, then its frames: with mode bit 1 each frame is sized
// from the header (keys, values), so most requests are well-formed; without it each frame
// has a 2-byte length prefix. Mode bit 0 overwrites magic and version with this build's, so
// the fuzzer does not spend its time rediscovering them; bits 2-3 pick the server's options.
#include <cstdint>
#include <cstring>

#include "core/cluster.h"
#include "core/wire.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_server.h"
#include "partition/shard_map.h"
#include "data/input_position.h"
#include "worker/train_protocol.h"

using namespace embark;
using embark::fuzz::FuzzInput;

namespace {

void DecodeControlPayload(const Message& msg) {
  if (msg.frames.empty()) return;
  const std::string payload = msg.FrameString(0);
  switch (msg.type()) {
    case MsgType::kRegister: {
      NodeInfo info;
      (void)DeserializeNodeInfo(payload, &info);
      break;
    }
    case MsgType::kNodeTable: {
      ClusterTable table;
      if (DeserializeTable(payload, &table).ok()) {
        ShardMap map;
        (void)ShardMap::Decode(table.shard_map, &map);
      }
      break;
    }
    case MsgType::kApp: {
      switch (msg.header.aux) {
        case kTrainClock: { ClockReport v; (void)DecodeMsg(payload, &v); break; }
        case kTrainMinClock: { MinClock v; (void)DecodeMsg(payload, &v); break; }
        case kTrainEpochDone: { EpochDone v; (void)DecodeMsg(payload, &v); break; }
        case kTrainEval: { EvalReport v; (void)DecodeMsg(payload, &v); break; }
        case kTrainCut: { CutRequest v; (void)DecodeMsg(payload, &v); break; }
        default: {
          InputPosition pos;
          (void)DecodePosition(payload, "fuzz", &pos);
          break;
        }
      }
      break;
    }
    default:
      break;
  }
}

// Reads one message (header, mode byte, frames) from `in`; false when its header is refused.
bool ReadMessage(FuzzInput& in, Message* msg, uint8_t* mode) {
  std::string raw = in.Bytes(sizeof(MsgHeader));
  raw.resize(sizeof(MsgHeader), '\0');
  *mode = in.Byte();
  if (*mode & 1) {
    MsgHeader fixed;
    std::memcpy(&fixed, raw.data(), sizeof(fixed));
    fixed.magic = kWireMagic;
    fixed.version = kWireVersion;
    std::memcpy(raw.data(), &fixed, sizeof(fixed));
  }
  if (!ParseHeader(raw.data(), raw.size(), &msg->header).ok()) return false;
  const MsgHeader& h = msg->header;
  msg->peer = static_cast<int>(h.sender % 64);
  for (uint32_t f = 0; f < h.num_frames; ++f) {
    size_t n;
    if (*mode & 2) {
      n = f == 0 && h.type != static_cast<uint16_t>(MsgType::kPullReply) ? size_t{h.num_keys} * 8
                                                                           : size_t{h.num_keys} * h.val_len * 4;
      if (n > in.remaining()) n = in.remaining();
    } else {
      n = in.U16();
    }
    const std::string bytes = in.Bytes(n);
    msg->frames.emplace_back(bytes.data(), bytes.size());
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MsgHeader header;
  (void)ParseHeader(data, size, &header);  // any size: only 64 bytes may be accepted
  FuzzInput in(data, size);
  // Up to 8 messages to one fresh server (so pulls can see rows earlier pushes made), and an
  // input's outcome depends on that input only. The first message's mode picks the options.
  std::unique_ptr<Server> server;
  for (int i = 0; i < 8 && in.remaining() > 0; ++i) {
    Message msg;
    uint8_t mode = 0;
    if (!ReadMessage(in, &msg, &mode)) return 0;
    DecodeControlPayload(msg);
    (void)ValidateDataMessage(msg, 0);
    // A shm-offer would open a segment by name: that is the shm_slot target's business.
    if (msg.type() == MsgType::kShmOffer) continue;
    if (!server) server = fuzz::MakeFuzzServer((mode >> 2) & 3);
    MsgHeader reply;
    std::vector<zmq::message_t> reply_frames;
    const Status st = server->Handle(msg, &reply, &reply_frames);
    if (!st.ok()) {
      FUZZ_CHECK(reply.type == static_cast<uint16_t>(MsgType::kError), "a refused request must get an error reply");
      FUZZ_CHECK(reply.request_id == msg.header.request_id, "the error reply must echo the request id");
    }
  }
  return 0;
}
