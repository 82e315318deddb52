#include "scheduler/early_stopping.h"

#include <cmath>
#include <map>
#include <string>

#include <gtest/gtest.h>

namespace embark {
namespace {

std::map<std::string, double> Valid(double rmse) { return {{"valid_rmse", rmse}, {"valid_mae", rmse / 2}}; }
std::map<std::string, double> TestRmse(double rmse) { return {{"test_rmse", rmse}, {"test_examples", 100}}; }

TEST(EarlyStoppingTest, StopsPatienceEpochsAfterTheBestAndKeepsItsTestMetrics) {
  EarlyStopping es(2, 100, ModelTask::kRegression);
  EXPECT_FALSE(es.Judge(1, Valid(1.0), TestRmse(1.1)));
  EXPECT_FALSE(es.Judge(2, Valid(0.9), TestRmse(0.95)));
  EXPECT_FALSE(es.Judge(3, Valid(0.9), TestRmse(0.94)));  // equal is not better
  EXPECT_EQ(es.best_epoch(), 2);
  EXPECT_TRUE(es.Judge(4, Valid(0.95), TestRmse(0.97)));
  EXPECT_EQ(es.stopped_at(), 4);
  std::map<std::string, double> m;
  es.ExportTo(&m);
  EXPECT_EQ(m["best_epoch"], 2);
  EXPECT_EQ(m["best_valid_rmse"], 0.9);
  EXPECT_EQ(m["best_test_rmse"], 0.95);
  EXPECT_EQ(m["best_test_examples"], 100);
  EXPECT_EQ(m["early_stopped"], 4);
  EXPECT_EQ(m.count("best_valid_mae"), 0u);
}

TEST(EarlyStoppingTest, AnImprovementResetsThePatience) {
  EarlyStopping es(2, 100, ModelTask::kRegression);
  es.Judge(1, Valid(1.0), {});
  es.Judge(2, Valid(1.1), {});
  EXPECT_FALSE(es.Judge(3, Valid(0.8), {}));
  EXPECT_FALSE(es.Judge(4, Valid(0.85), {}));
  EXPECT_TRUE(es.Judge(5, Valid(0.81), {}));
  EXPECT_EQ(es.best_epoch(), 3);
}

TEST(EarlyStoppingTest, ClassificationJudgesByLoglossNotAuc) {
  EarlyStopping es(1, 100, ModelTask::kClassification);
  EXPECT_EQ(es.loss_name(), "valid_logloss");
  es.Judge(1, {{"valid_logloss", 0.5}, {"valid_auc", 0.7}}, {});
  // A higher AUC with a higher logloss is not better.
  EXPECT_TRUE(es.Judge(2, {{"valid_logloss", 0.6}, {"valid_auc", 0.8}}, {}));
  EXPECT_EQ(es.best_epoch(), 1);
}

TEST(EarlyStoppingTest, NaNIsNeverBetterAndAFiniteLossBeatsANaNBest) {
  EarlyStopping es(1, 100, ModelTask::kRegression);
  es.Judge(1, Valid(NAN), {});
  EXPECT_EQ(es.best_epoch(), 1);
  EXPECT_FALSE(es.Judge(2, Valid(2.0), {}));
  EXPECT_EQ(es.best_epoch(), 2);
  EXPECT_TRUE(es.Judge(3, Valid(NAN), {}));
  EXPECT_EQ(es.best_epoch(), 2);
}

TEST(EarlyStoppingTest, ANaNAfterANaNFirstEpochIsNotBetter) {
  EarlyStopping es(2, 100, ModelTask::kRegression);
  es.Judge(1, Valid(NAN), {});
  es.Judge(2, Valid(NAN), {});
  EXPECT_EQ(es.best_epoch(), 1);
  EXPECT_TRUE(es.Judge(3, Valid(NAN), {}));  // a diverged model stops, it does not run on
}

TEST(EarlyStoppingTest, TheLastEpochAndPatienceZeroNeverStop) {
  EarlyStopping last(1, 3, ModelTask::kRegression);
  last.Judge(1, Valid(1.0), {});
  last.Judge(2, Valid(0.5), {});
  EXPECT_FALSE(last.Judge(3, Valid(0.9), {}));  // the job ends here anyway
  EXPECT_EQ(last.stopped_at(), 0);
  EarlyStopping off(0, 100, ModelTask::kRegression);
  off.Judge(1, Valid(1.0), {});
  for (int e = 2; e < 10; ++e) EXPECT_FALSE(off.Judge(e, Valid(2.0), {}));
  EXPECT_EQ(off.best_epoch(), 1);
}

TEST(EarlyStoppingTest, TheStateRoundTripsThroughTheMetrics) {
  EarlyStopping before(3, 100, ModelTask::kRegression);
  before.Judge(1, Valid(1.0), TestRmse(1.2));
  before.Judge(2, Valid(0.7), TestRmse(0.8));
  before.Judge(3, Valid(0.75), TestRmse(0.81));
  std::map<std::string, double> m = {{"test_rmse", 0.81}};
  before.ExportTo(&m);
  EarlyStopping after(3, 100, ModelTask::kRegression);
  after.Restore(m);
  EXPECT_EQ(after.best_epoch(), 2);
  EXPECT_EQ(after.best_loss(), 0.7);
  // Resumed after epoch 3: two more epochs without improvement stop it, as they would have.
  EXPECT_FALSE(after.Judge(4, Valid(0.72), TestRmse(0.9)));
  EXPECT_TRUE(after.Judge(5, Valid(0.71), TestRmse(0.9)));
  std::map<std::string, double> out;
  after.ExportTo(&out);
  EXPECT_EQ(out["best_test_rmse"], 0.8);
  EXPECT_EQ(out["early_stopped"], 5);
}

}  // namespace
}  // namespace embark
