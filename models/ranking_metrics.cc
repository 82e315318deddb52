#include "models/ranking_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

namespace embark {

std::string RankingSums::Serialize() const {
  std::string out(32, '\0');
  std::memcpy(&out[0], &users, 8);
  std::memcpy(&out[8], &recall, 8);
  std::memcpy(&out[16], &ndcg, 8);
  std::memcpy(&out[24], &hits, 8);
  return out;
}

Status RankingSums::Parse(const std::string& bytes, RankingSums* out) {
  if (bytes.size() != 32) {
    return Status::Corruption("ranking sums of " + std::to_string(bytes.size()) + " bytes, want 32");
  }
  std::memcpy(&out->users, &bytes[0], 8);
  std::memcpy(&out->recall, &bytes[8], 8);
  std::memcpy(&out->ndcg, &bytes[16], 8);
  std::memcpy(&out->hits, &bytes[24], 8);
  return Status::OK();
}

namespace {

struct Candidate {
  float score;
  uint32_t item;
};

// True when a ranks before b: higher score, then smaller index.
inline bool Better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}

}  // namespace

void TopK(const float* scores, size_t n, const uint32_t* excluded_sorted, size_t n_excluded,
          int k, std::vector<uint32_t>* top) {
  top->clear();
  if (k <= 0) return;
  const size_t want = static_cast<size_t>(k);
  // A heap whose front is the WORST kept candidate (std heaps keep the "largest" under the
  // comparator at the front, so the comparator says "a is better than b").
  std::vector<Candidate> heap;
  heap.reserve(want);
  size_t next_excluded = 0;
  for (size_t i = 0; i < n; ++i) {
    while (next_excluded < n_excluded && excluded_sorted[next_excluded] < i) ++next_excluded;
    if (next_excluded < n_excluded && excluded_sorted[next_excluded] == i) continue;
    float s = scores[i];
    if (std::isnan(s)) s = -std::numeric_limits<float>::infinity();
    const Candidate c{s, static_cast<uint32_t>(i)};
    if (heap.size() < want) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), Better);
    } else if (Better(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), Better);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), Better);
    }
  }
  std::sort(heap.begin(), heap.end(), Better);
  for (const Candidate& c : heap) top->push_back(c.item);
}

void AddUserMetrics(const std::vector<uint32_t>& top, const uint32_t* held_out_sorted,
                    size_t n_held, int k, RankingSums* sums) {
  if (n_held == 0) return;
  double dcg = 0;
  size_t hits = 0;
  const size_t ranks = std::min(top.size(), static_cast<size_t>(std::max(k, 0)));
  for (size_t r = 0; r < ranks; ++r) {
    if (std::binary_search(held_out_sorted, held_out_sorted + n_held, top[r])) {
      ++hits;
      dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    }
  }
  double ideal = 0;
  const size_t ideal_ranks = std::min(n_held, static_cast<size_t>(std::max(k, 0)));
  for (size_t r = 0; r < ideal_ranks; ++r) ideal += 1.0 / std::log2(static_cast<double>(r) + 2.0);
  sums->users += 1;
  sums->recall += static_cast<double>(hits) / static_cast<double>(n_held);
  sums->ndcg += ideal > 0 ? dcg / ideal : 0;
  sums->hits += hits > 0 ? 1 : 0;
}

PopularityRanker::PopularityRanker(const std::vector<uint64_t>& counts) : order_(counts.size()) {
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(),
                   [&counts](uint32_t a, uint32_t b) { return counts[a] > counts[b]; });
}

void PopularityRanker::TopK(const uint32_t* excluded_sorted, size_t n_excluded, int k,
                            std::vector<uint32_t>* top) const {
  top->clear();
  for (uint32_t item : order_) {
    if (static_cast<int>(top->size()) >= k) break;
    if (std::binary_search(excluded_sorted, excluded_sorted + n_excluded, item)) continue;
    top->push_back(item);
  }
}

}  // namespace embark
