#include "worker/evaluation.h"

#include <cstring>

#include "models/metrics.h"

namespace embark {

struct Evaluation::Impl {
  RegressionMetrics regression;
  LogLossMetric logloss;
  std::unique_ptr<AucHistogram> auc;  // classification only (16 MiB of bins)
  RankingSums ranking;                // ranking only: the model
  RankingSums popularity;             // ranking only: the popularity baseline
};

Evaluation::Evaluation(Kind kind, int top_k) : kind_(kind), top_k_(top_k), impl_(std::make_unique<Impl>()) {
  if (kind_ == kClassification) impl_->auc = std::make_unique<AucHistogram>();
}

Evaluation::~Evaluation() = default;

void Evaluation::AddRanking(const RankingSums& model, const RankingSums& popularity) {
  impl_->ranking.Merge(model);
  impl_->popularity.Merge(popularity);
}

void Evaluation::Add(const float* preds, const float* labels, size_t n) {
  if (kind_ == kRanking) return;
  if (kind_ == kRegression) {
    impl_->regression.Add(preds, labels, n);
  } else {
    impl_->logloss.Add(preds, labels, n);
    impl_->auc->Add(preds, labels, n);
  }
}

// Layout: one kind byte, then the parts' own serialisations, each prefixed by its length.
std::string Evaluation::Serialize() const {
  std::string out(1, static_cast<char>(kind_));
  auto append = [&out](const std::string& part) {
    const uint64_t n = part.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof(n));
    out += part;
  };
  if (kind_ == kRanking) {
    append(impl_->ranking.Serialize());
    append(impl_->popularity.Serialize());
  } else if (kind_ == kRegression) {
    append(impl_->regression.Serialize());
  } else {
    append(impl_->logloss.Serialize());
    append(impl_->auc->Serialize());
  }
  return out;
}

Status Evaluation::Merge(const std::string& bytes) {
  if (bytes.empty() || bytes[0] != static_cast<char>(kind_)) return Status::Corruption("evaluation of another kind");
  size_t pos = 1;
  auto next = [&](std::string* part) -> Status {
    uint64_t n;
    if (bytes.size() - pos < sizeof(n)) return Status::Corruption("truncated evaluation");
    std::memcpy(&n, bytes.data() + pos, sizeof(n));
    pos += sizeof(n);
    if (bytes.size() - pos < n) return Status::Corruption("truncated evaluation");
    part->assign(bytes, pos, n);
    pos += n;
    return Status::OK();
  };
  std::string part;
  if (kind_ == kRanking) {
    RankingSums model, popularity;
    EMBARK_RETURN_IF_ERROR(next(&part));
    EMBARK_RETURN_IF_ERROR(RankingSums::Parse(part, &model));
    EMBARK_RETURN_IF_ERROR(next(&part));
    EMBARK_RETURN_IF_ERROR(RankingSums::Parse(part, &popularity));
    AddRanking(model, popularity);
  } else if (kind_ == kRegression) {
    RegressionMetrics m;
    EMBARK_RETURN_IF_ERROR(next(&part));
    EMBARK_RETURN_IF_ERROR(RegressionMetrics::Parse(part, &m));
    impl_->regression.Merge(m);
  } else {
    LogLossMetric l;
    EMBARK_RETURN_IF_ERROR(next(&part));
    EMBARK_RETURN_IF_ERROR(LogLossMetric::Parse(part, &l));
    AucHistogram a;
    EMBARK_RETURN_IF_ERROR(next(&part));
    EMBARK_RETURN_IF_ERROR(AucHistogram::Parse(part, &a));
    impl_->logloss.Merge(l);
    EMBARK_RETURN_IF_ERROR(impl_->auc->Merge(a));
  }
  return Status::OK();
}

std::map<std::string, double> Evaluation::Results() const {
  std::map<std::string, double> r;
  if (kind_ == kRanking) {
    const std::string k = "@" + std::to_string(top_k_);
    r["test_recall" + k] = impl_->ranking.MeanRecall();
    r["test_ndcg" + k] = impl_->ranking.MeanNdcg();
    r["test_hitrate" + k] = impl_->ranking.MeanHitRate();
    r["test_users"] = static_cast<double>(impl_->ranking.users);
    r["pop_recall" + k] = impl_->popularity.MeanRecall();
    r["pop_ndcg" + k] = impl_->popularity.MeanNdcg();
    r["pop_hitrate" + k] = impl_->popularity.MeanHitRate();
  } else if (kind_ == kRegression) {
    r["test_rmse"] = impl_->regression.Rmse();
    r["test_mae"] = impl_->regression.Mae();
    r["test_examples"] = static_cast<double>(impl_->regression.count());
  } else {
    r["test_logloss"] = impl_->logloss.Mean();
    r["test_auc"] = impl_->auc->Auc();
    r["test_auc_max_error"] = impl_->auc->MaxError();
    r["test_examples"] = static_cast<double>(impl_->logloss.count());
  }
  return r;
}

}  // namespace embark
