#include "worker/rating_blocks.h"

#include <utility>

#include "core/hash.h"

namespace embark {

uint32_t RatingBlocks::BlockOf(uint64_t key, int axis, uint32_t grid) {
  // Different salts per axis: a user and an item with the same id land in unrelated blocks.
  const uint64_t h = Mix64(key ^ (axis == 0 ? 0x5bd1e9955bd1e995ull : 0xc2b2ae3d27d4eb4full));
  return static_cast<uint32_t>((static_cast<unsigned __int128>(h) * grid) >> 64);
}

void RatingBlocks::Add(uint64_t user_key, uint64_t item_key, const PairExample& e) {
  blocks_[size_t{BlockOf(user_key, 0, grid_)} * grid_ + BlockOf(item_key, 1, grid_)].push_back(e);
  ++examples_;
}

void RatingBlocks::ShuffleBlock(uint32_t b, uint64_t seed) {
  std::vector<PairExample>& v = blocks_[b];
  const uint64_t s = Mix64(seed ^ Mix64(0x9e3779b97f4a7c15ull + b));
  for (size_t i = v.size(); i > 1; --i) {
    const uint64_t r = Mix64(s ^ Mix64(i));
    const size_t j = static_cast<size_t>((static_cast<unsigned __int128>(r) * i) >> 64);
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace embark
