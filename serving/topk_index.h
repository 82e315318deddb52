// TopKIndex: the k item vectors with the largest inner product with a query vector -- the
// retrieval step of top-K recommendation -- exactly (a full scan) or approximately (HNSW).
//
// Exact: scores every item with one matrix-vector product (Eigen), keeps the best k. Cost is
// O(items * dim) per query; at ML-100K's 1682 items that is microseconds.
// HNSW (hnswlib): a navigable small-world graph searched in O(log items) hops. HNSW is a
// nearest-neighbour index for a metric; maximum inner product is not a metric, so items are
// lifted to one more dimension where the two coincide (Bachrach et al., 2014): item x becomes
// [x, sqrt(M^2 - |x|^2)] with M the largest item norm, a query q becomes [q, 0], and then
// |q' - x'|^2 = |q|^2 + M^2 - 2 <q, x>, which is smallest exactly where <q, x> is largest.
// Scores returned by either index are the inner products recomputed from the original vectors,
// so a hit has the same score whichever index found it.
//
// Exclusions ("items the user has seen or asked to skip") are item rows passed sorted; HNSW
// asks for k + |excluded| candidates so that excluded ones cannot crowd out the k answers.
// Ties are broken by the smaller row, so results are deterministic.
//
// Thread-safety: immutable after construction; Search is const and safe from many threads
// (hnswlib's search takes its visited-list buffers from a locked pool).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

enum class TopKIndexKind { kExact, kHnsw };
// "exact" or "hnsw".
Status ParseTopKIndexKind(const std::string& name, TopKIndexKind* kind);

struct HnswParams {
  size_t m = 16;                  // graph degree
  size_t ef_construction = 200;   // candidate list while building
  size_t ef_search = 100;         // candidate list while searching (at least k is used)
  uint64_t seed = 100;            // level assignment
};

struct IndexHit {
  uint32_t row;
  float score;  // inner product with the query
};

class TopKIndex {
 public:
  virtual ~TopKIndex() = default;
  // The k rows with the largest <query, vector[row]>, best first, skipping rows in `excluded`
  // (sorted ascending). Fewer than k when there are not enough items.
  virtual void Search(const float* query, size_t k, const std::vector<uint32_t>& excluded,
                      std::vector<IndexHit>* out) const = 0;
};

// Both factories index vectors[0 .. n*dim), row-major. The exact index reads them in place
// (the caller keeps them alive); HNSW copies them into its graph.
std::unique_ptr<TopKIndex> MakeExactIndex(const float* vectors, size_t n, int dim);
Status MakeHnswIndex(const float* vectors, size_t n, int dim, const HnswParams& params,
                     std::unique_ptr<TopKIndex>* out);

// Mean over the queries of |approx top-k  intersect  exact top-k| / |exact top-k|: the recall
// of `approx` measured against `exact` (no exclusions). 1.0 when there are no queries.
double MeasureRecall(const TopKIndex& exact, const TopKIndex& approx, const float* queries,
                     size_t num_queries, int dim, size_t k);

}  // namespace embark
