// RowReplica: a worker's own copies of the parameter rows it trains on, for local-update
// training (--sync=local).
//
// Instead of pulling rows before and pushing gradients after every minibatch, a worker keeps
// the rows it has seen here, whole (weights followed by the optimizer state, the servers'
// stored layout), runs the tables' optimizers on them itself, and every --sync_every batches
// hands the servers what changed: delta = row - base, where `base` is the row as last read
// from the servers. The servers add the deltas of every worker (kPushDelta) and stay the store
// of record, optimizer state included, so checkpoints mean what they always meant. After a sync
// the replica reads every row it holds again (kPullRows): the other workers' changes arrive.
//
// With one worker this is exactly the per-batch path: the same optimizer on the same rows in
// the same order, only in another process (a server adds base + (row - base), which may round
// the last bit). With several workers a row misses at most the other workers' changes since
// their last sync: the staleness the --sync_every bound documents.
//
// Local indices: every key (sparse) or block (dense) held gets a dense index per table, stable
// until Clear(); models and batches refer to rows by these indices, so a batch resolved once can
// be trained many times without hashing again.
//
// Thread-safety: not synchronised. Resolve/Fill/Clear/sync calls from one thread; Row and Apply
// on distinct rows may run concurrently (and, Hogwild-style, on the same row if the caller
// accepts racy updates).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ps/optimizer.h"
#include "ps/placement.h"

namespace embark {

class RowReplica {
 public:
  explicit RowReplica(const Placement& placement);
  RowReplica(const RowReplica&) = delete;
  RowReplica& operator=(const RowReplica&) = delete;

  size_t num_tables() const { return tables_.size(); }
  bool dense(uint32_t t) const { return tables_[t].dense; }
  // Weights per row (sparse) or per whole dense vector.
  uint32_t dim(uint32_t t) const { return tables_[t].dim; }
  // Floats of a held row: weights then state (sparse: dim + state; dense: per block).
  uint32_t stored_width(uint32_t t) const { return tables_[t].stored; }
  const Optimizer& optimizer(uint32_t t) const { return *tables_[t].optimizer; }

  // Sparse tables. The local index of `key`; a key not held yet gets the next index and is
  // appended to `missing` (its row must be Filled before it is read).
  inline uint32_t Resolve(uint32_t t, uint64_t key, std::vector<uint64_t>* missing);
  // Rows of keys just appended by Resolve, in the order of `keys`: stored rows as the servers
  // sent them (StoredRowWidth floats each). Sets row and base.
  void Fill(uint32_t t, const uint64_t* keys, size_t n, const float* stored_rows);
  size_t held(uint32_t t) const { return tables_[t].keys.size(); }
  const std::vector<uint64_t>& keys(uint32_t t) const { return tables_[t].keys; }

  float* Row(uint32_t t, uint32_t index) { return tables_[t].rows.data() + size_t{index} * tables_[t].stored; }
  const float* Row(uint32_t t, uint32_t index) const {
    return tables_[t].rows.data() + size_t{index} * tables_[t].stored;
  }
  // One optimizer step on a sparse row; marks it changed.
  void Apply(uint32_t t, uint32_t index, const float* grad) {
    Table& tb = tables_[t];
    tb.optimizer->Apply(Row(t, index), grad, static_cast<int>(tb.dim));
    if (!tb.dirty[index]) {
      tb.dirty[index] = 1;
      tb.dirty_list.push_back(index);
    }
  }

  // The same step without marking the row changed (safe from several threads; see
  // MarkAllChanged).
  void ApplyUntracked(uint32_t t, uint32_t index, const float* grad) {
    const Table& tb = tables_[t];
    tb.optimizer->Apply(Row(t, index), grad, static_cast<int>(tb.dim));
  }
  // Until the next Refresh, CollectDeltas compares every held row with its base instead of
  // trusting the change list (for ApplyUntracked).
  void MarkAllChanged() { all_changed_ = true; }

  // Dense tables: the whole vector's weights into `out` (dim floats); one optimizer step per
  // block with grad[0, dim).
  void DenseWeights(uint32_t t, float* out) const;
  void ApplyDense(uint32_t t, const float* grad);
  // Dense rows are held as blocks, one per wire key (the block index).
  const std::vector<uint64_t>& dense_block_keys(uint32_t t) const { return tables_[t].keys; }

