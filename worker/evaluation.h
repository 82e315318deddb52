// Evaluation: test metrics that workers compute on their share of the test set and the
// scheduler merges exactly.
//
// Regression (ratings): RMSE and MAE from sums of squared and absolute errors (exact).
// Classification (clicks): logloss from its sum (exact) and AUC from per-bin positive and
// negative counts over 2^20 prediction bins, merged by adding counts; the only approximation is
// that predictions falling in the same bin count as ties, so the AUC error is bounded by the
// fraction of positive-negative pairs sharing a bin (see models/metrics.h).
// Ranking (implicit feedback): sums of Recall@K, NDCG@K and HitRate@K over test users, for the
// model and for the popularity baseline (models/ranking_metrics.h), merged by adding sums.
//
// Thread-safety: plain value; not synchronised.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "models/model_description.h"
#include "models/ranking_metrics.h"

namespace embark {

class Evaluation {
 public:
  enum Kind { kRegression = 0, kClassification = 1, kRanking = 2 };
  // top_k names the ranking metrics (test_recall@K, ...); other kinds ignore it.
  explicit Evaluation(Kind kind, int top_k = 10);
  // The evaluation of a model's task (ModelDescription::task): the model, not the input
  // format, says whether its predictions are ratings, click probabilities or rankings.
  static Kind KindOf(ModelTask task) {
    return task == ModelTask::kRegression ? kRegression : task == ModelTask::kRanking ? kRanking : kClassification;
  }
  ~Evaluation();
  Evaluation(const Evaluation&) = delete;
  Evaluation& operator=(const Evaluation&) = delete;

  Kind kind() const { return kind_; }
  void Add(const float* preds, const float* labels, size_t n);
  // Ranking only: the model's and the popularity baseline's sums over some test users.
  void AddRanking(const RankingSums& model, const RankingSums& popularity);
  Status Merge(const std::string& serialized);
  std::string Serialize() const;
  // test_rmse/test_mae or test_logloss/test_auc, plus test_examples; ranking:
  // test_recall@K, test_ndcg@K, test_hitrate@K, test_users, pop_recall@K, pop_ndcg@K,
  // pop_hitrate@K.
  std::map<std::string, double> Results() const;

 private:
  struct Impl;
  Kind kind_;
  int top_k_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace embark
