#include "worker/rating_blocks.h"

#include <algorithm>
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

namespace {
// A uniform index below n from the random word r.
inline size_t Below(uint64_t r, size_t n) { return static_cast<size_t>((static_cast<unsigned __int128>(r) * n) >> 64); }
}  // namespace

void RatingBlocks::Group(uint32_t b) {
  // The block's ratings sorted by the grouping row (kept grouped from then on: shuffles move
  // whole groups), and where every group starts.
  std::vector<PairExample>& v = blocks_[b];
  std::vector<uint32_t>& starts = group_starts_[b];
  starts.clear();
  std::sort(v.begin(), v.end(), [this](const PairExample& x, const PairExample& y) { return GroupKey(x) < GroupKey(y); });
  for (uint32_t i = 0; i < v.size(); ++i)
    if (i == 0 || GroupKey(v[i]) != GroupKey(v[i - 1])) starts.push_back(i);
  starts.push_back(static_cast<uint32_t>(v.size()));
}

void RatingBlocks::GroupAll() {
  for (uint32_t b = 0; b < blocks_.size(); ++b)
    if (blocks_[b].size() >= 2) Group(b);
}

void RatingBlocks::ShuffleBlock(uint32_t b, uint64_t seed) {
  std::vector<PairExample>& v = blocks_[b];
  if (v.size() < 2) return;
  std::vector<uint32_t>& starts = group_starts_[b];
  if (starts.empty()) Group(b);
  const uint64_t s = Mix64(seed ^ Mix64(0x9e3779b97f4a7c15ull + b));
  // A random order of the groups, then each group's ratings in a random order, written into
  // a scratch copy (per thread: blocks are shuffled concurrently).
  const size_t groups = starts.size() - 1;
  thread_local std::vector<uint32_t> order;
  thread_local std::vector<PairExample> out;
  order.resize(groups);
  for (uint32_t g = 0; g < groups; ++g) order[g] = g;
  for (size_t i = groups; i > 1; --i) std::swap(order[i - 1], order[Below(Mix64(s ^ Mix64(i)), i)]);
  out.clear();
  out.reserve(v.size());
  std::vector<uint32_t> new_starts;
  new_starts.reserve(starts.size());
  const uint64_t t = Mix64(s ^ 0x2545f4914f6cdd1dull);
  for (uint32_t g : order) {
    new_starts.push_back(static_cast<uint32_t>(out.size()));
    const size_t first = out.size();
    out.insert(out.end(), v.begin() + starts[g], v.begin() + starts[g + 1]);
    for (size_t i = out.size() - first; i > 1; --i)
      std::swap(out[first + i - 1], out[first + Below(Mix64(t ^ Mix64(first + i)), i)]);
  }
  new_starts.push_back(static_cast<uint32_t>(out.size()));
  v.swap(out);
  starts.swap(new_starts);
}

}  // namespace embark