  // Sync, step 1: the changed rows (sparse) or all blocks (dense) as wire keys and deltas
  // (StoredRowWidth floats each), row - base, and (optional) their local indices. Does not
  // change the replica.
  void CollectDeltas(uint32_t t, std::vector<uint64_t>* keys, std::vector<float>* deltas,
                     std::vector<uint32_t>* indices = nullptr) const;
  // Sync, step 2 (sparse): the changed rows again, as the servers sent them (row `indices[i]`
  // is stored_rows + position[i] * StoredRowWidth); every other held row becomes stale: it is
  // read from the servers again before it is used (IsFresh). So no row a batch reads is older
  // than the last sync, and only rows in use travel.
  void RefreshChanged(uint32_t t, const std::vector<uint32_t>& indices, const float* stored_rows,
                      const std::vector<uint32_t>& position);
  // The same without reading the rows back, for rows no one else changed since they were read
  // (block training): each pushed row becomes its own base (the servers' copy is base + delta,
  // which may differ from it by a rounding); every other held row becomes stale.
  void AdoptPushed(uint32_t t, const std::vector<uint32_t>& indices);
  bool IsFresh(uint32_t t, uint32_t index) const { return tables_[t].fresh[index] != 0; }
  // One stale (or new) row by index: row = base = stored_row, fresh again.
  void FillIndex(uint32_t t, uint32_t index, const float* stored_row);
  // Sync, step 2: every held row again as the servers sent them: the row of local index i (the
  // i-th of keys(t) / dense_block_keys(t)) is stored_rows + position[i] * StoredRowWidth.
  // row = base = the new value; nothing counts as changed any more.
  void Refresh(uint32_t t, const float* stored_rows, const std::vector<uint32_t>& position);
  // After every table's Refresh: the change list is trusted again.
  void RefreshDone();
  // Forgets every sparse row (indices start again from 0); dense blocks are kept.
  void Clear();
  // Changed sparse rows since the last Refresh/Fill (for counters and tests).
  size_t changed(uint32_t t) const { return tables_[t].dirty_list.size(); }

 private:
  struct Table {
    bool dense = false;
    uint32_t dim = 0;          // sparse: row weights; dense: whole vector
    uint32_t wire_width = 0;   // Placement::RowWidth
    uint32_t stored = 0;       // sparse: stored row floats; dense: Placement::StoredRowWidth
    std::unique_ptr<Optimizer> optimizer;
    std::vector<uint64_t> keys;     // per index
    std::vector<float> rows, base;  // per index, `stored` floats each (dense: blocks back to back)
    std::vector<uint8_t> dirty;
    std::vector<uint8_t> fresh;     // per index: row equals the servers' as of the last sync
    std::vector<uint32_t> dirty_list;
    // Open addressing key -> index + 1 (0 = empty), power-of-two size, load <= 1/2.
    std::vector<uint64_t> slot_key;
    std::vector<uint32_t> slot_index;
    // Dense: per block its layout and its offset into rows/base.
    std::vector<DenseBlock> blocks;
    std::vector<size_t> block_offset;
  };
  void Grow(Table& tb);

  std::vector<Table> tables_;
  bool all_changed_ = false;
};

inline uint32_t RowReplica::Resolve(uint32_t t, uint64_t key, std::vector<uint64_t>* missing) {
  Table& tb = tables_[t];
  if (2 * (tb.keys.size() + 1) > tb.slot_key.size()) Grow(tb);
  const size_t mask = tb.slot_key.size() - 1;
  size_t h = static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
  while (tb.slot_index[h] != 0) {
    if (tb.slot_key[h] == key) return tb.slot_index[h] - 1;
    h = (h + 1) & mask;
  }
  const uint32_t index = static_cast<uint32_t>(tb.keys.size());
  tb.slot_key[h] = key;
  tb.slot_index[h] = index + 1;
  tb.keys.push_back(key);
  tb.dirty.push_back(0);
  tb.fresh.push_back(0);
  tb.rows.resize(tb.rows.size() + tb.stored);
  tb.base.resize(tb.base.size() + tb.stored);
  missing->push_back(key);
  return index;
}

}  // namespace embark
