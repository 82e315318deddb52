#include "worker/epoch_cache.h"

#include <algorithm>
#include <numeric>

#include "core/hash.h"

namespace embark {

size_t EpochCache::bytes() const {
  return keys_.size() * (sizeof(uint64_t) + sizeof(float) + sizeof(uint16_t) + sizeof(int32_t)) +
         labels_.size() * (sizeof(float) + sizeof(uint64_t) + sizeof(uint32_t));
}

bool EpochCache::Add(const Batch& batch, const std::vector<int32_t>& row) {
  const size_t add = batch.num_features() * 18 + batch.size() * 16;
  if (bytes() + add > max_bytes_) return false;
  labels_.insert(labels_.end(), batch.labels.begin(), batch.labels.end());
  const uint64_t base = keys_.size();
  for (size_t e = 1; e <= batch.size(); ++e) offsets_.push_back(base + batch.offsets[e]);
  keys_.insert(keys_.end(), batch.keys.begin(), batch.keys.end());
  values_.insert(values_.end(), batch.values.begin(), batch.values.end());
  fields_.insert(fields_.end(), batch.fields.begin(), batch.fields.end());
  rows_.insert(rows_.end(), row.begin(), row.end());
  return true;
}

void EpochCache::Shuffle(uint64_t seed) {
  order_.resize(labels_.size());
  std::iota(order_.begin(), order_.end(), 0u);
  // Fisher-Yates with a counter-based generator: the same seed gives the same order anywhere.
  for (size_t i = order_.size(); i > 1; --i) {
    const uint64_t r = Mix64(seed ^ Mix64(i));
    const size_t j = static_cast<size_t>((static_cast<unsigned __int128>(r) * i) >> 64);
    std::swap(order_[i - 1], order_[j]);
  }
  cursor_ = 0;
}

void EpochCache::Peek(size_t examples, std::vector<int32_t>* rows, std::vector<uint16_t>* fields) const {
  rows->clear();
  fields->clear();
  const size_t end = std::min(order_.size(), cursor_ + examples);
  for (size_t c = cursor_; c < end; ++c) {
    const uint32_t e = order_[c];
    rows->insert(rows->end(), rows_.begin() + offsets_[e], rows_.begin() + offsets_[e + 1]);
    fields->insert(fields->end(), fields_.begin() + offsets_[e], fields_.begin() + offsets_[e + 1]);
  }
}

bool EpochCache::Next(size_t batch_size, Batch* out, std::vector<int32_t>* row) {
  out->Clear();
  row->clear();
  if (cursor_ >= order_.size()) return false;
  const size_t end = std::min(order_.size(), cursor_ + batch_size);
  size_t features = 0;
  for (size_t c = cursor_; c < end; ++c) features += offsets_[order_[c] + 1] - offsets_[order_[c]];
  out->keys.resize(features);
  out->values.resize(features);
  out->fields.resize(features);
  row->resize(features);
  size_t at = 0;
  // The epoch's order visits the cache at random: without prefetching each example costs two
  // dependent cache misses (its offset, then its features). Fetch the offsets of the example
  // kPrefetchAhead places ahead and the features of the one half as far ahead (whose offsets
  // the previous iterations fetched).
  constexpr size_t kPrefetchAhead = 16;
  for (; cursor_ < end; ++cursor_) {
    if (cursor_ + kPrefetchAhead < order_.size()) __builtin_prefetch(&offsets_[order_[cursor_ + kPrefetchAhead]]);
    if (cursor_ + kPrefetchAhead / 2 < order_.size()) {
      const uint32_t ahead = order_[cursor_ + kPrefetchAhead / 2];
      const size_t f = offsets_[ahead];
      __builtin_prefetch(&keys_[f]);
      __builtin_prefetch(&values_[f]);
      __builtin_prefetch(&fields_[f]);
      __builtin_prefetch(&rows_[f]);
      __builtin_prefetch(&labels_[ahead]);
    }
    const uint32_t e = order_[cursor_];
    const size_t begin = offsets_[e], n = offsets_[e + 1] - begin;
    // Examples hold a few features (a rating two): element copies, since a library call per
    // array and example (what copy_n becomes) costs more than the copy.
    for (size_t i = 0; i < n; ++i) {
      out->keys[at + i] = keys_[begin + i];
      out->values[at + i] = values_[begin + i];
      out->fields[at + i] = fields_[begin + i];
      (*row)[at + i] = rows_[begin + i];
    }
    at += n;
    out->labels.push_back(labels_[e]);
    out->offsets.push_back(static_cast<uint32_t>(at));
  }
  return true;
}

}  // namespace embark
