// RatingBlocks: a worker's share of a pair model's training data (mf: one user row and one item
// row per rating), held in memory as a G x G grid of blocks by user block and item block, for
// conflict-free block training (worker/block_scheduler.h).
//
// A row's block is a hash of its key, so every worker puts a key in the same block whatever
// its replica indices are: with W workers and G a multiple of W, user block u belongs to worker
// u % W, and item block i to item group i % W (the stratified schedule of DSGD rotates the item
// groups among the workers). A block holds its ratings back to back (the replica indices of
// both rows and the label, 12 bytes), so an epoch reads each block in one sequential pass; each
// epoch shuffles the order inside every block.
//
// Thread-safety: Add from one thread while nothing else runs; after that, distinct blocks may be
// shuffled and read concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embark {

struct PairExample {
  uint32_t user;   // replica index in the user table
  uint32_t item;   // replica index in the item table
  float label;
};

class RatingBlocks {
 public:
  explicit RatingBlocks(uint32_t grid) : grid_(grid), blocks_(size_t{grid} * grid) {}

  // The user block (axis 0) or item block (axis 1) of `key` in a grid of `grid` blocks a side.
  static uint32_t BlockOf(uint64_t key, int axis, uint32_t grid);

  uint32_t grid() const { return grid_; }
  size_t num_blocks() const { return blocks_.size(); }
  void Add(uint64_t user_key, uint64_t item_key, const PairExample& e);
  size_t examples() const { return examples_; }
  size_t bytes() const { return examples_ * sizeof(PairExample); }
  // Block b = user_block * grid + item_block.
  const std::vector<PairExample>& block(uint32_t b) const { return blocks_[b]; }
  // A fresh order inside block b, drawn from `seed` and b.
  void ShuffleBlock(uint32_t b, uint64_t seed);

 private:
  uint32_t grid_;
  std::vector<std::vector<PairExample>> blocks_;
  size_t examples_ = 0;
};

}  // namespace embark
