// SparseTable: one server sub-shard's store of the rows of one sparse table (embeddings, LR/FM
// weights), keyed by the full 64-bit feature key.
//
// Layout, chosen for the per-key hot path (pull/push of tens of millions of keys per second):
//  * Index: open addressing with linear probing over a power-of-two array of {key, row
//    pointer} slots. Emptiness is marked by a null row pointer, never by a reserved key, so
//    every uint64 (including 0 and UINT64_MAX) is a valid key. Keys are compared in full: there
//    are no hash collisions between keys, only probe sequences. The load factor stays <= 5/8;
//    growing doubles the slot array and re-inserts the slots only (rows do not move).
//  * Rows: an arena of fixed-size chunks (a power of two rows each, ~4 MiB). A row is
//    [weights (dim) | optimizer state (Optimizer::StateFloats(dim))], row_floats() floats
//    contiguous. Row pointers are stable for the table's lifetime: growing the index never
//    copies or reallocates rows, so a pointer returned by FindOrCreate stays valid while later
//    keys are inserted.
//  * A new row is created on first touch (pull, push or assign): weights from InitRowWeights
//    (a function of seed, table id, key and column only, so independent of placement and
//    insertion order), then Optimizer::InitState.
// Rows are never erased, except in bounded mode.
//
// Bounded mode (a BoundedMemoryOptions with enabled(); policy in ps/bounded_memory.h): every
// row carries one more float after its optimizer state, the step of its last push (the
// table's step_, set by the server); the server uses PullOrInit (no row is created) and
// PushOrAdmit (a new key gets a row only when its admission sketch says so). Evict* erase
// rows: the index uses backward-shift deletion (no tombstones, so probe runs stay as short as
// if the row had never been there) and a freed row goes on a free list that the next new row
// reuses, so the arena never grows beyond the most rows held at once. Erasing invalidates row
// pointers: callers holding them (the server's key-set cache) must drop them.
//
// Thread-safety: NOT thread-safe; one owner thread. The server runs one thread per sub-shard
// and each sub-shard owns its tables exclusively, so no locking is needed. Const methods are
// safe to call concurrently only while no thread calls a non-const method.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/hash.h"
#include "ps/bounded_memory.h"
#include "ps/count_min_sketch.h"
#include "ps/optimizer.h"
#include "ps/table_config.h"

namespace embark {

class SparseTable {
 public:
  // `cfg.dim` floats of weights per row, optimizer and init from `cfg`; `seed` is the job seed
  // fed to InitRowWeights. `bounded` (may be null) with enabled() turns on bounded mode; the
  // admission sketch then gets bounded->sketch_bytes / sub_shards bytes.
  SparseTable(const TableConfig& cfg, uint64_t seed, const BoundedMemoryOptions* bounded = nullptr,
              int sub_shards = 1);
  ~SparseTable();
  SparseTable(const SparseTable&) = delete;
  SparseTable& operator=(const SparseTable&) = delete;

  // The row of `key` (weights first, then optimizer state), created and initialised if
  // absent. The pointer stays valid for the lifetime of the table.
  inline float* FindOrCreate(uint64_t key);

  // The row of `key`, or nullptr if the key was never touched.
  inline const float* Find(uint64_t key) const;

  // out[i*dim .. (i+1)*dim) = weights of keys[i]; creates missing rows.
  void Pull(const uint64_t* keys, size_t n, float* out);

  // rows[i] = the row of keys[i] (created if absent), for callers that reuse the lookups of a
  // key set across several requests (the server's key-set cache).
  void FindOrCreateRows(const uint64_t* keys, size_t n, float** rows);

  // Applies the optimizer to the row of keys[i] with gradient grads[i*dim .. (i+1)*dim), in
  // order (a key repeated in the batch receives each of its gradients in turn); creates
  // missing rows first.
  void Push(const uint64_t* keys, size_t n, const float* grads);

  // Overwrites the weights of keys[i] with weights[i*dim .. (i+1)*dim). Existing rows keep
  // their optimizer statistics (Optimizer::SyncState re-derives weight-defining state such as
  // FTRL's z); new rows get Optimizer::InitState for the given weights.
  void Assign(const uint64_t* keys, size_t n, const float* weights);

  // Overwrites whole rows (weights and optimizer state, row_floats() floats each) — restores a
  // checkpoint written from ForEach exactly. Creates missing rows without initialising them.
  void AssignRows(const uint64_t* keys, size_t n, const float* rows);

  // Sizes the index for `rows` rows so that inserting them causes no rehash.
  void Reserve(size_t rows);

  // ---- Bounded mode --------------------------------------------------------------------------
  struct Counters {
    uint64_t admitted = 0;         // rows created by pushes (after admission, if any)
    uint64_t rejected_pushes = 0;  // key pushes dropped because the key was not admitted
    uint64_t evicted_ttl = 0;
    uint64_t evicted_memory = 0;
  };
  enum class EvictReason { kTtl, kMemory };

