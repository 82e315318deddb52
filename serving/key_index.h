// KeyIndex: an immutable map from a 64-bit feature key to its row number in a table, built
// once when a model is loaded and then read by every serving thread.
//
// A bundle stores each table's keys sorted, so a lookup could binary-search them; at a million
// keys that is ~20 dependent cache misses per feature. This index is an open-addressing table
// with linear probing at load factor <= 0.5, so a lookup is usually one or two probes of one
// cache line. Keys are arbitrary 64-bit values (0 included); an empty slot is marked by its row
// number, not by a reserved key.
//
// Thread-safety: Build once, then Find is const and safe from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embark {

class KeyIndex {
 public:
  static constexpr uint32_t kNotFound = 0xffffffffu;

  KeyIndex() = default;
  // Indexes keys[0..n): row r holds keys[r]. A key repeated in the input maps to its first row.
  // n must be below kNotFound.
  void Build(const uint64_t* keys, size_t n);

  // The row of `key`, or kNotFound.
  uint32_t Find(uint64_t key) const {
    if (slots_.empty()) return kNotFound;
    for (size_t i = Slot(key);; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.row == kNotFound) return kNotFound;
      if (e.key == key) return e.row;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Entry {
    uint64_t key;
    uint32_t row;
  };
  size_t Slot(uint64_t key) const;

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace embark
