#include "ps/count_min_sketch.h"

#include <algorithm>

#include "core/hash.h"

namespace embark {

CountMinSketch::CountMinSketch(size_t width, uint64_t salt) : salt_(salt) {
  width_ = 16;
  shift_ = 60;
  while (width_ * 2 <= width) {
    width_ *= 2;
    --shift_;
  }
  counters_.assign(width_ * kDepth, 0);
}

void CountMinSketch::Positions(uint64_t key, size_t pos[kDepth]) const {
  // Double hashing (h1 + r*h2), top bits: kDepth practically independent positions from two
  // hashes. h2 is odd so the rows never coincide.
  const uint64_t h1 = Mix64(key ^ salt_);
  const uint64_t h2 = Mix64(h1 ^ 0x3c6ef372fe94f82bULL) | 1;
  for (int r = 0; r < kDepth; ++r) {
    pos[r] = static_cast<size_t>(r) * width_ + static_cast<size_t>((h1 + static_cast<uint64_t>(r) * h2) >> shift_);
  }
}

uint32_t CountMinSketch::Estimate(uint64_t key) const {
  size_t pos[kDepth];
  Positions(key, pos);
  uint32_t m = kMaxCount;
  for (int r = 0; r < kDepth; ++r) m = std::min<uint32_t>(m, counters_[pos[r]]);
  return m;
}

uint32_t CountMinSketch::Add(uint64_t key) {
  size_t pos[kDepth];
  Positions(key, pos);
  uint32_t m = kMaxCount;
  for (int r = 0; r < kDepth; ++r) m = std::min<uint32_t>(m, counters_[pos[r]]);
  const uint32_t next = std::min(m + 1, kMaxCount);
  // Conservative update: a counter already above the new estimate holds other keys' counts
  // and needs no raise.
  for (int r = 0; r < kDepth; ++r) counters_[pos[r]] = static_cast<uint8_t>(std::max<uint32_t>(counters_[pos[r]], next));
  return next;
}

}  // namespace embark
