#include "scheduler/early_stopping.h"

#include <cmath>

namespace embark {

EarlyStopping::EarlyStopping(int patience, int max_epochs, ModelTask task)
    : patience_(patience), max_epochs_(max_epochs), loss_name_(task == ModelTask::kRegression ? "valid_rmse" : "valid_logloss") {}

bool EarlyStopping::Judge(int epoch, const std::map<std::string, double>& valid, const std::map<std::string, double>& test) {
  auto it = valid.find(loss_name_);
  const double loss = it == valid.end() ? NAN : it->second;
  // A NaN never replaces the best (it is the best only as the first epoch's, until a number).
  if (best_epoch_ == 0 || (!std::isnan(loss) && (std::isnan(best_loss_) || loss < best_loss_))) {
    best_epoch_ = epoch;
    best_loss_ = loss;
    best_test_.clear();
    for (const auto& [name, value] : test)
      if (name.rfind("test_", 0) == 0) best_test_["best_" + name] = value;
  }
  if (patience_ <= 0 || epoch - best_epoch_ < patience_ || epoch >= max_epochs_) return false;
  stopped_at_ = epoch;
  return true;
}

void EarlyStopping::ExportTo(std::map<std::string, double>* metrics) const {
  if (best_epoch_ == 0) return;
  (*metrics)["best_epoch"] = best_epoch_;
  (*metrics)["best_" + loss_name_] = best_loss_;
  for (const auto& [name, value] : best_test_) (*metrics)[name] = value;
  if (stopped_at_ > 0) (*metrics)["early_stopped"] = stopped_at_;
}

void EarlyStopping::Restore(const std::map<std::string, double>& metrics) {
  best_test_.clear();
  for (const auto& [name, value] : metrics) {
    if (name == "best_epoch") best_epoch_ = static_cast<int>(value);
    if (name == "best_" + loss_name_) best_loss_ = value;
    if (name == "early_stopped") stopped_at_ = static_cast<int>(value);
    if (name.rfind("best_test_", 0) == 0) best_test_[name] = value;
  }
}

}  // namespace embark
