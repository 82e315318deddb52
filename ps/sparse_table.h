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
// Rows are never erased.
//
// Thread-safety: NOT thread-safe; one owner thread. The server runs one thread per sub-shard
// and each sub-shard owns its tables exclusively, so no locking is needed. Const methods are
// safe to call concurrently only while no thread calls a non-const method.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/hash.h"
#include "ps/optimizer.h"
#include "ps/table_config.h"

namespace embark {

class SparseTable {
 public:
  // `cfg.dim` floats of weights per row, optimizer and init from `cfg`; `seed` is the job seed
  // fed to InitRowWeights.
  SparseTable(const TableConfig& cfg, uint64_t seed);
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

  // Calls f(uint64_t key, const float* row) once for every row, in unspecified order.
  // The table must not be modified during the walk.
  template <class F>
  void ForEach(F f) const {
    for (size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].row != nullptr) f(slots_[i].key, static_cast<const float*>(slots_[i].row));
    }
  }

  // Calls f(uint64_t key, const float* row, size_t ordinal) once for every row, in unspecified
  // order. `ordinal` (< size()) numbers the rows in creation order and never changes (rows
  // never move), so callers can keep per-row bookkeeping in a plain array -- checkpoint deltas
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
      f(slots_[i].key, row, (it->second << chunk_shift_) + within / row_floats_);
    }
  }

  // The hash that places `key` in the index (its top bits pick the home slot). Salted, and
  // using HIGH bits, because the key -> shard mapping hashes keys with Mix64 too: all keys of
  // one shard may share low bits of Mix64(key), and reusing those bits here would pile every
  // key of the shard onto a few probe runs. Public so tests can build keys that share a
  // probe sequence.
  static uint64_t SlotHash(uint64_t key) { return Mix64(key ^ kSlotSalt); }

  size_t size() const { return size_; }
  size_t dim() const { return dim_; }
  size_t row_floats() const { return row_floats_; }
  uint32_t table_id() const { return table_id_; }
  const Optimizer& optimizer() const { return *optimizer_; }

  // Bytes per row for reporting: weights + state + index slots at the current load factor
  // (at the maximum load factor when the table is empty).
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
};

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
