#include "data/shuffle_buffer.h"

#include <utility>

#include "core/hash.h"

namespace embark {

ShuffleBuffer::ShuffleBuffer(size_t capacity, uint64_t seed) : capacity_(capacity) {
  Reset(seed);
}

void ShuffleBuffer::Reset(uint64_t seed) {
  state_ = Mix64(seed);
  size_ = 0;
}

size_t ShuffleBuffer::Uniform(size_t n) {
  state_ += 0x9e3779b97f4a7c15ULL;
  const uint64_t r = Mix64(state_);
  // Multiply-shift maps r to [0, n); the bias (n / 2^64) is negligible for buffer sizes.
  return static_cast<size_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

size_t ShuffleBuffer::Peek(int ahead, size_t n) const {
  const uint64_t r = Mix64(state_ + ahead * 0x9e3779b97f4a7c15ULL);
  return static_cast<size_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

void ShuffleBuffer::Store(const Batch& src, size_t e, Slot* slot) {
  const uint32_t b = src.offsets[e];
  const uint32_t end = src.offsets[e + 1];
  slot->label = src.labels[e];
  slot->has_origin = src.origins.size() == src.labels.size();
  slot->origin = slot->has_origin ? src.origins[e] : 0;
  slot->features.resize(end - b);
  Feature* f = slot->features.data();
  for (uint32_t i = b; i < end; ++i, ++f) *f = Feature{src.keys[i], src.values[i], src.fields[i]};
}

void ShuffleBuffer::Emit(const Slot& slot, Batch* out) {
  const size_t n = slot.features.size(), at = out->keys.size();
  out->keys.resize(at + n);
  out->values.resize(at + n);
  out->fields.resize(at + n);
  for (size_t i = 0; i < n; ++i) {
    const Feature& f = slot.features[i];
    out->keys[at + i] = f.key;
    out->values[at + i] = f.value;
    out->fields[at + i] = f.field;
  }
  if (slot.has_origin) out->origins.push_back(slot.origin);
  out->EndExample(slot.label);
}

void ShuffleBuffer::HeldOrigins(std::vector<uint64_t>* out) const {
  for (size_t i = 0; i < size_; ++i) out->push_back(slots_[i].origin);
}

bool ShuffleBuffer::Add(const Batch& src, size_t e, Batch* out) {
  if (capacity_ == 0) {
    const uint32_t b = src.offsets[e];
    const uint32_t end = src.offsets[e + 1];
    out->keys.insert(out->keys.end(), src.keys.begin() + b, src.keys.begin() + end);
    out->values.insert(out->values.end(), src.values.begin() + b, src.values.begin() + end);
    out->fields.insert(out->fields.end(), src.fields.begin() + b, src.fields.begin() + end);
    if (src.origins.size() == src.labels.size()) out->origins.push_back(src.origins[e]);
    out->EndExample(src.labels[e]);
    return true;
  }
  if (size_ < capacity_) {
    if (slots_.size() == size_) slots_.emplace_back();
    Store(src, e, &slots_[size_++]);
    return false;
  }
  Slot& victim = slots_[Uniform(size_)];
  // The buffer is far larger than the cache and every victim is a random slot, so fetch the
  // next two victims early (the generator is counter-based: peeking does not advance it):
  // the header of the one after next, and the features of the next, whose header was
  // fetched by the previous call.
  __builtin_prefetch(&slots_[Peek(2, size_)]);
  const Slot& next = slots_[Peek(1, size_)];
  const char* data = reinterpret_cast<const char*>(next.features.data());
  const size_t bytes = next.features.size() * sizeof(Feature);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(data + off);
  Emit(victim, out);
  Store(src, e, &victim);
  return true;
}

bool ShuffleBuffer::PopRandom(Batch* out) {
  if (size_ == 0) return false;
  const size_t j = Uniform(size_);
  Emit(slots_[j], out);
  // Move the last held slot into the hole; swapping keeps both slots' memory for reuse.
  std::swap(slots_[j], slots_[size_ - 1]);
  --size_;
  return true;
}

}  // namespace embark
