#include "core/slot_ring.h"

namespace embark {

SlotRing::SlotRing(uint64_t capacity) : capacity_(capacity / kAlign * kAlign) {}

bool SlotRing::Reserve(uint64_t bytes, uint64_t* offset) {
  bytes = bytes == 0 ? kAlign : RoundUp(bytes);
  if (bytes > capacity_ || bytes == 0) return false;  // 0: RoundUp overflowed
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t at;
  if (slots_.empty()) {
    at = 0;  // an empty ring starts over at 0: the largest contiguous room
  } else {
    const uint64_t tail = slots_.front().offset;  // start of the oldest slot still held
    if (head_ > tail) {
      // Used space is [tail, head_): room after head_, else at the start before tail.
      if (capacity_ - head_ >= bytes) {
        at = head_;
      } else if (tail >= bytes) {
        at = 0;
      } else {
        return false;
      }
    } else {
      // Wrapped: used space is [tail, end) and [0, head_); the room is [head_, tail).
      if (tail - head_ < bytes) return false;
      at = head_;
    }
  }
  slots_.push_back({at, bytes, false});
  head_ = at + bytes;
  *offset = at;
  return true;
}

bool SlotRing::Release(uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  bool found = false;
  for (Slot& s : slots_) {
    if (s.offset == offset && !s.released) {
      s.released = true;
      found = true;
      break;
    }
  }
  while (!slots_.empty() && slots_.front().released) slots_.pop_front();
  if (slots_.empty()) head_ = 0;
  return found;
}

size_t SlotRing::slots_in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const Slot& s : slots_) n += s.released ? 0 : 1;
  return n;
}

}  // namespace embark
