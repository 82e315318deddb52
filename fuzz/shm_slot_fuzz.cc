// Fuzz target: the server's shared-memory slot reader (ps/server.cc ViewSharedMemory and the
// request it serves in place, core/shm_slot.h's layout). A worker controls both the request
// header and every byte of its segment, so both come from the input.
//
// Input: a mode byte, 2-byte length + bytes written at the start of the segment's payload,
// then up to 8 requests of 64 header bytes and a flags byte each. Magic and version are always
// this build's and the sender is the segment's owner; flags bit 0 sets shm_bytes to the size
// the header's layout needs and bit 1 rounds shm_offset into the segment (so most requests get
// past the slot checks); the mode byte picks the server's options.
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "core/shm_segment.h"
#include "core/shm_slot.h"
#include "core/wire.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_server.h"

using namespace embark;
using embark::fuzz::FuzzInput;

namespace {

constexpr int kWorker = 7;
constexpr uint64_t kToken = 0x5eed;
constexpr uint64_t kPayload = 64 << 10;

// One segment per process, kept linked (every input's fresh server opens it by name); its
// destructor at exit removes the name (a crashed run leaves it to RemoveStaleShmSegments).
ShmSegment& Segment() {
  static const std::unique_ptr<ShmSegment> segment = [] {
    std::unique_ptr<ShmSegment> s;
    const Status st = ShmSegment::Create(ShmSegmentName(static_cast<int>(getpid()), kWorker, 0), kPayload, kToken, &s);
    FUZZ_CHECK(st.ok(), "cannot create the shared-memory segment");
    return s;
  }();
  return *segment;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  ShmSegment& segment = Segment();
  std::memset(segment.payload(), 0, segment.payload_bytes());
  const std::string contents = in.Chunk();
  std::memcpy(segment.payload(), contents.data(), std::min<size_t>(contents.size(), segment.payload_bytes()));

  std::unique_ptr<Server> server = fuzz::MakeFuzzServer(mode & 3);
  Message offer;
  offer.header = MakeHeader(MsgType::kShmOffer, kWorker);
  offer.header.aux = segment.token();
  offer.header.shm_bytes = segment.total_bytes();
  offer.frames.emplace_back(segment.name().data(), segment.name().size());
  offer.header.num_frames = 1;
  offer.peer = kWorker;
  MsgHeader reply;
  std::vector<zmq::message_t> frames;
  FUZZ_CHECK(server->Handle(offer, &reply, &frames).ok(), "the server refused the segment offer");

  for (int i = 0; i < 8 && in.remaining() > 0; ++i) {
    std::string raw = in.Bytes(sizeof(MsgHeader));
    raw.resize(sizeof(MsgHeader), '\0');
    const uint8_t flags = in.Byte();
    Message request;
    std::memcpy(&request.header, raw.data(), sizeof(MsgHeader));
    MsgHeader& h = request.header;
    h.magic = kWireMagic;
    h.version = kWireVersion;
    h.sender = kWorker;
    request.peer = kWorker;
    if (!ParseHeader(&h, sizeof(h), &h).ok()) continue;
    if (h.type == static_cast<uint16_t>(MsgType::kShmOffer)) continue;
    if (flags & 1) h.shm_bytes = ShmSlotLayout::For(static_cast<MsgType>(h.type), h.num_keys, h.val_len).bytes;
    if (flags & 2) h.shm_offset = (h.shm_offset % segment.payload_bytes()) / SlotRing::kAlign * SlotRing::kAlign;
    if (flags & 4) h.num_frames = 0;
    const Status st = server->Handle(request, &reply, &frames);
    if (st.ok() && h.shm_bytes != 0 && reply.type == static_cast<uint16_t>(MsgType::kPullReply)) {
      // The rows the server wrote must lie inside the slot the worker named.
      FUZZ_CHECK(reply.shm_offset >= h.shm_offset && reply.shm_offset + reply.shm_bytes <= h.shm_offset + h.shm_bytes,
                 "the pull-reply's rows lie outside the request's slot");
    }
  }
  return 0;
}
