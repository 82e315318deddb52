// Dense tables split into blocks: the layout that assigns the blocks of a dense table (MLP
// weights, a few thousand to a few million floats) to servers, and one server's store of the
// blocks it owns.
//
// A dense table of `dense_size` floats is cut into consecutive blocks of `block_floats` floats
// (the last one possibly shorter). Block b goes to server (table_id + b) % num_servers, so the
// blocks of one table are spread round-robin (server loads differ by at most one block) and the
// first blocks of different tables land on different servers.
//
// A block is stored like a sparse row whose key is the block index: [weights (length) |
// optimizer state (StateFloats(length))], initialised with InitRowWeights(seed, table_id,
// key = block index, ...) then Optimizer::InitState, and updated by the same Optimizer.
//
// Thread-safety: LayoutDenseTable is a pure function. DenseBlockStore is NOT thread-safe; one
// owner thread (the server sub-shard thread that owns the table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "ps/optimizer.h"
#include "ps/table_config.h"

namespace embark {

struct DenseBlock {
  uint32_t block = 0;   // index within the table, 0-based
  uint64_t offset = 0;  // first float of the block within the dense vector
  uint32_t length = 0;  // floats in the block
  int server = 0;       // owning server rank
};

// The blocks of a dense table in order of offset; deterministic. Requires block_floats > 0
// and num_servers > 0 (checked). dense_size == 0 gives no blocks.
std::vector<DenseBlock> LayoutDenseTable(uint64_t dense_size, uint32_t block_floats,
                                         int num_servers, uint32_t table_id);

// A dense block's stored row [weights (length) | state (row_floats - length)] as it travels in
// kPullRows / kPushDelta, where every block has the table's padded stored width: the weights
// at [0, length), the state from `width` (the padded block width) on, zeros elsewhere.
void PackStoredBlock(const float* row, uint32_t length, size_t row_floats, uint32_t width,
                     uint32_t stored_width, float* wire);
// The inverse: wire -> row (row_floats floats). With `add`, wire values are added to row.
void UnpackStoredBlock(const float* wire, uint32_t length, size_t row_floats, uint32_t width, bool add,
                       float* row);

class DenseBlockStore {
 public:
  // Stores the blocks of `layout` (as returned by LayoutDenseTable for this table) whose owner
  // is `server`, initialised from `cfg.init` and `seed`.
  DenseBlockStore(const TableConfig& cfg, uint64_t seed, const std::vector<DenseBlock>& layout,
                  int server);
  DenseBlockStore(const DenseBlockStore&) = delete;
  DenseBlockStore& operator=(const DenseBlockStore&) = delete;

  bool Owns(uint32_t block) const {
    return block < local_of_.size() && local_of_[block] >= 0;
  }
  // Floats in `block`; 0 if not owned.
  uint32_t BlockLength(uint32_t block) const;

  // out[0 .. BlockLength(block)) = weights of the block.
  // InvalidArgument (naming the table and block) if this store does not own `block`.
  Status Pull(uint32_t block, float* out) const;
  // Applies the optimizer element-wise with grad[0 .. BlockLength(block)).
  Status Push(uint32_t block, const float* grad);
  // Overwrites the weights of the block, keeping optimizer statistics (Optimizer::SyncState).
  Status Assign(uint32_t block, const float* weights);
  // Overwrites weights and state (RowFloats(block) floats) — restores a checkpoint exactly.
  Status AssignRow(uint32_t block, const float* row);

  // Stored rows on the wire (kPullRows / kPushDelta, layout in PackStoredBlock): copies the
  // block's weights and state into `out` (stored_width floats), or adds `delta` to them.
  Status PullStored(uint32_t block, uint32_t width, uint32_t stored_width, float* out) const;
  Status AddStored(uint32_t block, uint32_t width, const float* delta);

  // Weights + state floats of `block` (0 if not owned).
  size_t RowFloats(uint32_t block) const;
  // Calls f(const DenseBlock& block, const float* row) for each owned block, by block index.
  template <class F>
  void ForEach(F f) const {
    for (size_t i = 0; i < blocks_.size(); ++i) f(blocks_[i], data_.data() + row_offset_[i]);
  }

  uint32_t table_id() const { return table_id_; }
  // The owned blocks, by block index.
  const std::vector<DenseBlock>& blocks() const { return blocks_; }
  // Total weights floats owned.
  uint64_t owned_floats() const { return owned_floats_; }
  size_t MemoryBytes() const;

 private:
  Status NotOwned(uint32_t block) const;

  const uint32_t table_id_;
  const std::unique_ptr<Optimizer> optimizer_;
  std::vector<DenseBlock> blocks_;   // owned, by block index
  std::vector<int32_t> local_of_;    // block index -> position in blocks_, -1 if not owned
  std::vector<size_t> row_offset_;   // position in blocks_ -> first float in data_
  std::vector<float> data_;          // all owned rows, back to back
  uint64_t owned_floats_ = 0;
};

}  // namespace embark
