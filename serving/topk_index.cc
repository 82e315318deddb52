#include "serving/topk_index.h"

// hnswlib 0.6.2's SSE path prefetches the neighbour after the last one of a link list, and to
// compute that address it reads one id past the list: past the end of the heap block that
// holds an upper-level list (AddressSanitizer: heap-buffer-overflow in addPoint, from
// searchBaseLayer, whenever a list is full). With NO_MANUAL_VECTORIZATION hnswlib neither
// prefetches nor picks its own SIMD distances; L2LiftedSpace below supplies a distance that
// Eigen vectorises.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace embark {
namespace {

using ConstMatrix = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstVector = Eigen::Map<const Eigen::VectorXf>;

// Better first: larger score, then smaller row.
inline bool Better(const IndexHit& a, const IndexHit& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

bool IsExcluded(const std::vector<uint32_t>& excluded, uint32_t row) {
  return std::binary_search(excluded.begin(), excluded.end(), row);
}

class ExactIndex : public TopKIndex {
 public:
  ExactIndex(const float* vectors, size_t n, int dim) : vectors_(vectors), n_(n), dim_(dim) {}

  void Search(const float* query, size_t k, const std::vector<uint32_t>& excluded,
              std::vector<IndexHit>* out) const override {
    out->clear();
    if (k == 0 || n_ == 0) return;
    const Eigen::VectorXf scores = ConstMatrix(vectors_, n_, dim_) * ConstVector(query, dim_);
    // A heap of the best k so far, worst on top; excluded rows are skipped in one merge walk.
    auto worse_on_top = [](const IndexHit& a, const IndexHit& b) { return Better(a, b); };
    size_t next_excluded = 0;
    for (size_t r = 0; r < n_; ++r) {
      while (next_excluded < excluded.size() && excluded[next_excluded] < r) ++next_excluded;
      if (next_excluded < excluded.size() && excluded[next_excluded] == r) continue;
      const IndexHit hit{static_cast<uint32_t>(r), scores[r]};
      if (out->size() < k) {
        out->push_back(hit);
        std::push_heap(out->begin(), out->end(), worse_on_top);
      } else if (Better(hit, out->front())) {
        std::pop_heap(out->begin(), out->end(), worse_on_top);
        out->back() = hit;
        std::push_heap(out->begin(), out->end(), worse_on_top);
      }
    }
    std::sort(out->begin(), out->end(), Better);
  }

 private:
  const float* vectors_;
  size_t n_;
  int dim_;
};

// Squared L2 distance between two vectors of `dim` floats, as hnswlib's space interface wants it.
class L2LiftedSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit L2LiftedSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &Distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  static float Distance(const void* a, const void* b, const void* dim_ptr) {
    const Eigen::Index dim = static_cast<Eigen::Index>(*static_cast<const size_t*>(dim_ptr));
    return (ConstVector(static_cast<const float*>(a), dim) - ConstVector(static_cast<const float*>(b), dim)).squaredNorm();
  }
  size_t dim_;
};

class HnswIndex : public TopKIndex {
 public:
  HnswIndex(const float* vectors, size_t n, int dim, const HnswParams& params)
      : vectors_(vectors, vectors + n * dim), n_(n), dim_(dim), space_(dim + 1) {
    double max_sq = 0;
    for (size_t r = 0; r < n; ++r) max_sq = std::max(max_sq, SquaredNorm(r));
    graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_, std::max<size_t>(n, 1), params.m,
                                                               params.ef_construction, params.seed);
    graph_->setEf(params.ef_search);
    std::vector<float> lifted(dim + 1);
    for (size_t r = 0; r < n; ++r) {
      std::copy(vectors + r * dim, vectors + (r + 1) * dim, lifted.begin());
      lifted[dim] = static_cast<float>(std::sqrt(std::max(0.0, max_sq - SquaredNorm(r))));
      graph_->addPoint(lifted.data(), r);
    }
  }

  void Search(const float* query, size_t k, const std::vector<uint32_t>& excluded,
              std::vector<IndexHit>* out) const override {
    out->clear();
    if (k == 0 || n_ == 0) return;
    std::vector<float> lifted(query, query + dim_);
    lifted.push_back(0.0f);
    const size_t want = std::min(n_, k + excluded.size());
    auto found = graph_->searchKnn(lifted.data(), want);  // farthest on top
    const ConstVector q(query, dim_);
    while (!found.empty()) {
      const uint32_t row = static_cast<uint32_t>(found.top().second);
      found.pop();
      if (IsExcluded(excluded, row)) continue;
      out->push_back({row, q.dot(ConstVector(vectors_.data() + static_cast<size_t>(row) * dim_, dim_))});
    }
    std::sort(out->begin(), out->end(), Better);
    if (out->size() > k) out->resize(k);
  }

 private:
  double SquaredNorm(size_t r) const {
    double s = 0;
    for (int j = 0; j < dim_; ++j) s += static_cast<double>(vectors_[r * dim_ + j]) * vectors_[r * dim_ + j];
    return s;
  }

  std::vector<float> vectors_;
  size_t n_;
  int dim_;
  L2LiftedSpace space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
};

}  // namespace

Status ParseTopKIndexKind(const std::string& name, TopKIndexKind* kind) {
  if (name == "exact") {
    *kind = TopKIndexKind::kExact;
  } else if (name == "hnsw") {
    *kind = TopKIndexKind::kHnsw;
  } else {
    return Status::InvalidArgument("--index must be exact or hnsw, got '" + name + "'");
  }
  return Status::OK();
}

std::unique_ptr<TopKIndex> MakeExactIndex(const float* vectors, size_t n, int dim) {
  return std::make_unique<ExactIndex>(vectors, n, dim);
}

Status MakeHnswIndex(const float* vectors, size_t n, int dim, const HnswParams& params,
                     std::unique_ptr<TopKIndex>* out) {
  if (dim <= 0) return Status::InvalidArgument("hnsw index: vectors need at least one dimension");
  if (params.m < 2 || params.ef_construction < 1 || params.ef_search < 1)
    return Status::InvalidArgument("hnsw index: m must be >= 2 and ef values >= 1");
  try {
    *out = std::make_unique<HnswIndex>(vectors, n, dim, params);
  } catch (const std::exception& e) {  // hnswlib reports allocation failures by throwing
    return Status::Internal(std::string("hnsw index: ") + e.what());
  }
  return Status::OK();
}

double MeasureRecall(const TopKIndex& exact, const TopKIndex& approx, const float* queries,
                     size_t num_queries, int dim, size_t k) {
  if (num_queries == 0) return 1.0;
  const std::vector<uint32_t> none;
  std::vector<IndexHit> truth, found;
  double sum = 0;
  for (size_t i = 0; i < num_queries; ++i) {
    exact.Search(queries + i * dim, k, none, &truth);
    approx.Search(queries + i * dim, k, none, &found);
    if (truth.empty()) {
      sum += 1.0;
      continue;
    }
    std::vector<uint32_t> want;
    for (const auto& h : truth) want.push_back(h.row);
    std::sort(want.begin(), want.end());
    size_t hits = 0;
    for (const auto& h : found) hits += std::binary_search(want.begin(), want.end(), h.row);
    sum += static_cast<double>(hits) / truth.size();
  }
  return sum / num_queries;
}

}  // namespace embark
