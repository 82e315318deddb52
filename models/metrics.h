// Evaluation metrics as accumulators that merge exactly across threads and workers.
//
// Each accumulator keeps sufficient statistics (sums and counts, or a histogram), never a list
// of examples, so a worker can evaluate its shard, Serialize() the accumulator, ship the bytes,
// and the scheduler can Parse() and Merge() them into the same numbers one process would have
// computed on all the examples (counts are exact; double sums differ only by the order of
// additions).
//
//   RegressionMetrics  RMSE and MAE from (sum of squared errors, sum of absolute errors, count)
//   LogLossMetric      mean logloss from (sum, count)
//   AucHistogram       AUC from per-bin positive/negative counts over [0, 1]
//   ExactAuc()         AUC by sorting a full vector of predictions (single process)
//
// Binned AUC: predictions in the same bin count as ties (half credit), so the binned value
// differs from the exact one by at most MaxError() = 0.5 * sum_b pos_b * neg_b / (P * N). With
// the default 2^20 bins (width ~1e-6) that is negligible unless many predictions coincide, and
// predictions that are exactly equal are ties in the exact AUC too.
//
// Serialized form: little-endian binary (the wire format of the project), starting with a
// 4-byte tag and a 4-byte version so a wrong or truncated buffer is reported, not misread.
//
// Thread-safety: none of these is synchronised; give each thread its own accumulator and merge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

class RegressionMetrics {
 public:
  void Add(double prediction, double label) {
    const double err = prediction - label;
    sum_squared_error_ += err * err;
    sum_absolute_error_ += err < 0 ? -err : err;
    ++count_;
  }
  void Add(const float* predictions, const float* labels, size_t n);
  void Merge(const RegressionMetrics& other);

  uint64_t count() const { return count_; }
  double sum_squared_error() const { return sum_squared_error_; }
  double sum_absolute_error() const { return sum_absolute_error_; }
  double Rmse() const;  // NaN when empty
  double Mae() const;   // NaN when empty

  std::string Serialize() const;
  static Status Parse(const std::string& bytes, RegressionMetrics* out);

 private:
  double sum_squared_error_ = 0;
  double sum_absolute_error_ = 0;
  uint64_t count_ = 0;
};

// Mean of -y log p - (1-y) log(1-p) over examples. p is clamped to [1e-15, 1 - 1e-15] so one
// confident mistake costs about 34.5, not infinity. The target y is the label mapped as in
// models/logistic_regression.h (label <= 0 -> 0, label >= 1 -> 1, soft labels in between).
class LogLossMetric {
 public:
  void Add(double probability, float label);
  void Add(const float* probabilities, const float* labels, size_t n);
  void Merge(const LogLossMetric& other);

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double Mean() const;  // NaN when empty

  std::string Serialize() const;
  static Status Parse(const std::string& bytes, LogLossMetric* out);

 private:
  double sum_ = 0;
  uint64_t count_ = 0;
};

// AUC (probability that a random positive scores above a random negative, ties half) from a
// histogram of predictions over [0, 1] split in 2^log2_bins equal bins. A label > 0.5 is a
// positive. Predictions outside [0, 1] are clamped into the end bins; NaN predictions are not
// counted (see skipped()).
class AucHistogram {
 public:
  static constexpr int kDefaultLog2Bins = 20;
  static constexpr int kMaxLog2Bins = 26;

  // log2_bins is clamped to [1, kMaxLog2Bins]. Memory: 16 bytes per bin (16 MiB by default).
  explicit AucHistogram(int log2_bins = kDefaultLog2Bins);

  void Add(float prediction, float label) {
    if (prediction != prediction) {  // NaN
      ++skipped_;
      return;
    }
    const size_t bin = BinOf(prediction);
    if (label > 0.5f) {
      ++positives_[bin];
    } else {
      ++negatives_[bin];
    }
  }
  void Add(const float* predictions, const float* labels, size_t n);
  // InvalidArgument when the bin counts differ.
  Status Merge(const AucHistogram& other);

  int log2_bins() const { return log2_bins_; }
  size_t num_bins() const { return positives_.size(); }
  uint64_t positives() const;
  uint64_t negatives() const;
  uint64_t skipped() const { return skipped_; }
  double Auc() const;       // NaN when there is no positive or no negative
  double MaxError() const;  // bound on |Auc() - exact AUC| from pairs sharing a bin
  void Clear();

  // Sparse: only non-empty bins are written, so the size follows the number of examples.
  std::string Serialize() const;
  static Status Parse(const std::string& bytes, AucHistogram* out);

 private:
  size_t BinOf(float prediction) const {
    if (!(prediction > 0)) return 0;
    if (prediction >= 1) return positives_.size() - 1;
    return static_cast<size_t>(static_cast<double>(prediction) * positives_.size());
  }

  int log2_bins_;
  std::vector<uint64_t> positives_;
  std::vector<uint64_t> negatives_;
  uint64_t skipped_ = 0;
};

// Exact AUC by sorting: tied predictions get half credit (Mann-Whitney U / (P * N)). A label
// > 0.5 is a positive; NaN predictions are ignored. Returns NaN when there is no positive or no
// negative. O(n log n) time, O(n) memory.
double ExactAuc(const float* predictions, const float* labels, size_t n);

}  // namespace embark
