#include "ps/dense_block.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <glog/logging.h>

#include "ps/row_init.h"

namespace embark {

std::vector<DenseBlock> LayoutDenseTable(uint64_t dense_size, uint32_t block_floats,
                                         int num_servers, uint32_t table_id) {
  CHECK_GT(block_floats, 0u) << "LayoutDenseTable: block_floats must be > 0";
  CHECK_GT(num_servers, 0) << "LayoutDenseTable: num_servers must be > 0";
  std::vector<DenseBlock> blocks;
  const uint64_t count = (dense_size + block_floats - 1) / block_floats;
  CHECK_LE(count, uint64_t{UINT32_MAX}) << "LayoutDenseTable: too many blocks";
  blocks.reserve(count);
  const uint64_t first_server = table_id % static_cast<uint32_t>(num_servers);
  for (uint64_t b = 0; b < count; ++b) {
    DenseBlock blk;
    blk.block = static_cast<uint32_t>(b);
    blk.offset = b * block_floats;
    blk.length = static_cast<uint32_t>(std::min<uint64_t>(block_floats, dense_size - blk.offset));
    blk.server = static_cast<int>((first_server + b) % static_cast<uint64_t>(num_servers));
    blocks.push_back(blk);
  }
  return blocks;
}

DenseBlockStore::DenseBlockStore(const TableConfig& cfg, uint64_t seed,
                                 const std::vector<DenseBlock>& layout, int server)
    : table_id_(cfg.id), optimizer_(Optimizer::Create(cfg.optimizer)) {
  size_t total = 0;
  for (const DenseBlock& b : layout) {
    if (b.server != server) continue;
    if (b.block >= local_of_.size()) local_of_.resize(b.block + size_t{1}, -1);
    CHECK_LT(local_of_[b.block], 0) << "table " << cfg.id << ": block " << b.block
                                    << " appears twice in the layout";
    local_of_[b.block] = static_cast<int32_t>(blocks_.size());
    blocks_.push_back(b);
    row_offset_.push_back(total);
    total += b.length + static_cast<size_t>(optimizer_->StateFloats(static_cast<int>(b.length)));
    owned_floats_ += b.length;
  }
  // ForEach promises block order; layouts from LayoutDenseTable already are, others may not be.
  if (!std::is_sorted(blocks_.begin(), blocks_.end(),
                      [](const DenseBlock& a, const DenseBlock& b) { return a.block < b.block; })) {
    std::vector<size_t> order(blocks_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return blocks_[a].block < blocks_[b].block; });
    std::vector<DenseBlock> sorted_blocks;
    std::vector<size_t> sorted_offsets;
    for (size_t i : order) {
      local_of_[blocks_[i].block] = static_cast<int32_t>(sorted_blocks.size());
      sorted_blocks.push_back(blocks_[i]);
      sorted_offsets.push_back(row_offset_[i]);
    }
    blocks_ = std::move(sorted_blocks);
    row_offset_ = std::move(sorted_offsets);
  }
  data_.resize(total);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    float* row = data_.data() + row_offset_[i];
    const int length = static_cast<int>(blocks_[i].length);
    InitRowWeights(seed, table_id_, blocks_[i].block, cfg.init, length, row);
    optimizer_->InitState(row, length);
  }
}

Status DenseBlockStore::NotOwned(uint32_t block) const {
  return Status::InvalidArgument("dense table " + std::to_string(table_id_) + ": block " +
                                 std::to_string(block) + " is not stored on this server");
}

uint32_t DenseBlockStore::BlockLength(uint32_t block) const {
  return Owns(block) ? blocks_[local_of_[block]].length : 0;
}

size_t DenseBlockStore::RowFloats(uint32_t block) const {
  if (!Owns(block)) return 0;
  const int length = static_cast<int>(blocks_[local_of_[block]].length);
  return static_cast<size_t>(length + optimizer_->StateFloats(length));
}

Status DenseBlockStore::Pull(uint32_t block, float* out) const {
  if (!Owns(block)) return NotOwned(block);
  const size_t i = static_cast<size_t>(local_of_[block]);
  std::memcpy(out, data_.data() + row_offset_[i], blocks_[i].length * sizeof(float));
  return Status::OK();
}

Status DenseBlockStore::Push(uint32_t block, const float* grad) {
  if (!Owns(block)) return NotOwned(block);
  const size_t i = static_cast<size_t>(local_of_[block]);
  optimizer_->Apply(data_.data() + row_offset_[i], grad, static_cast<int>(blocks_[i].length));
  return Status::OK();
}

Status DenseBlockStore::Assign(uint32_t block, const float* weights) {
  if (!Owns(block)) return NotOwned(block);
  const size_t i = static_cast<size_t>(local_of_[block]);
  float* row = data_.data() + row_offset_[i];
  std::memcpy(row, weights, blocks_[i].length * sizeof(float));
  optimizer_->SyncState(row, static_cast<int>(blocks_[i].length));
  return Status::OK();
}

Status DenseBlockStore::AssignRow(uint32_t block, const float* row) {
  if (!Owns(block)) return NotOwned(block);
  const size_t i = static_cast<size_t>(local_of_[block]);
  std::memcpy(data_.data() + row_offset_[i], row, RowFloats(block) * sizeof(float));
  return Status::OK();
}

void PackStoredBlock(const float* row, uint32_t length, size_t row_floats, uint32_t width,
                     uint32_t stored_width, float* wire) {
  std::fill(wire, wire + stored_width, 0.0f);
  std::memcpy(wire, row, length * sizeof(float));
  std::memcpy(wire + width, row + length, (row_floats - length) * sizeof(float));
}

void UnpackStoredBlock(const float* wire, uint32_t length, size_t row_floats, uint32_t width, bool add,
                       float* row) {
  for (uint32_t j = 0; j < length; ++j) row[j] = add ? row[j] + wire[j] : wire[j];
  for (size_t j = length; j < row_floats; ++j) row[j] = add ? row[j] + wire[width + j - length] : wire[width + j - length];
}

Status DenseBlockStore::PullStored(uint32_t block, uint32_t width, uint32_t stored_width, float* out) const {
  if (!Owns(block)) return NotOwned(block);
  const size_t i = static_cast<size_t>(local_of_[block]);
  PackStoredBlock(data_.data() + row_offset_[i], blocks_[i].length, RowFloats(block), width, stored_width, out);
  return Status::OK();
}

Status DenseBlockStore::AddStored(uint32_t block, uint32_t width, const float* delta) {
  if (!Owns(block)) return NotOwned(block);
  const size_t i = static_cast<size_t>(local_of_[block]);
  float* row = data_.data() + row_offset_[i];
  UnpackStoredBlock(delta, blocks_[i].length, RowFloats(block), width, /*add=*/true, row);
  optimizer_->AfterDelta(row, static_cast<int>(blocks_[i].length));
  return Status::OK();
}

size_t DenseBlockStore::MemoryBytes() const {
  return data_.capacity() * sizeof(float) + blocks_.capacity() * sizeof(DenseBlock) +
         local_of_.capacity() * sizeof(int32_t) + row_offset_.capacity() * sizeof(size_t);
}

}  // namespace embark
