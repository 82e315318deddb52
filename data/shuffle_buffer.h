// ShuffleBuffer: a bounded random-order buffer of examples, for shuffling a stream that is too
// large to hold in memory.
//
// It holds up to `capacity` examples. While it is filling, examples are only stored; once
// full, every new example makes it emit a uniformly chosen held example and take that slot
// (the scheme of TensorFlow's shuffle buffer). At the end of the stream PopRandom() drains the
// rest in random order. An example therefore moves at most ~capacity positions backwards
// but arbitrarily far forwards; the multiset of examples is preserved exactly. Capacity 0
// passes examples straight through. The order depends only on the seed and the input order.
//
// Memory: each slot keeps its vectors' capacity between uses, so once every slot has held a
// large example there is no allocation per example.
//
// Thread-safety: none; owned by one thread (the reader thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/batch.h"

namespace embark {

class ShuffleBuffer {
 public:
  ShuffleBuffer(size_t capacity, uint64_t seed);
  ShuffleBuffer(const ShuffleBuffer&) = delete;
  ShuffleBuffer& operator=(const ShuffleBuffer&) = delete;

  // Drops the held examples (keeping slot memory) and restarts the random sequence.
  void Reset(uint64_t seed);

  // Appends the Batch::origins of the held examples to *out (for checkpoints).
  void HeldOrigins(std::vector<uint64_t>* out) const;

  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }

  // Offers example `e` of `src`. Returns true if an example was appended to *out (always when
  // the buffer is full or has capacity 0), false if it was only stored.
  bool Add(const Batch& src, size_t e, Batch* out);

  // Appends a random held example to *out and removes it; false when the buffer is empty.
  bool PopRandom(Batch* out);

 private:
  // One feature of a held example. An example's features live in one array of these (not
  // in three parallel arrays): emitting a random slot then touches one cold allocation, not
  // three, which is most of what the shuffle costs once the buffer outgrows the cache.
  struct Feature {
    uint64_t key;
    float value;
    uint16_t field;
  };
  struct Slot {
    float label = 0.0f;
    bool has_origin = false;  // the source batch carried Batch::origins
    uint64_t origin = 0;
    std::vector<Feature> features;
  };

  // Uniform in [0, n), n > 0, from a counter-based generator (splitmix64), so the sequence is
  // the same on every platform and standard library.
  size_t Uniform(size_t n);
  // The value Uniform(n) will return `ahead` calls from now (1 = the next call), without
  // drawing it.
  size_t Peek(int ahead, size_t n) const;
  static void Store(const Batch& src, size_t e, Slot* slot);
  static void Emit(const Slot& slot, Batch* out);

  size_t capacity_;
  uint64_t state_ = 0;
  size_t size_ = 0;
  std::vector<Slot> slots_;  // slots_[0, size_) are held; grows up to capacity_
};

}  // namespace embark
