// EpochCache: one worker's share of the training data, parsed once and kept in memory with
// every feature already resolved to its row in the worker's RowReplica (--sync=local).
//
// Before its first epoch trains, a worker reads and parses its share and adds each batch here
// (Trainer::LoadShare); then every epoch, the first included, trains from memory: no parsing,
// no shuffle buffer and no hashing of keys, only the model's arithmetic and the optimizer.
// Each epoch visits every cached example exactly once, in a fresh order drawn from the epoch's
// seed (a full shuffle, not a window). An epoch that started from a checkpoint's remainder, or
// that needs mid-epoch checkpoint positions (byte offsets into the files), streams instead.
//
// Memory: 18 bytes per feature (key, value, field, replica row) plus 16 per example (label,
// offset, place in the order); Add refuses past `max_bytes`: the trainer then trains the part
// held, reads the rest of the share from the files, and reads the files every later epoch.
//
// Thread-safety: not synchronised; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "data/batch.h"

namespace embark {

class EpochCache {
 public:
  explicit EpochCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends the examples of `batch`; row[i] is the replica row of feature i (-1: ignored).
  // Returns false (and keeps nothing more) once the cache would exceed max_bytes.
  bool Add(const Batch& batch, const std::vector<int32_t>& row);
  size_t examples() const { return labels_.size(); }
  size_t bytes() const;

  // Starts an epoch over every cached example in an order drawn from `seed`.
  void Shuffle(uint64_t seed);
  // The replica rows and fields of every feature of the next `examples` examples of the
  // epoch's order (what the coming batches will read), without moving on.
  void Peek(size_t examples, std::vector<int32_t>* rows, std::vector<uint16_t>* fields) const;
  // The next up to `batch_size` examples of the epoch's order; false when the epoch is over.
  bool Next(size_t batch_size, Batch* out, std::vector<int32_t>* row);
  // Calls fn(label, keys, fields, rows, n) for every cached example in the order added (n
  // features, their keys, fields and replica rows).
  template <typename Fn>
  void ForEachExample(Fn&& fn) const {
    for (size_t e = 0; e < labels_.size(); ++e) {
      const size_t begin = offsets_[e];
      fn(labels_[e], &keys_[begin], &fields_[begin], &rows_[begin], static_cast<size_t>(offsets_[e + 1] - begin));
    }
  }

 private:
  size_t max_bytes_;
  std::vector<float> labels_;
  std::vector<uint64_t> offsets_{0};
  std::vector<uint64_t> keys_;
  std::vector<float> values_;
  std::vector<uint16_t> fields_;
  std::vector<int32_t> rows_;
  std::vector<uint32_t> order_;
  size_t cursor_ = 0;
};

}  // namespace embark