  bool bounded() const { return bounded_; }
  // The table's clock (push requests applied to it by this server); stamps new and pushed rows.
  void set_step(uint32_t step) { step_ = step; }
  uint32_t step() const { return step_; }

  // out[i*dim .. (i+1)*dim) = weights of keys[i], or its initial weights if it has no row
  // (computed, not stored).
  void PullOrInit(const uint64_t* keys, size_t n, float* out) const;
  // Applies grads to the rows of keys[i] in order, stamping them with step(); a key without a
  // row is first offered to admission (each offer counts one push in the sketch): admitted, it
  // gets a fresh row and its gradient; not admitted, the gradient is dropped.
  void PushOrAdmit(const uint64_t* keys, size_t n, const float* grads);

  // Steps since the last push of `row` (wraps with the 32-bit clock; ages below 2^31 are exact).
  uint32_t AgeOf(const float* row) const {
    uint32_t stamp;
    std::memcpy(&stamp, row + row_floats_, sizeof(stamp));
    return step_ - stamp;
  }
  // Calls f(age) for every row (the order of ForEach).
  template <class F>
  void ForEachAge(F f) const {
    for (size_t i = 0; i < capacity_; ++i)
      if (slots_[i].row != nullptr) f(AgeOf(slots_[i].row));
  }
  // Erases every row for which evict(age) is true; returns how many. evict is called once per
  // row in slot order (a row moved across the end of the slot array by a deletion may be asked
  // twice), so a stateful predicate may stop after a quota.
  template <class F>
  size_t EvictWhere(F evict, EvictReason reason);
  // Erases the rows not pushed for at least `min_age` steps.
  size_t EvictIdle(uint32_t min_age, EvictReason reason) {
    return EvictWhere([min_age](uint32_t age) { return age >= min_age; }, reason);
  }

  const Counters& counters() const { return counters_; }
  // Bytes of one row in the arena (weights + optimizer state + stamp in bounded mode).
  size_t RowBytes() const { return stride_ * sizeof(float); }
  // Rows held x RowBytes() + the index slots: what the budget counts.
  uint64_t HeldBytes() const { return uint64_t{size_} * RowBytes() + uint64_t{capacity_} * sizeof(Slot); }
  // Bytes of the admission sketch (0 without admission).
  size_t SketchBytes() const { return sketch_ ? sketch_->MemoryBytes() : 0; }

