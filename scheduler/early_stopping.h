// EarlyStopping: decides after every epoch whether a job with a validation set ends there
// (`train --early_stop=N`), and remembers its best epoch.
//
// An epoch is better when its validation loss (valid_rmse for regression, valid_logloss for
// classification) is strictly lower than the best so far; a NaN (a diverged model) is never
// better, and a finite loss is always better than a NaN best. The job stops after the epoch that
// is N epochs past the best, unless that is the last epoch anyway. The job's result is its best
// epoch, whose test metrics are kept as best_test_*.
//
// Its whole state is a handful of metrics (best_epoch, best_valid_rmse or best_valid_logloss,
// best_test_*, early_stopped once it stopped), so the scheduler keeps it in the metrics that
// every checkpoint stores, and a resume restores it from them.
//
// Thread-safety: none; the scheduler's thread owns it.
#pragma once

#include <map>
#include <string>

#include "models/model_description.h"

namespace embark {

class EarlyStopping {
 public:
  // `patience` 0 never stops (the best epoch is still tracked); `max_epochs`: the job's last.
  EarlyStopping(int patience, int max_epochs, ModelTask task);

  // Judges `epoch` from its validation metrics (valid_*) and its test metrics (test_*, may be
  // empty); true when the job ends after it.
  bool Judge(int epoch, const std::map<std::string, double>& valid, const std::map<std::string, double>& test);

  // Writes the state into `metrics` (see above); Restore reads it back from such a map.
  void ExportTo(std::map<std::string, double>* metrics) const;
  void Restore(const std::map<std::string, double>& metrics);

  const std::string& loss_name() const { return loss_name_; }  // valid_rmse or valid_logloss
  int best_epoch() const { return best_epoch_; }                // 0 before the first epoch
  double best_loss() const { return best_loss_; }
  int stopped_at() const { return stopped_at_; }                // 0 while it goes on

 private:
  const int patience_;
  const int max_epochs_;
  const std::string loss_name_;
  int best_epoch_ = 0;
  double best_loss_ = 0;
  std::map<std::string, double> best_test_;  // as best_test_*
  int stopped_at_ = 0;
};

}  // namespace embark
