#include "models/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "models/logistic_regression.h"

namespace embark {
namespace {

constexpr uint32_t kVersion = 1;
// Tags are four ASCII letters read as a little-endian uint32.
constexpr uint32_t Tag(const char (&s)[5]) {
  return static_cast<uint32_t>(s[0]) | static_cast<uint32_t>(s[1]) << 8 |
         static_cast<uint32_t>(s[2]) << 16 | static_cast<uint32_t>(s[3]) << 24;
}
constexpr uint32_t kRegressionTag = Tag("EMRG");
constexpr uint32_t kLogLossTag = Tag("EMLL");
constexpr uint32_t kAucTag = Tag("EMAU");

// Appends fixed-width values in the host's byte order, which the project requires to be
// little-endian (see the wire format notes in the design).
class Writer {
 public:
  template <typename T>
  void Put(T value) {
    char buf[sizeof(T)];
    std::memcpy(buf, &value, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads what Writer wrote; every read is bounds-checked.
class Reader {
 public:
  Reader(const std::string& bytes, const char* what) : bytes_(bytes), what_(what) {}

  template <typename T>
  bool Get(T* value) {
    if (bytes_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  size_t remaining() const { return bytes_.size() - pos_; }

  // Checks tag and version; returns a Corruption naming the accumulator otherwise.
  Status Header(uint32_t expected_tag) {
    uint32_t tag = 0, version = 0;
    if (!Get(&tag) || !Get(&version)) return Error("buffer shorter than its 8-byte header");
    if (tag != expected_tag) return Error("wrong tag (not this kind of accumulator)");
    if (version != kVersion) return Error("unsupported version " + std::to_string(version));
    return Status::OK();
  }
  Status Error(const std::string& why) const {
    return Status::Corruption(std::string(what_) + ": " + why + " (at byte " +
                              std::to_string(pos_) + " of " + std::to_string(bytes_.size()) +
                              ")");
  }

 private:
  const std::string& bytes_;
  const char* what_;
  size_t pos_ = 0;
};

}  // namespace

// ---------------------------------------------------------------- RegressionMetrics

void RegressionMetrics::Add(const float* predictions, const float* labels, size_t n) {
  for (size_t i = 0; i < n; ++i) Add(predictions[i], labels[i]);
}

void RegressionMetrics::Merge(const RegressionMetrics& other) {
  sum_squared_error_ += other.sum_squared_error_;
  sum_absolute_error_ += other.sum_absolute_error_;
  count_ += other.count_;
}

double RegressionMetrics::Rmse() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(sum_squared_error_ / static_cast<double>(count_));
}

double RegressionMetrics::Mae() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return sum_absolute_error_ / static_cast<double>(count_);
}

std::string RegressionMetrics::Serialize() const {
  Writer w;
  w.Put(kRegressionTag);
  w.Put(kVersion);
  w.Put(count_);
  w.Put(sum_squared_error_);
  w.Put(sum_absolute_error_);
  return w.Take();
}

Status RegressionMetrics::Parse(const std::string& bytes, RegressionMetrics* out) {
  Reader r(bytes, "RegressionMetrics");
  EMBARK_RETURN_IF_ERROR(r.Header(kRegressionTag));
  RegressionMetrics m;
  if (!r.Get(&m.count_) || !r.Get(&m.sum_squared_error_) || !r.Get(&m.sum_absolute_error_)) {
    return r.Error("truncated");
  }
  if (r.remaining() != 0) return r.Error("trailing bytes");
  *out = m;
  return Status::OK();
}

// ---------------------------------------------------------------- LogLossMetric

void LogLossMetric::Add(double probability, float label) {
  constexpr double kEdge = 1e-15;
  // NaN compares false and falls to the upper clamp: a NaN prediction costs the maximum.
  const double p = probability > kEdge ? (probability < 1 - kEdge ? probability : 1 - kEdge)
                                       : (probability <= kEdge ? kEdge : 1 - kEdge);
  const double y = ClickTarget(label);
  sum_ += -y * std::log(p) - (1 - y) * std::log1p(-p);
  ++count_;
}

void LogLossMetric::Add(const float* probabilities, const float* labels, size_t n) {
  for (size_t i = 0; i < n; ++i) Add(probabilities[i], labels[i]);
}

void LogLossMetric::Merge(const LogLossMetric& other) {
  sum_ += other.sum_;
  count_ += other.count_;
}

double LogLossMetric::Mean() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return sum_ / static_cast<double>(count_);
}

std::string LogLossMetric::Serialize() const {
  Writer w;
  w.Put(kLogLossTag);
  w.Put(kVersion);
  w.Put(count_);
  w.Put(sum_);
  return w.Take();
}

Status LogLossMetric::Parse(const std::string& bytes, LogLossMetric* out) {
  Reader r(bytes, "LogLossMetric");
  EMBARK_RETURN_IF_ERROR(r.Header(kLogLossTag));
  LogLossMetric m;
  if (!r.Get(&m.count_) || !r.Get(&m.sum_)) return r.Error("truncated");
  if (r.remaining() != 0) return r.Error("trailing bytes");
  *out = m;
  return Status::OK();
}

// ---------------------------------------------------------------- AucHistogram

AucHistogram::AucHistogram(int log2_bins)
    : log2_bins_(std::min(kMaxLog2Bins, std::max(1, log2_bins))),
      positives_(size_t{1} << log2_bins_, 0),
      negatives_(size_t{1} << log2_bins_, 0) {}

void AucHistogram::Add(const float* predictions, const float* labels, size_t n) {
  for (size_t i = 0; i < n; ++i) Add(predictions[i], labels[i]);
}

Status AucHistogram::Merge(const AucHistogram& other) {
  if (other.log2_bins_ != log2_bins_) {
    return Status::InvalidArgument("AucHistogram::Merge: 2^" + std::to_string(other.log2_bins_) +
                                   " bins into 2^" + std::to_string(log2_bins_));
  }
  for (size_t b = 0; b < positives_.size(); ++b) {
    positives_[b] += other.positives_[b];
    negatives_[b] += other.negatives_[b];
  }
  skipped_ += other.skipped_;
  return Status::OK();
}

uint64_t AucHistogram::positives() const {
  uint64_t total = 0;
  for (uint64_t c : positives_) total += c;
  return total;
}

uint64_t AucHistogram::negatives() const {
  uint64_t total = 0;
  for (uint64_t c : negatives_) total += c;
  return total;
}

double AucHistogram::Auc() const {
  // Walk bins from low to high scores: each positive beats every negative in lower bins and
  // ties (half credit) with the negatives of its own bin.
  double wins = 0;
  double negatives_below = 0;
  for (size_t b = 0; b < positives_.size(); ++b) {
    const double pos = static_cast<double>(positives_[b]);
    const double neg = static_cast<double>(negatives_[b]);
    wins += pos * (negatives_below + 0.5 * neg);
    negatives_below += neg;
  }
  const double pairs = static_cast<double>(positives()) * static_cast<double>(negatives());
  if (pairs == 0) return std::numeric_limits<double>::quiet_NaN();
  return wins / pairs;
}

double AucHistogram::MaxError() const {
  double same_bin_pairs = 0;
  for (size_t b = 0; b < positives_.size(); ++b) {
    same_bin_pairs += static_cast<double>(positives_[b]) * static_cast<double>(negatives_[b]);
  }
  const double pairs = static_cast<double>(positives()) * static_cast<double>(negatives());
  if (pairs == 0) return 0;
  return 0.5 * same_bin_pairs / pairs;
}

void AucHistogram::Clear() {
  std::fill(positives_.begin(), positives_.end(), 0);
  std::fill(negatives_.begin(), negatives_.end(), 0);
  skipped_ = 0;
}

std::string AucHistogram::Serialize() const {
  uint64_t non_empty = 0;
  for (size_t b = 0; b < positives_.size(); ++b) {
    if (positives_[b] != 0 || negatives_[b] != 0) ++non_empty;
  }
  Writer w;
  w.Put(kAucTag);
  w.Put(kVersion);
  w.Put(static_cast<uint32_t>(log2_bins_));
  w.Put(skipped_);
  w.Put(non_empty);
  for (size_t b = 0; b < positives_.size(); ++b) {
    if (positives_[b] == 0 && negatives_[b] == 0) continue;
    w.Put(static_cast<uint32_t>(b));
    w.Put(positives_[b]);
    w.Put(negatives_[b]);
  }
  return w.Take();
}

Status AucHistogram::Parse(const std::string& bytes, AucHistogram* out) {
  Reader r(bytes, "AucHistogram");
  EMBARK_RETURN_IF_ERROR(r.Header(kAucTag));
  uint32_t log2_bins = 0;
  uint64_t skipped = 0, non_empty = 0;
  if (!r.Get(&log2_bins) || !r.Get(&skipped) || !r.Get(&non_empty)) return r.Error("truncated");
  if (log2_bins < 1 || log2_bins > static_cast<uint32_t>(kMaxLog2Bins)) {
    return r.Error("bin exponent " + std::to_string(log2_bins) + " out of range");
  }
  constexpr size_t kEntryBytes = sizeof(uint32_t) + 2 * sizeof(uint64_t);
  if (non_empty > (size_t{1} << log2_bins) || r.remaining() != non_empty * kEntryBytes) {
    return r.Error(std::to_string(non_empty) + " bins announced, " +
                   std::to_string(r.remaining()) + " bytes follow");
  }
  AucHistogram h(static_cast<int>(log2_bins));
  h.skipped_ = skipped;
  int64_t previous = -1;
  for (uint64_t i = 0; i < non_empty; ++i) {
    uint32_t bin = 0;
    uint64_t pos = 0, neg = 0;
    r.Get(&bin);
    r.Get(&pos);
    r.Get(&neg);
    if (static_cast<int64_t>(bin) <= previous || bin >= h.positives_.size()) {
      return r.Error("bin index " + std::to_string(bin) + " out of order or out of range");
    }
    previous = bin;
    h.positives_[bin] = pos;
    h.negatives_[bin] = neg;
  }
  *out = std::move(h);
  return Status::OK();
}

// ---------------------------------------------------------------- ExactAuc

double ExactAuc(const float* predictions, const float* labels, size_t n) {
  std::vector<std::pair<float, bool>> scored;
  scored.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (predictions[i] != predictions[i]) continue;  // NaN
    scored.emplace_back(predictions[i], labels[i] > 0.5f);
  }
  std::sort(scored.begin(), scored.end(),
            [](const std::pair<float, bool>& a, const std::pair<float, bool>& b) {
              return a.first < b.first;
            });
  double wins = 0, negatives_below = 0, positives = 0;
  for (size_t i = 0; i < scored.size();) {
    // One group of equal predictions: its positives tie with its negatives.
    size_t j = i;
    double pos = 0, neg = 0;
    for (; j < scored.size() && scored[j].first == scored[i].first; ++j) {
      if (scored[j].second) {
        ++pos;
      } else {
        ++neg;
      }
    }
    wins += pos * (negatives_below + 0.5 * neg);
    negatives_below += neg;
    positives += pos;
    i = j;
  }
  const double pairs = positives * negatives_below;
  if (pairs == 0) return std::numeric_limits<double>::quiet_NaN();
  return wins / pairs;
}

}  // namespace embark
