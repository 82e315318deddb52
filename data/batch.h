// Batch: a minibatch of examples in compressed sparse row (CSR) layout, as produced by the
// data readers and consumed by the models.
//
// Example e owns features [offsets[e], offsets[e+1]) of the parallel arrays keys/values/fields.
// A key is the 64-bit feature id after hashing (readers hash raw ids per field, so ids of
// different fields never collide). `fields` holds the field index of each feature (0 for
// formats without fields; ratings use field 0 = user, 1 = item).
//
// Thread-safety: a plain value; not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace embark {

struct Batch {
  std::vector<float> labels;       // one per example (rating, or 0/1 click)
  std::vector<uint32_t> offsets{0};  // size() + 1 entries
  std::vector<uint64_t> keys;      // one per feature occurrence
  std::vector<float> values;       // one per feature occurrence
  std::vector<uint16_t> fields;    // one per feature occurrence
  // One per example when the DataReader filled the batch (else empty): where the example's
  // line starts, as a byte offset into the reader's files taken as one stream. Checkpoints
  // record the lines read but not yet trained with these.
  std::vector<uint64_t> origins;
  // Streams (a DataReader on dir:// or kafka://) only. `stream_after`: the partitions or parts
  // whose events this batch read (skipped lines included), each with the start of the next
  // event after the batch; applied in batch order to the share's starting positions they give
  // what a checkpoint records once the batch is trained (stream_position.h). `event_keys` and
  // `event_numbers`, filled only when the reader is asked for event ids (--trained_log): per
  // example, its partition or part name and its Kafka offset or 1-based line number.
  std::map<std::string, uint64_t> stream_after;
  std::vector<std::string> event_keys;
  std::vector<uint64_t> event_numbers;

  size_t size() const { return labels.size(); }
  size_t num_features() const { return keys.size(); }
  bool empty() const { return labels.empty(); }

  void Clear() {
    labels.clear();
    offsets.assign(1, 0);
    keys.clear();
    values.clear();
    fields.clear();
    origins.clear();
    stream_after.clear();
    event_keys.clear();
    event_numbers.clear();
  }
  // Appends one feature to the example being built; call EndExample() after its last feature.
  void AddFeature(uint64_t key, float value, uint16_t field) {
    keys.push_back(key);
    values.push_back(value);
    fields.push_back(field);
  }
  void EndExample(float label) {
    labels.push_back(label);
    offsets.push_back(static_cast<uint32_t>(keys.size()));
  }
  // Removes the example ended last (its features and label; origins and event ids are pushed
  // by the caller after EndExample, so they are the caller's to remove).
  void DropLastExample() {
    labels.pop_back();
    offsets.pop_back();
    keys.resize(offsets.back());
    values.resize(offsets.back());
    fields.resize(offsets.back());
  }
};

}  // namespace embark
