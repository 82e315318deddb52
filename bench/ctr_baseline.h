// CtrBaseline: a tight single-process trainer for the FM and FFM models, the no-network
// throughput baseline of bench/ctr_bench.sh (as mf_sgd_baseline.h is for MF).
//
// It trains exactly the maths of models/fm.h and models/ffm.h -- same score, same gradient
// (FFM's per-use L2 included), same minibatch semantics (gradients summed over a batch computed
// from the weights before the batch, then one AdaGrad step per touched row with the per-push
// l2), same hyper-parameters (taken from the model object) -- but without any of the
// parameter-server machinery: every feature key is resolved to a dense row index once, when
// the file is loaded, and the timed loop touches only plain arrays (weights and AdaGrad state
// side by side in one array, gradients of the batch in a compact buffer found through a per-row
// slot array). Its own code, not a call into FmModel/FfmModel, so matching test loglosses are
// an independent check that the cluster trains the model it claims to.
//
// Differences from a cluster run that do not change the model: initial weights come from the
// baseline's own generator (same distribution), and the example order is a full shuffle per
// epoch rather than the reader's bounded shuffle buffer.
//
// Thread-safety: a CtrBaseline is not synchronised; use one per thread. RunCtrBaseline is
// called once from main().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "ps/table_config.h"
#include "worker/train_options.h"

namespace embark {

// Examples whose features point at dense row indices (CSR, as data/batch.h).
struct IndexedExamples {
  std::vector<float> labels;
  std::vector<uint32_t> offsets{0};
  std::vector<uint32_t> rows;     // per feature: row index into the baseline's table
  std::vector<uint16_t> fields;   // per feature
  std::vector<float> values;      // per feature
  size_t size() const { return labels.size(); }
};

struct CtrBaselineConfig {
  bool field_aware = false;      // false: FM, true: FFM
  uint32_t dim = 8;              // K
  uint32_t num_fields = 1;       // FFM only: fields 0..num_fields-1 (others were dropped at load)
  float init_stddev = 0.01f;     // normal init of every column of a row
  float reg = 0;                 // FFM only: L2 per use (models/ffm.h)
  OptimizerConfig optimizer;     // AdaGrad only: lr, l2 (per push), adagrad_eps
  uint64_t seed = 1;
};

// The configuration that trains the same model as `model` (an FmModel or FfmModel whose
// optimizer is AdaGrad); InvalidArgument naming the model otherwise.
Status CtrBaselineConfigOf(const Model& model, uint64_t seed, CtrBaselineConfig* out);

class CtrBaseline {
 public:
  CtrBaseline(const CtrBaselineConfig& config, size_t num_rows);
  CtrBaseline(const CtrBaseline&) = delete;
  CtrBaseline& operator=(const CtrBaseline&) = delete;

  // Floats of weights per row: 1 + K (FM) or 1 + num_fields * K (FFM); column 0 is the linear
  // weight, as in the models' "v" tables.
  uint32_t width() const { return width_; }
  size_t num_rows() const { return num_rows_; }
  float* Weights(uint32_t row) { return params_.data() + size_t{row} * 2 * width_; }
  float& bias() { return bias_; }

  // One minibatch: examples [begin, end) of `ex` in the order order[begin..end) (or in index
  // order when `order` is null). Returns the summed loss (logloss plus FFM's penalty).
  double TrainBatch(const IndexedExamples& ex, const uint32_t* order, size_t begin, size_t end);
  // Click probability of example e (ClickProbability of the logit, as the models' Predict).
  float Predict(const IndexedExamples& ex, size_t e);

 private:
  // FM: leaves sum_i v_ik x_i in factor_sum_. FFM: adds the per-use penalty to *penalty
  // when it is non-null.
  double Logit(const IndexedExamples& ex, size_t e, double* penalty);
  // The gradient row of `row` in this batch, zeroed on its first use in the batch. Never
  // reallocates inside a batch (TrainBatch reserves room for every feature of the batch).
  float* GradOf(uint32_t row);
  // w -= lr * g' / (sqrt(n) + eps), g' = g + l2 * w, n += g'^2 over n floats (ps/optimizer.h).
  void AdaGrad(float* weights, float* sums, const float* grad, uint32_t n, float l2) const;

  const CtrBaselineConfig config_;
  const uint32_t width_;
  const size_t num_rows_;
  std::vector<float> params_;          // per row: width weights, then width AdaGrad sums
  float bias_ = 0, bias_sum_ = 0;      // the intercept and its AdaGrad sum
  std::vector<uint32_t> slot_of_row_;  // row -> slot in grads_ during a batch, or kNoSlot
  std::vector<uint32_t> touched_;      // rows with a slot, in first-touch order
  std::vector<float> grads_;           // touched_.size() * width
  std::vector<float> factor_sum_;      // FM scratch, K floats
  static constexpr uint32_t kNoSlot = UINT32_MAX;
};

// Reads `files` (any format the trainer reads) and appends its examples to `out`, giving every
// new key the next row index in `index` (load time, not timed). A libffm line with a field
// >= max_field (FFM's num_fields) is refused, as the trainer's reader does; in the other
// formats such features are dropped. Errors name the file and line.
Status LoadIndexedExamples(const std::string& files, DataFormat format, uint32_t max_field,
                           std::unordered_map<uint64_t, uint32_t>* row_of_key, IndexedExamples* out);

// `embark ctr-baseline`: trains opts.train for opts.epochs with the model's hyper-parameters
// and opts.batch_size, then evaluates opts.test. Prints
//   "ctr-baseline: MODEL N rows/s over E epochs (R rows, S s), test logloss L auc A"
// and returns an exit code.
int RunCtrBaseline(const TrainOptions& opts, const Model& model, uint64_t seed);

}  // namespace embark
