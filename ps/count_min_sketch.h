// CountMinSketch: approximate occurrence counts of 64-bit keys in fixed memory, for feature
// admission (a key gets a row after it was pushed --min_count times).
//
// kDepth rows of `width` one-byte counters; a key maps to one counter per row (independent
// hashes of the key) and its estimate is the smallest of its counters. Updates are
// conservative: only the counters equal to that minimum are raised, so an estimate is never
// below the key's true count (up to the kMaxCount ceiling, where counters saturate) and is
// above it only by what colliding keys added to every one of its counters. With N counted
// occurrences in all, the plain sketch over-counts a key by at most e*N/width with
// probability >= 1 - e^-kDepth; conservative updates only lower that. There is no decrement:
// admitted keys stop being counted (they have rows), so the sketch only ever holds the first
// min_count pushes of each key.
//
// Thread-safety: not thread-safe; owned by one sub-shard's table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embark {

class CountMinSketch {
 public:
  static constexpr int kDepth = 4;
  static constexpr uint32_t kMaxCount = 255;

  // `width` counters per row, rounded down to a power of two (at least 16). `salt` separates
  // the hashes of independent sketches (per table), so keys that collide in one do not collide
  // in another.
  CountMinSketch(size_t width, uint64_t salt);
  CountMinSketch(const CountMinSketch&) = delete;
  CountMinSketch& operator=(const CountMinSketch&) = delete;

  // Counts one more occurrence of `key` and returns its new estimate (<= kMaxCount).
  uint32_t Add(uint64_t key);
  // The current estimate of `key`'s count.
  uint32_t Estimate(uint64_t key) const;

  size_t width() const { return width_; }
  size_t MemoryBytes() const { return counters_.size(); }

 private:
  // Index into counters_ of `key`'s counter in each row.
  void Positions(uint64_t key, size_t pos[kDepth]) const;

  size_t width_ = 0;
  int shift_ = 64;  // 64 - log2(width_)
  uint64_t salt_;
  std::vector<uint8_t> counters_;  // row r at [r * width_, (r + 1) * width_)
};

}  // namespace embark
