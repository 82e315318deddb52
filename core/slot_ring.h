// SlotRing: hands out byte ranges ("slots") of a fixed-size region in allocation order, as a
// ring buffer: a new slot starts where the newest one ends, or at the start of the region when
// the end has no room left (the unused tail is skipped until the ring wraps past it again).
//
// A worker reserves one slot per request to a same-host server and releases it when the reply
// arrives. Replies may come back in any order, so a slot may be released before older ones;
// its space becomes reusable once every older slot is released too. That keeps the
// bookkeeping a queue and reuse strictly in order, which is what a request stream needs.
//
// Reserve never waits: when there is no room (the ring is full, or the payload is larger
// than the whole region) it returns false and the caller sends the payload another way. So a
// slot that is never released (its server died) costs space, never a hang.
//
// Offsets and lengths are multiples of kAlign (64 bytes, a cache line), so arrays in a slot
// are aligned for vector loads and two slots never share a cache line.
//
// Thread-safety: every method may be called from any thread (one internal mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

namespace embark {

class SlotRing {
 public:
  static constexpr uint64_t kAlign = 64;

  // `capacity` is rounded down to a multiple of kAlign.
  explicit SlotRing(uint64_t capacity);
  SlotRing(const SlotRing&) = delete;
  SlotRing& operator=(const SlotRing&) = delete;

  // Reserves `bytes` (rounded up to kAlign; 0 counts as kAlign) and sets *offset; false if
  // there is no contiguous room for it now.
  bool Reserve(uint64_t bytes, uint64_t* offset);
  // Releases the slot that starts at `offset`; false if no reserved slot starts there.
  bool Release(uint64_t offset);

  uint64_t capacity() const { return capacity_; }
  size_t slots_in_use() const;

  static uint64_t RoundUp(uint64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

 private:
  struct Slot {
    uint64_t offset;
    uint64_t bytes;
    bool released;
  };
  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::deque<Slot> slots_;  // reserved slots, oldest first (released ones wait for older ones)
  uint64_t head_ = 0;       // end of the newest slot: where the next one would start
};

}  // namespace embark
