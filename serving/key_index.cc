#include "serving/key_index.h"

#include "core/hash.h"

namespace embark {

size_t KeyIndex::Slot(uint64_t key) const {
  // Bundle keys are already hashes, but ids such as sequential integers written by other tools
  // need not be; mixing costs a few cycles and keeps probe chains short either way.
  return static_cast<size_t>(Mix64(key)) & mask_;
}

void KeyIndex::Build(const uint64_t* keys, size_t n) {
  size_t capacity = 16;
  while (capacity < 2 * n) capacity <<= 1;
  slots_.assign(capacity, Entry{0, kNotFound});
  mask_ = capacity - 1;
  size_ = 0;
  for (size_t r = 0; r < n; ++r) {
    size_t i = Slot(keys[r]);
    while (slots_[i].row != kNotFound && slots_[i].key != keys[r]) i = (i + 1) & mask_;
    if (slots_[i].row != kNotFound) continue;  // duplicate key: keep the first row
    slots_[i] = Entry{keys[r], static_cast<uint32_t>(r)};
    ++size_;
  }
}

}  // namespace embark
