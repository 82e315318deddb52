// ShmChannel: a worker's shared-memory path to one parameter server on the same host.
//
// It owns the segment the worker created for that server and the ring of request slots in
// it. Life cycle: Create (the segment exists, the offer is sent) -> the server's kShmAccept
// arrives -> Accept() (the name is unlinked, requests may use slots) or Refuse() (the name is
// unlinked, the channel stays off and requests keep using frames). Until ready() every
// request travels as frames, so nothing waits for the handshake.
//
// Thread-safety: ready/Reserve/Release/at may be called from any thread; Accept/Refuse from
// the receiving thread. The object lives as long as the KVClient (slots may still be named by
// requests in flight).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/shm_segment.h"
#include "core/slot_ring.h"
#include "core/status.h"

namespace embark {

class ShmChannel {
 public:
  static Status Create(const std::string& name, uint64_t payload_bytes, std::unique_ptr<ShmChannel>* out);
  ShmChannel(const ShmChannel&) = delete;
  ShmChannel& operator=(const ShmChannel&) = delete;

  const ShmSegment& segment() const { return *segment_; }
  bool ready() const { return state_.load(std::memory_order_acquire) == kAccepted; }
  void Accept();
  void Refuse();

  // A slot of `bytes`, or false when the ring has no room (the caller sends frames instead).
  bool Reserve(uint64_t bytes, uint64_t* offset) { return ring_.Reserve(bytes, offset); }
  void Release(uint64_t offset) { (void)ring_.Release(offset); }
  uint8_t* at(uint64_t offset) const { return segment_->payload() + offset; }
  uint64_t capacity() const { return ring_.capacity(); }

 private:
  enum State { kOffered, kAccepted, kRefused };
  explicit ShmChannel(std::unique_ptr<ShmSegment> segment)
      : segment_(std::move(segment)), ring_(segment_->payload_bytes()) {}

  std::unique_ptr<ShmSegment> segment_;
  SlotRing ring_;
  std::atomic<int> state_{kOffered};
};

}  // namespace embark