  // Calls f(uint64_t key, const float* row) once for every row, in unspecified order.
  // The table must not be modified during the walk.
  template <class F>
  void ForEach(F f) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].row != nullptr) f(slots_[i].key, static_cast<const float*>(slots_[i].row));
    }
  }

  // Calls f(uint64_t key, const float* row, size_t ordinal) once for every row, in unspecified
  // order. `ordinal` (< ordinal_bound()) numbers the row's storage slot and never changes while
  // the row lives (rows never move; an evicted row's slot may be reused by a new key), so callers can keep per-row bookkeeping in a plain array -- checkpoint deltas
  // keep a hash per row this way, off the hot path. Costs a binary search over the row chunks
  // per row.
  template <class F>
  void ForEachWithOrdinal(F f) const {
    const std::vector<std::pair<uintptr_t, size_t>> chunks = ChunksByAddress();
    for (size_t i = 0; i < capacity_; ++i) {
      const float* row = slots_[i].row;
      if (row == nullptr) continue;
      const uintptr_t address = reinterpret_cast<uintptr_t>(row);
      auto it = std::upper_bound(chunks.begin(), chunks.end(), std::make_pair(address, ~size_t{0}));
      --it;  // the chunk with the greatest start address <= row
      const size_t within = (address - it->first) / sizeof(float);
      f(slots_[i].key, row, (it->second << chunk_shift_) + within / stride_);
    }
  }

  // The hash that places `key` in the index (its top bits pick the home slot). Salted, and
  // using HIGH bits, because the key -> shard mapping hashes keys with Mix64 too: all keys of
  // one shard may share low bits of Mix64(key), and reusing those bits here would pile every
  // key of the shard onto a few probe runs. Public so tests can build keys that share a
  // probe sequence.
  static uint64_t SlotHash(uint64_t key) { return Mix64(key ^ kSlotSalt); }

  size_t size() const { return size_; }
  // Upper bound of the ordinals ForEachWithOrdinal reports: rows ever allocated (held + free).
  size_t ordinal_bound() const { return allocated_; }
  size_t dim() const { return dim_; }
  size_t row_floats() const { return row_floats_; }  // weights + optimizer state (what checkpoints hold)
  uint32_t table_id() const { return table_id_; }
  const Optimizer& optimizer() const { return *optimizer_; }

  // Bytes per row for reporting: weights + state (+ stamp) + index slots at the current load
  // factor (at the maximum load factor when the table is empty).
  size_t BytesPerRow() const;
  // Bytes allocated: row chunks (the last one possibly only partly used; its untouched tail is
  // address space, not resident memory) plus the slot array.
  size_t MemoryBytes() const;

 private:
  struct Slot {
    uint64_t key;
    float* row;  // nullptr: empty slot
  };
  // malloc'd arrays (possibly 2 MiB aligned for transparent huge pages), released with free.
  struct FreeDeleter {
    void operator()(void* p) const;
  };

  // Slot position of `key`: the top log2(capacity) bits of SlotHash(key).
  size_t HomeSlot(uint64_t key) const { return static_cast<size_t>(SlotHash(key) >> shift_); }
  // Inserts `key` (known absent; `empty_slot` is where its probe ended) with a fresh row.
  // weights == nullptr: InitRowWeights + InitState; otherwise copy weights + InitState.
  float* CreateRow(uint64_t key, size_t empty_slot, const float* weights);
  // Inserts `key` (known absent) with an uninitialised row.
  float* InsertRaw(uint64_t key, size_t empty_slot);
  float* AllocateRow();
  // (start of chunk, chunk index), sorted by address.
  std::vector<std::pair<uintptr_t, size_t>> ChunksByAddress() const;
  void Rehash(size_t new_capacity);
  // After an eviction: halves the index while the rows left would fill at most half of the
  // smaller index's growth threshold. The index counts towards a server's memory budget, so an
  // index that only ever grew would leave the budget to it and every row would be evicted.
  void ShrinkIndex();
  // Bounded mode: removes slot i (backward-shift deletion) and frees its row.
  void EraseSlot(size_t i);
  // Bounded mode: counts a push of `key` (no row) and says whether it now gets one.
  bool Admit(uint64_t key);
  void SetStamp(float* row) const { std::memcpy(row + row_floats_, &step_, sizeof(step_)); }
  size_t FindEmptySlot(uint64_t key) const;
  void PrefetchSlot(uint64_t key) const;
  // Resolves keys to rows in groups, prefetching slots ahead and the resolved rows, then calls
  // on_group(float* const* rows, size_t first_key, size_t count).
  template <class F>
  void ForRowGroups(const uint64_t* keys, size_t n, size_t prefetch_bytes, F on_group);

  static constexpr uint64_t kSlotSalt = 0x6a09e667f3bcc909ULL;

  const uint32_t table_id_;
  const uint64_t seed_;
  const InitConfig init_;
  const std::unique_ptr<Optimizer> optimizer_;
  const size_t dim_;
  const size_t row_floats_;
  const bool bounded_;
  const size_t stride_;  // floats per row in the arena: row_floats_ (+ 1 stamp in bounded mode)

  // Bounded mode.
  uint32_t step_ = 0;
  uint32_t min_count_ = 1;
  double admit_probability_ = 0;
  std::unique_ptr<CountMinSketch> sketch_;  // null: every push admits
  float* free_rows_ = nullptr;  // freed rows, linked through their first bytes
  std::vector<float> scratch_row_;  // receives the gradients of rejected keys
  Counters counters_;

  // Index.
  std::unique_ptr<Slot[], FreeDeleter> slots_;
  size_t capacity_ = 0;  // power of two
  size_t mask_ = 0;
  int shift_ = 64;       // 64 - log2(capacity_)
  size_t grow_at_ = 0;   // rehash when size_ would exceed this
  size_t size_ = 0;

  // Row arena.
  int chunk_shift_ = 0;  // rows per chunk = 1 << chunk_shift_
  std::vector<std::unique_ptr<float[], FreeDeleter>> chunks_;
  size_t allocated_ = 0;  // rows ever taken from the chunks (size_ + free rows)
};

template <class F>
size_t SparseTable::EvictWhere(F evict, EvictReason reason) {
  size_t evicted = 0;
  for (size_t i = 0; i < capacity_;) {
    const Slot& s = slots_[i];
    if (s.row != nullptr && evict(AgeOf(s.row))) {
      EraseSlot(i);  // may move a later row into slot i: look at it again
      ++evicted;
      continue;
    }
    ++i;
  }
  (reason == EvictReason::kTtl ? counters_.evicted_ttl : counters_.evicted_memory) += evicted;
  if (evicted > 0) ShrinkIndex();
  return evicted;
}

inline float* SparseTable::FindOrCreate(uint64_t key) {
  size_t i = HomeSlot(key);
  for (;;) {
    const Slot& s = slots_[i];
    if (s.row == nullptr) return CreateRow(key, i, nullptr);
    if (s.key == key) return s.row;
    i = (i + 1) & mask_;
  }
}

inline const float* SparseTable::Find(uint64_t key) const {
  size_t i = HomeSlot(key);
  for (;;) {
    const Slot& s = slots_[i];
    if (s.row == nullptr) return nullptr;
    if (s.key == key) return s.row;
    i = (i + 1) & mask_;
  }
}

}  // namespace embark
