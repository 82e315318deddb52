// Ranking metrics for implicit-feedback recommendation: exact top-K over a catalogue of items,
// and Recall@K, NDCG@K and HitRate@K of one user's top-K against the user's held-out items,
// summed over users so that sums from several workers merge exactly.
//
// Definitions (H = the user's held-out items, |H| >= 1; rel_r = 1 if the item at rank r is in H):
//   HitRate@K = 1 if any of the top K is in H, else 0
//   Recall@K  = |top K ∩ H| / |H|
//   NDCG@K    = DCG / IDCG,  DCG = sum_{r=1..K} rel_r / log2(r + 1),
//               IDCG = sum_{r=1..min(K, |H|)} 1 / log2(r + 1)
// and each reported metric is the mean over evaluated users.
//
// Top-K: the K highest scores among the items not excluded (the user's training items), ties
// broken by the smaller item index, so the result is exact and deterministic. It keeps a
// bounded heap of K candidates while scanning the scores once: O(n log K) time, O(K) memory
// (no copy of the n scores). A NaN score ranks below every number.
//
// Popularity baseline: the same top-K with every item scored by its number of training
// interactions; PopularityRanker sorts the catalogue once and then walks it per user, skipping
// the user's excluded items.
//
// Thread-safety: free functions are thread-safe; RankingSums and PopularityRanker are plain
// values (PopularityRanker's const methods may be called concurrently).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

// Metric sums over users (divide by `users` for the means).
struct RankingSums {
  uint64_t users = 0;
  double recall = 0;
  double ndcg = 0;
  double hits = 0;

  void Merge(const RankingSums& other) {
    users += other.users;
    recall += other.recall;
    ndcg += other.ndcg;
    hits += other.hits;
  }
  double MeanRecall() const { return users ? recall / users : 0; }
  double MeanNdcg() const { return users ? ndcg / users : 0; }
  double MeanHitRate() const { return users ? hits / users : 0; }
  // Fixed 32-byte little-endian layout: users, recall, ndcg, hits.
  std::string Serialize() const;
  static Status Parse(const std::string& bytes, RankingSums* out);
};

// Writes to *top the indices of the k best-scored items of scores[0, n), best first, skipping
// the indices in excluded_sorted[0, n_excluded) (ascending; repeats allowed). Fewer than k
// when fewer items remain.
void TopK(const float* scores, size_t n, const uint32_t* excluded_sorted, size_t n_excluded,
          int k, std::vector<uint32_t>* top);

// Adds one user to *sums: `top` is the user's ranking (at most k items, best first),
// held_out_sorted[0, n_held) the user's held-out items (ascending, distinct, n_held >= 1).
void AddUserMetrics(const std::vector<uint32_t>& top, const uint32_t* held_out_sorted,
                    size_t n_held, int k, RankingSums* sums);

class PopularityRanker {
 public:
  // counts[i] = training interactions of item i.
  explicit PopularityRanker(const std::vector<uint64_t>& counts);
  // The k most popular items not in excluded_sorted (ascending), ties by smaller index.
  void TopK(const uint32_t* excluded_sorted, size_t n_excluded, int k,
            std::vector<uint32_t>* top) const;

 private:
  std::vector<uint32_t> order_;  // item indices, most popular first
};

}  // namespace embark
