#include "worker/row_replica.h"

#include <glog/logging.h>

#include <cstring>

namespace embark {

RowReplica::RowReplica(const Placement& placement) {
  tables_.resize(placement.tables().size());
  for (size_t t = 0; t < tables_.size(); ++t) {
    const TableConfig& cfg = placement.table(static_cast<uint32_t>(t));
    Table& tb = tables_[t];
    tb.dense = cfg.dense;
    tb.wire_width = placement.RowWidth(static_cast<uint32_t>(t));
    tb.optimizer = Optimizer::Create(cfg.optimizer);
    if (!tb.dense) {
      tb.dim = cfg.dim;
      tb.stored = placement.StoredRowWidth(static_cast<uint32_t>(t));
      tb.slot_key.assign(16, 0);
      tb.slot_index.assign(16, 0);
      continue;
    }
    tb.dim = static_cast<uint32_t>(cfg.dense_size);
    tb.stored = placement.StoredRowWidth(static_cast<uint32_t>(t));
    tb.blocks = placement.DenseLayout(static_cast<uint32_t>(t));
    size_t offset = 0;
    for (const DenseBlock& b : tb.blocks) {
      tb.keys.push_back(b.block);
      tb.block_offset.push_back(offset);
      offset += b.length + static_cast<size_t>(tb.optimizer->StateFloats(static_cast<int>(b.length)));
    }
    tb.block_offset.push_back(offset);
    tb.rows.assign(offset, 0.0f);
    tb.base.assign(offset, 0.0f);
  }
}

void RowReplica::Grow(Table& tb) {
  std::vector<uint64_t> old_keys;
  old_keys.swap(tb.slot_key);
  std::vector<uint32_t> old_index;
  old_index.swap(tb.slot_index);
  const size_t size = old_keys.size() * 2;
  tb.slot_key.assign(size, 0);
  tb.slot_index.assign(size, 0);
  const size_t mask = size - 1;
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_index[i] == 0) continue;
    size_t h = static_cast<size_t>((old_keys[i] * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
    while (tb.slot_index[h] != 0) h = (h + 1) & mask;
    tb.slot_key[h] = old_keys[i];
    tb.slot_index[h] = old_index[i];
  }
}

void RowReplica::Fill(uint32_t t, const uint64_t* keys, size_t n, const float* stored_rows) {
  Table& tb = tables_[t];
  CHECK(!tb.dense);
  const size_t mask = tb.slot_key.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    size_t h = static_cast<size_t>((keys[i] * 0x9e3779b97f4a7c15ULL) >> 20) & mask;
    while (tb.slot_index[h] != 0 && tb.slot_key[h] != keys[i]) h = (h + 1) & mask;
    CHECK_NE(tb.slot_index[h], 0u) << "Fill of a key that was never resolved";
    FillIndex(t, tb.slot_index[h] - 1, stored_rows + i * tb.stored);
  }
}

void RowReplica::FillIndex(uint32_t t, uint32_t index, const float* stored_row) {
  Table& tb = tables_[t];
  const size_t at = size_t{index} * tb.stored;
  std::memcpy(tb.rows.data() + at, stored_row, tb.stored * sizeof(float));
  std::memcpy(tb.base.data() + at, stored_row, tb.stored * sizeof(float));
  tb.fresh[index] = 1;
}

void RowReplica::RefreshChanged(uint32_t t, const std::vector<uint32_t>& indices, const float* stored_rows,
                                const std::vector<uint32_t>& position) {
  Table& tb = tables_[t];
  CHECK(!tb.dense);
  CHECK_EQ(indices.size(), position.size());
  std::fill(tb.fresh.begin(), tb.fresh.end(), 0);
  for (size_t i = 0; i < indices.size(); ++i) FillIndex(t, indices[i], stored_rows + size_t{position[i]} * tb.stored);
  for (uint32_t index : tb.dirty_list) tb.dirty[index] = 0;
  tb.dirty_list.clear();
}

void RowReplica::AdoptPushed(uint32_t t, const std::vector<uint32_t>& indices) {
  Table& tb = tables_[t];
  CHECK(!tb.dense);
  std::fill(tb.fresh.begin(), tb.fresh.end(), 0);
  for (uint32_t index : indices) {
    const size_t at = size_t{index} * tb.stored;
    std::memcpy(tb.base.data() + at, tb.rows.data() + at, tb.stored * sizeof(float));
    tb.fresh[index] = 1;
  }
  for (uint32_t index : tb.dirty_list) tb.dirty[index] = 0;
  tb.dirty_list.clear();
}

