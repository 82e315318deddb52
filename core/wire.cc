#include "core/wire.h"

#include <sstream>

namespace embark {

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kPull: return "pull";
    case MsgType::kPullReply: return "pull-reply";
    case MsgType::kPush: return "push";
    case MsgType::kPushAck: return "push-ack";
    case MsgType::kPushPull: return "push-pull";
    case MsgType::kPullRows: return "pull-rows";
    case MsgType::kPushDelta: return "push-delta";
    case MsgType::kError: return "error";
    case MsgType::kShmOffer: return "shm-offer";
    case MsgType::kShmAccept: return "shm-accept";
    case MsgType::kRegister: return "register";
    case MsgType::kNodeTable: return "node-table";
    case MsgType::kHeartbeat: return "heartbeat";
    case MsgType::kAbort: return "abort";
    case MsgType::kShutdown: return "shutdown";
    case MsgType::kDone: return "done";
    case MsgType::kBarrier: return "barrier";
    case MsgType::kBarrierRelease: return "barrier-release";
    case MsgType::kApp: return "app";
  }
  return "unknown";
}

static bool KnownType(uint16_t t) {
  switch (static_cast<MsgType>(t)) {
    case MsgType::kPull: case MsgType::kPullReply: case MsgType::kPush: case MsgType::kPushAck:
    case MsgType::kPushPull: case MsgType::kError: case MsgType::kShmOffer: case MsgType::kShmAccept:
    case MsgType::kPullRows: case MsgType::kPushDelta: case MsgType::kRegister:
    case MsgType::kNodeTable: case MsgType::kHeartbeat: case MsgType::kAbort:
    case MsgType::kShutdown: case MsgType::kDone: case MsgType::kBarrier:
    case MsgType::kBarrierRelease: case MsgType::kApp:
      return true;
  }
  return false;
}

MsgHeader MakeHeader(MsgType type, int sender, uint64_t request_id) {
  MsgHeader h;
  h.type = static_cast<uint16_t>(type);
  h.sender = static_cast<uint32_t>(sender);
  h.request_id = request_id;
  return h;
}

Status ParseHeader(const void* data, size_t size, MsgHeader* out) {
  if (size != sizeof(MsgHeader)) {
    std::ostringstream m;
    m << "header frame is " << size << " bytes, expected " << sizeof(MsgHeader);
    return Status::Corruption(m.str());
  }
  std::memcpy(out, data, sizeof(MsgHeader));
  if (out->magic != kWireMagic) return Status::Corruption("bad magic number in header (not an embark message)");
  if (out->version != kWireVersion) {
    std::ostringstream m;
    m << "wire version " << out->version << " but this build speaks version " << kWireVersion;
    return Status::InvalidArgument(m.str());
  }
  if (!KnownType(out->type)) return Status::InvalidArgument("unknown message type " + std::to_string(out->type));
  if (out->num_frames > kMaxFrames) return Status::InvalidArgument("too many frames: " + std::to_string(out->num_frames));
  if (out->num_keys > kMaxKeysPerMessage) return Status::InvalidArgument("too many keys: " + std::to_string(out->num_keys));
  if (out->val_len > kMaxValLen) return Status::InvalidArgument("row width too large: " + std::to_string(out->val_len));
  return Status::OK();
}

static Status CheckFrame(const Message& msg, size_t index, uint64_t expected_bytes, const char* what) {
  uint64_t got = msg.frames[index].size();
  if (got != expected_bytes) {
    std::ostringstream m;
    m << MsgTypeName(msg.type()) << ": " << what << " frame is " << got << " bytes, expected "
      << expected_bytes << " (num_keys " << msg.header.num_keys << ", val_len " << msg.header.val_len << ")";
    return Status::InvalidArgument(m.str());
  }
  return Status::OK();
}

Status ValidateDataMessage(const Message& msg, uint32_t expected_val_len) {
  const MsgHeader& h = msg.header;
  size_t want_frames = 0;
  switch (msg.type()) {
    case MsgType::kPull: case MsgType::kPullRows: want_frames = 1; break;
    case MsgType::kPush: case MsgType::kPushPull: case MsgType::kPushDelta: want_frames = 2; break;
    case MsgType::kPullReply: want_frames = 1; break;
    case MsgType::kPushAck: want_frames = 0; break;
    default: return Status::InvalidArgument(std::string("not a data message: ") + MsgTypeName(msg.type()));
  }
  if (msg.frames.size() != want_frames || h.num_frames != want_frames) {
    std::ostringstream m;
    m << MsgTypeName(msg.type()) << ": " << msg.frames.size() << " frames (header says "
      << h.num_frames << "), expected " << want_frames;
    return Status::InvalidArgument(m.str());
  }
  if (expected_val_len != 0 && h.val_len != expected_val_len) {
    std::ostringstream m;
    m << MsgTypeName(msg.type()) << ": row width " << h.val_len << " but table " << h.table
      << " has rows of " << expected_val_len << " floats";
    return Status::InvalidArgument(m.str());
  }
  const uint64_t keys_bytes = uint64_t{h.num_keys} * 8;
  const uint64_t vals_bytes = uint64_t{h.num_keys} * h.val_len * 4;
  switch (msg.type()) {
    case MsgType::kPull: case MsgType::kPullRows: return CheckFrame(msg, 0, keys_bytes, "keys");
    case MsgType::kPush: case MsgType::kPushPull: case MsgType::kPushDelta:
      EMBARK_RETURN_IF_ERROR(CheckFrame(msg, 0, keys_bytes, "keys"));
      return CheckFrame(msg, 1, vals_bytes, "values");
    case MsgType::kPullReply: return CheckFrame(msg, 0, vals_bytes, "values");
    default: return Status::OK();
  }
}

}  // namespace embark
