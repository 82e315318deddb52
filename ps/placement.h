// Placement: which server owns each row of every table of a job, in one place.
//
// Sparse rows are placed by the ShardMap (key -> virtual shard -> server). A dense table is
// cut into blocks (ps/dense_block.h) that travel like rows: the "key" is the block index and
// every block is sent padded to the table's row width, so requests for dense and sparse
// tables share one wire format and one code path.
//
// Thread-safety: immutable after construction; safe from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "partition/shard_map.h"
#include "ps/dense_block.h"
#include "ps/optimizer.h"
#include "ps/table_config.h"

namespace embark {

// Floats per dense block on the wire (the last block of a table is padded to this).
constexpr uint32_t kDenseBlockFloats = 16384;

class Placement {
 public:
  Placement(const ShardMap& shards, const std::vector<TableConfig>& tables);

  const ShardMap& shards() const { return shards_; }
  const std::vector<TableConfig>& tables() const { return tables_; }
  int num_servers() const { return shards_.num_servers(); }
  bool HasTable(uint32_t table) const { return table < tables_.size(); }
  const TableConfig& table(uint32_t t) const { return tables_[t]; }

  // Floats per row on the wire: `dim` for sparse tables, the block width for dense tables.
  uint32_t RowWidth(uint32_t table) const { return row_width_[table]; }
  // Floats per stored row on the wire (kPullRows, kPushDelta): the weights (RowWidth) followed
  // by the optimizer state of RowWidth weights. A dense table's short last block is packed as
  // [its weights, zero padding to RowWidth | its state, zero padding].
  uint32_t StoredRowWidth(uint32_t table) const { return stored_width_[table]; }  // Dense tables: the blocks and their owners.
  const std::vector<DenseBlock>& DenseLayout(uint32_t table) const { return dense_layout_[table]; }
  uint32_t NumDenseBlocks(uint32_t table) const { return static_cast<uint32_t>(dense_layout_[table].size()); }

  // The server index owning `key` of `table`; -1 for a dense block index out of range.
  int ServerOf(uint32_t table, uint64_t key) const {
    if (!tables_[table].dense) return shards_.ServerOf(key, table);
    return key < dense_layout_[table].size() ? dense_layout_[table][key].server : -1;
  }

 private:
  ShardMap shards_;
  std::vector<TableConfig> tables_;
  std::vector<uint32_t> row_width_;
  std::vector<uint32_t> stored_width_;
  std::vector<std::vector<DenseBlock>> dense_layout_;
};

inline Placement::Placement(const ShardMap& shards, const std::vector<TableConfig>& tables)
    : shards_(shards), tables_(tables) {
  for (size_t t = 0; t < tables_.size(); ++t) {
    tables_[t].id = static_cast<uint32_t>(t);
    if (tables_[t].dense) {
      const uint32_t width = static_cast<uint32_t>(
          std::min<uint64_t>(std::max<uint64_t>(tables_[t].dense_size, 1), kDenseBlockFloats));
      row_width_.push_back(width);
      dense_layout_.push_back(LayoutDenseTable(tables_[t].dense_size, width, shards_.num_servers(),
                                               static_cast<uint32_t>(t)));
    } else {
      row_width_.push_back(tables_[t].dim);
      dense_layout_.emplace_back();
    }
    const int w = static_cast<int>(row_width_.back());
    stored_width_.push_back(static_cast<uint32_t>(w + Optimizer::Create(tables_[t].optimizer)->StateFloats(w)));
  }
}

}  // namespace embark
