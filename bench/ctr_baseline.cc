#include "bench/ctr_baseline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "core/liveness.h"
#include "models/logistic_regression.h"  // the shared logit, loss and click-target helpers
#include "models/metrics.h"
#include "ps/optimizer.h"
#include "data/data_reader.h"

namespace embark {

Status CtrBaselineConfigOf(const Model& model, uint64_t seed, CtrBaselineConfig* out) {
  CtrBaselineConfig c;
  c.seed = seed;
  // The baseline re-implements the pure factorisation machines; the model says whether it is one.
  const ModelDescription d = model.Describe();
  if (d.factorization == FactorizationKind::kNone) {
    return Status::InvalidArgument("ctr-baseline: model " + model.name() + " has no baseline (fm and ffm do)");
  }
  c.field_aware = d.factorization == FactorizationKind::kFieldAwareFm;
  c.dim = d.dim;
  c.init_stddev = d.init_stddev;
  if (c.field_aware) {
    c.num_fields = d.num_fields;
    c.reg = d.reg;
    if (d.instance_norm) return Status::InvalidArgument("ctr-baseline: ffm with instance_norm has no baseline");
  }
  c.optimizer = model.Tables()[0].optimizer;  // the factor table's: both machines train it first
  if (c.optimizer.kind != OptimizerKind::kAdaGrad) {
    return Status::InvalidArgument("ctr-baseline: only the adagrad optimizer is implemented, got " +
                                   OptimizerName(c.optimizer.kind));
  }
  *out = c;
  return Status::OK();
}

CtrBaseline::CtrBaseline(const CtrBaselineConfig& config, size_t num_rows)
    : config_(config),
      width_(1 + (config.field_aware ? config.num_fields : 1) * config.dim),
      num_rows_(num_rows),
      params_(num_rows * 2 * width_, 0.0f),
      slot_of_row_(num_rows, kNoSlot),
      factor_sum_(config.dim) {
  std::mt19937_64 rng(config.seed);
  std::normal_distribution<float> init(0.0f, config.init_stddev);
  for (size_t r = 0; r < num_rows; ++r) {
    float* w = Weights(static_cast<uint32_t>(r));
    for (uint32_t j = 0; j < width_; ++j) w[j] = config.init_stddev > 0 ? init(rng) : 0.0f;
    // The AdaGrad sums start where the server's do (OptimizerConfig::adagrad_init).
    std::fill(w + width_, w + 2 * width_, config.optimizer.adagrad_init);
  }
  bias_sum_ = config.optimizer.adagrad_init;
}

double CtrBaseline::Logit(const IndexedExamples& ex, size_t e, double* penalty) {
  const uint32_t k = config_.dim;
  const uint32_t begin = ex.offsets[e], end = ex.offsets[e + 1];
  double z = bias_;
  if (!config_.field_aware) {
    float* sum = factor_sum_.data();
    std::fill(sum, sum + k, 0.0f);
    float square_sum = 0;
    for (uint32_t f = begin; f < end; ++f) {
      const float x = ex.values[f];
      const float* w = Weights(ex.rows[f]);
      z += static_cast<double>(w[0]) * x;
      for (uint32_t j = 0; j < k; ++j) {
        const float t = w[1 + j] * x;
        sum[j] += t;
        square_sum += t * t;
      }
    }
    float pair_sum = 0;
    for (uint32_t j = 0; j < k; ++j) pair_sum += sum[j] * sum[j];
    return z + 0.5 * (static_cast<double>(pair_sum) - square_sum);
  }
  double pen = 0;
  for (uint32_t a = begin; a < end; ++a) {
    const float* wa = Weights(ex.rows[a]);
    z += static_cast<double>(wa[0]) * ex.values[a];
    pen += wa[0] * wa[0];
    for (uint32_t b = a + 1; b < end; ++b) {
      const float* p = wa + 1 + size_t{ex.fields[b]} * k;
      const float* q = Weights(ex.rows[b]) + 1 + size_t{ex.fields[a]} * k;
      float dot = 0, sq = 0;
      for (uint32_t j = 0; j < k; ++j) {
        dot += p[j] * q[j];
        sq += p[j] * p[j] + q[j] * q[j];
      }
      z += static_cast<double>(dot) * ex.values[a] * ex.values[b];
      pen += sq;
    }
  }
  if (penalty != nullptr) *penalty += 0.5 * config_.reg * pen;
  return z;
}

float* CtrBaseline::GradOf(uint32_t row) {
  uint32_t& slot = slot_of_row_[row];
  if (slot == kNoSlot) {
    slot = static_cast<uint32_t>(touched_.size());
    touched_.push_back(row);
    std::memset(grads_.data() + size_t{slot} * width_, 0, width_ * sizeof(float));
  }
  return grads_.data() + size_t{slot} * width_;
}

void CtrBaseline::AdaGrad(float* w, float* n, const float* grad, uint32_t len, float l2) const {
  const float lr = config_.optimizer.lr, eps = config_.optimizer.adagrad_eps;
  for (uint32_t j = 0; j < len; ++j) {
    const float g = grad[j] + l2 * w[j];
    n[j] += g * g;
    const float denom = std::sqrt(n[j]) + eps;
    if (denom > 0.0f) w[j] -= lr * g / denom;
  }
}

double CtrBaseline::TrainBatch(const IndexedExamples& ex, const uint32_t* order, size_t begin, size_t end) {
  // Room for one gradient row per feature occurrence: GradOf never reallocates in the batch.
  size_t features = 0;
  for (size_t i = begin; i < end; ++i) {
    const size_t e = order ? order[i] : i;
    features += ex.offsets[e + 1] - ex.offsets[e];
  }
  if (grads_.size() < features * width_) grads_.resize(features * width_);
  touched_.clear();
  const uint32_t k = config_.dim;
  const float reg = config_.reg;
  double loss = 0, bias_grad = 0;
  for (size_t i = begin; i < end; ++i) {
    const size_t e = order ? order[i] : i;
    double penalty = 0;
    const double z = Logit(ex, e, &penalty);
    double dz;
    loss += LogLossOfLogit(z, ClickTarget(ex.labels[e]), &dz) + penalty;
    bias_grad += dz;
    const float g = static_cast<float>(dz);
    const uint32_t fb = ex.offsets[e], fe = ex.offsets[e + 1];
    if (!config_.field_aware) {
      const float* sum = factor_sum_.data();
      for (uint32_t f = fb; f < fe; ++f) {
        const float x = ex.values[f], gx = g * x;
        const float* w = Weights(ex.rows[f]);
        float* gw = GradOf(ex.rows[f]);
        gw[0] += gx;
        for (uint32_t j = 0; j < k; ++j) gw[1 + j] += gx * (sum[j] - w[1 + j] * x);
      }
      continue;
    }
    for (uint32_t a = fb; a < fe; ++a) GradOf(ex.rows[a]);  // slots first, then pointers
    for (uint32_t a = fb; a < fe; ++a) {
      const float* wa = Weights(ex.rows[a]);
      float* ga = GradOf(ex.rows[a]);
      ga[0] += g * ex.values[a] + reg * wa[0];
      for (uint32_t b = a + 1; b < fe; ++b) {
        const size_t pa = 1 + size_t{ex.fields[b]} * k, pb = 1 + size_t{ex.fields[a]} * k;
        const float* p = wa + pa;
        const float* q = Weights(ex.rows[b]) + pb;
        float* gp = ga + pa;
        float* gq = GradOf(ex.rows[b]) + pb;
        const float s = g * ex.values[a] * ex.values[b];
        for (uint32_t j = 0; j < k; ++j) {
          const float pj = p[j], qj = q[j];
          gp[j] += s * qj + reg * pj;
          gq[j] += s * pj + reg * qj;
        }
      }
    }
  }
  // One AdaGrad step per touched row over its whole width, as the server applies a push.
  for (size_t s = 0; s < touched_.size(); ++s) {
    float* w = Weights(touched_[s]);
    AdaGrad(w, w + width_, grads_.data() + s * width_, width_, config_.optimizer.l2);
    slot_of_row_[touched_[s]] = kNoSlot;
  }
  const float bg = static_cast<float>(bias_grad);
  AdaGrad(&bias_, &bias_sum_, &bg, 1, 0.0f);  // the intercept has no l2 (InterceptTable)
  return loss;
}

float CtrBaseline::Predict(const IndexedExamples& ex, size_t e) {
  return ClickProbability(Logit(ex, e, nullptr));
}

Status LoadIndexedExamples(const std::string& files, DataFormat format, uint32_t max_field,
                           std::unordered_map<uint64_t, uint32_t>* row_of_key, IndexedExamples* out) {
  DataReaderOptions ropts;
  ropts.format = format;
  ropts.files = files;
  ropts.batch_size = 65536;
  // libffm: a field the model has no room for is an error naming the line, as in train.
  if (format == DataFormat::kLibffm && max_field != UINT32_MAX) ropts.parser.num_fields = max_field;
  std::vector<Batch> batches;
  EMBARK_RETURN_IF_ERROR(ReadAll(ropts, &batches));
  for (const Batch& b : batches) {
    for (size_t e = 0; e < b.size(); ++e) {
      for (uint32_t f = b.offsets[e]; f < b.offsets[e + 1]; ++f) {
        if (b.fields[f] >= max_field) continue;
        // find before emplace: emplace builds a node even when the key is already there.
        auto it = row_of_key->find(b.keys[f]);
        if (it == row_of_key->end()) it = row_of_key->emplace(b.keys[f], static_cast<uint32_t>(row_of_key->size())).first;
        out->rows.push_back(it->second);
        out->fields.push_back(b.fields[f]);
        out->values.push_back(b.values[f]);
      }
      out->labels.push_back(b.labels[e]);
      out->offsets.push_back(static_cast<uint32_t>(out->rows.size()));
    }
  }
  return Status::OK();
}

int RunCtrBaseline(const TrainOptions& opts, const Model& model, uint64_t seed) {
  CtrBaselineConfig config;
  Status st = CtrBaselineConfigOf(model, seed, &config);
  const uint32_t max_field = config.field_aware ? config.num_fields : UINT32_MAX;
  std::unordered_map<uint64_t, uint32_t> row_of_key;
  IndexedExamples train, test;
  const double load_start = NowSeconds();
  if (st.ok()) st = LoadIndexedExamples(opts.train, opts.format, max_field, &row_of_key, &train);
  // Test keys get rows too (initialised, never trained), as a cluster's pull creates them.
  if (st.ok() && !opts.test.empty()) st = LoadIndexedExamples(opts.test, opts.format, max_field, &row_of_key, &test);
  if (st.ok() && train.size() == 0) st = Status::InvalidArgument("ctr-baseline: no examples in " + opts.train);
  if (!st.ok()) {
    std::fprintf(stderr, "ctr-baseline: %s\n", st.ToString().c_str());
    return kExitUsage;
  }
  const double load_seconds = NowSeconds() - load_start;
  CtrBaseline trainer(config, row_of_key.size());
  std::vector<uint32_t> order(train.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  std::mt19937_64 rng(seed);
  double loss = 0;
  const double start = NowSeconds();
  const std::clock_t cpu_start = std::clock();
  for (int epoch = 0; epoch < opts.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    loss = 0;
    for (size_t b = 0; b < order.size(); b += opts.batch_size)
      loss += trainer.TrainBatch(train, order.data(), b, std::min(order.size(), b + opts.batch_size));
  }
  const double seconds = NowSeconds() - start;
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::vector<float> preds(test.size());
  for (size_t e = 0; e < test.size(); ++e) preds[e] = trainer.Predict(test, e);
  LogLossMetric logloss;
  logloss.Add(preds.data(), test.labels.data(), test.size());
  const double auc = ExactAuc(preds.data(), test.labels.data(), test.size());
  // CPU time of the loop beside wall time: on a shared machine the CPU figure is what the loop
  // would take on an idle core.
  std::printf("ctr-baseline: %s %.0f rows/s over %d epochs (%zu rows, %zu features, batch %zu, %.2f s, cpu %.2f s; "
              "load %.2f s), train loss %.6f, test logloss %.6f auc %.6f\n",
              model.name().c_str(), train.size() * static_cast<double>(opts.epochs) / seconds, opts.epochs,
              train.size(), row_of_key.size(), opts.batch_size, seconds, cpu_seconds, load_seconds,
              loss / train.size(), logloss.Mean(), auc);
  return kExitOk;
}

}  // namespace embark