void RowReplica::DenseWeights(uint32_t t, float* out) const {
  const Table& tb = tables_[t];
  for (size_t b = 0; b < tb.blocks.size(); ++b)
    std::memcpy(out + tb.blocks[b].offset, tb.rows.data() + tb.block_offset[b], tb.blocks[b].length * sizeof(float));
}

void RowReplica::ApplyDense(uint32_t t, const float* grad) {
  Table& tb = tables_[t];
  for (size_t b = 0; b < tb.blocks.size(); ++b)
    tb.optimizer->Apply(tb.rows.data() + tb.block_offset[b], grad + tb.blocks[b].offset,
                        static_cast<int>(tb.blocks[b].length));
}

void RowReplica::CollectDeltas(uint32_t t, std::vector<uint64_t>* keys, std::vector<float>* deltas,
                               std::vector<uint32_t>* indices) const {
  const Table& tb = tables_[t];
  keys->clear();
  deltas->clear();
  if (indices != nullptr) indices->clear();
  if (tb.dense) {
    std::vector<float> diff;
    deltas->resize(tb.blocks.size() * size_t{tb.stored});
    for (size_t b = 0; b < tb.blocks.size(); ++b) {
      const size_t begin = tb.block_offset[b], floats = tb.block_offset[b + 1] - begin;
      diff.resize(floats);
      for (size_t j = 0; j < floats; ++j) diff[j] = tb.rows[begin + j] - tb.base[begin + j];
      PackStoredBlock(diff.data(), tb.blocks[b].length, floats, tb.wire_width, tb.stored,
                      deltas->data() + b * tb.stored);
      keys->push_back(tb.blocks[b].block);
    }
    return;
  }
  if (all_changed_) {
    for (size_t index = 0; index < tb.keys.size(); ++index) {
      const float* row = tb.rows.data() + index * tb.stored;
      const float* base = tb.base.data() + index * tb.stored;
      if (std::memcmp(row, base, tb.stored * sizeof(float)) == 0) continue;
      keys->push_back(tb.keys[index]);
      if (indices != nullptr) indices->push_back(static_cast<uint32_t>(index));
      for (uint32_t j = 0; j < tb.stored; ++j) deltas->push_back(row[j] - base[j]);
    }
    return;
  }
  keys->reserve(tb.dirty_list.size());
  deltas->resize(tb.dirty_list.size() * size_t{tb.stored});
  float* out = deltas->data();
  if (indices != nullptr) *indices = tb.dirty_list;
  for (uint32_t index : tb.dirty_list) {
    keys->push_back(tb.keys[index]);
    const float* row = tb.rows.data() + size_t{index} * tb.stored;
    const float* base = tb.base.data() + size_t{index} * tb.stored;
    for (uint32_t j = 0; j < tb.stored; ++j) out[j] = row[j] - base[j];
    out += tb.stored;
  }
}

void RowReplica::Refresh(uint32_t t, const float* stored_rows, const std::vector<uint32_t>& position) {
  Table& tb = tables_[t];
  CHECK_EQ(position.size(), tb.keys.size());
  if (tb.dense) {
    for (size_t b = 0; b < tb.blocks.size(); ++b) {
      const size_t begin = tb.block_offset[b], floats = tb.block_offset[b + 1] - begin;
      UnpackStoredBlock(stored_rows + size_t{position[b]} * tb.stored, tb.blocks[b].length, floats, tb.wire_width,
                        /*add=*/false, tb.rows.data() + begin);
    }
    tb.base = tb.rows;
    return;
  }
  for (size_t i = 0; i < tb.keys.size(); ++i)
    std::memcpy(tb.rows.data() + i * tb.stored, stored_rows + size_t{position[i]} * tb.stored, tb.stored * sizeof(float));
  tb.base = tb.rows;
  std::fill(tb.fresh.begin(), tb.fresh.end(), 1);
  for (uint32_t index : tb.dirty_list) tb.dirty[index] = 0;
  tb.dirty_list.clear();
}

void RowReplica::RefreshDone() { all_changed_ = false; }

void RowReplica::Clear() {
  all_changed_ = false;
  for (Table& tb : tables_) {
    if (tb.dense) continue;
    tb.keys.clear();
    tb.rows.clear();
    tb.base.clear();
    tb.dirty.clear();
    tb.fresh.clear();
    tb.dirty_list.clear();
    tb.slot_key.assign(16, 0);
    tb.slot_index.assign(16, 0);
  }
}

}  // namespace embark
