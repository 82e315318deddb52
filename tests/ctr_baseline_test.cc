// Tests of the single-process FM/FFM baseline (bench/ctr_baseline.h): it must train exactly the
// model the cluster trains, so two minibatches of it are compared with the models'
// ForwardBackward followed by the server's AdaGrad step on the same starting weights.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/ctr_baseline.h"
#include "models/ffm.h"
#include "models/fm.h"
#include "models/logistic_regression.h"
#include "ps/optimizer.h"
#include "tests/model_test_util.h"

namespace embark {
namespace {

// The batch as the baseline sees it: features the model ignores are dropped, and every other
// feature points at the row the worker would have pulled for it.
IndexedExamples Indexed(const Batch& batch, const PulledRows& rows) {
  IndexedExamples ex;
  for (size_t e = 0; e < batch.size(); ++e) {
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      if (rows.row_of_feature[f] < 0) continue;
      ex.rows.push_back(static_cast<uint32_t>(rows.row_of_feature[f]));
      ex.fields.push_back(batch.fields[f]);
      ex.values.push_back(batch.values[f]);
    }
    ex.labels.push_back(batch.labels[e]);
    ex.offsets.push_back(static_cast<uint32_t>(ex.rows.size()));
  }
  return ex;
}

// What the cluster does with one batch: the model's gradients, then the server's optimizer on
// every pulled row (weights followed by state) and on the intercept.
double ReferenceStep(const Model& model, const Batch& batch, PulledRows* rows,
                     std::vector<std::vector<float>>* states) {
  const std::vector<TableConfig> tables = model.Tables();
  Gradients grads = ZeroGradients(*rows);
  const double loss = model.ForwardBackward(batch, 0, batch.size(), *rows, &grads).loss;
  for (int t = 0; t < 2; ++t) {
    std::unique_ptr<Optimizer> opt = Optimizer::Create(tables[t].optimizer);
    const uint32_t dim = tables[t].dim;
    const size_t n = rows->rows[t].size() / dim;
    // AdaGrad sums of a new row start at adagrad_init (the server's InitState).
    (*states)[t].resize(rows->rows[t].size(), tables[t].optimizer.adagrad_init);
    for (size_t r = 0; r < n; ++r) {
      std::vector<float> row(2 * dim);
      std::copy_n(rows->rows[t].data() + r * dim, dim, row.data());
      std::copy_n((*states)[t].data() + r * dim, dim, row.data() + dim);
      opt->Apply(row.data(), grads.rows[t].data() + r * dim, static_cast<int>(dim));
      std::copy_n(row.data(), dim, rows->rows[t].data() + r * dim);
      std::copy_n(row.data() + dim, dim, (*states)[t].data() + r * dim);
    }
  }
  return loss;
}

void ExpectSameTraining(const Model& model, const Batch& batch) {
  std::mt19937 rng(7);
  PulledRows rows = PullRows(model, batch, &rng, 0.3f);
  CtrBaselineConfig config;
  ASSERT_TRUE(CtrBaselineConfigOf(model, 1, &config).ok());
  const uint32_t width = model.Tables()[0].dim;
  const size_t num_rows = rows.rows[0].size() / width;
  CtrBaseline baseline(config, num_rows);
  ASSERT_EQ(baseline.width(), width);
  for (size_t r = 0; r < num_rows; ++r)
    std::copy_n(rows.rows[0].data() + r * width, width, baseline.Weights(static_cast<uint32_t>(r)));
  baseline.bias() = rows.rows[1][0];
  const IndexedExamples ex = Indexed(batch, rows);
  std::vector<std::vector<float>> states(2);
  // Two steps: the second starts from non-zero AdaGrad sums and reuses the gradient slots.
  for (int step = 0; step < 2; ++step) {
    // Float sums: the two compute the same terms in another order (and fused multiply-adds
    // where the build targets a CPU with them), so they agree to float precision.
    const double want_loss = ReferenceStep(model, batch, &rows, &states);
    const double got_loss = baseline.TrainBatch(ex, nullptr, 0, ex.size());
    EXPECT_NEAR(got_loss, want_loss, 1e-7 * std::fabs(want_loss) + 1e-9) << "step " << step;
    for (size_t r = 0; r < num_rows; ++r) {
      for (uint32_t j = 0; j < width; ++j) {
        ASSERT_NEAR(baseline.Weights(static_cast<uint32_t>(r))[j], rows.rows[0][r * width + j], 1e-6)
            << "step " << step << " row " << r << " column " << j;
      }
    }
    EXPECT_NEAR(baseline.bias(), rows.rows[1][0], 1e-6) << "step " << step;
  }
  // Sanity: the step moved the weights (a no-op trainer would pass the comparison trivially
  // only if the reference did not move either).
  std::mt19937 rng2(7);
  const PulledRows start = PullRows(model, batch, &rng2, 0.3f);
  double moved = 0;
  for (size_t i = 0; i < start.rows[0].size(); ++i) moved += std::fabs(start.rows[0][i] - rows.rows[0][i]);
  EXPECT_GT(moved, 0.1);
  // Predict is the model's Predict on the trained weights.
  std::vector<float> want(batch.size());
  model.Predict(batch, 0, batch.size(), rows, want.data());
  for (size_t e = 0; e < batch.size(); ++e) EXPECT_NEAR(baseline.Predict(ex, e), want[e], 1e-6) << "example " << e;
}

TEST(CtrBaselineTest, FmTrainsLikeTheModelAndServer) {
  FmOptions o;
  o.dim = 3;
  o.optimizer.l2 = 0.05f;
  std::mt19937 rng(3);
  Batch batch = RandomClicks(&rng, 24, 5, 3);  // 24 examples over 15 keys: many repeats
  ExpectSameTraining(FmModel(o), batch);
}

TEST(CtrBaselineTest, FfmTrainsLikeTheModelAndServer) {
  FfmOptions o;
  o.dim = 3;
  o.num_fields = 4;
  o.reg = 0.05f;
  std::mt19937 rng(5);
  Batch batch = RandomClicks(&rng, 20, 4, 3);
  // One key in two fields, one key twice in the same field, and a field >= num_fields.
  batch.AddFeature(5, 0.8f, 0);
  batch.AddFeature(5, 1.2f, 1);
  batch.AddFeature(207, 1.0f, 2);
  batch.AddFeature(207, 0.7f, 2);
  batch.AddFeature(901, 1.0f, 9);
  batch.EndExample(1.0f);
  ExpectSameTraining(FfmModel(o), batch);
}

TEST(CtrBaselineTest, ConfigOnlyForAdaGradFmAndFfm) {
  CtrBaselineConfig c;
  EXPECT_FALSE(CtrBaselineConfigOf(LogisticRegressionModel(LogisticRegressionOptions()), 1, &c).ok());
  FmOptions sgd;
  sgd.optimizer.kind = OptimizerKind::kSgd;
  const Status st = CtrBaselineConfigOf(FmModel(sgd), 1, &c);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("adagrad"), std::string::npos) << st.message();
  FfmOptions ffm;
  ffm.num_fields = 7;
  ASSERT_TRUE(CtrBaselineConfigOf(FfmModel(ffm), 1, &c).ok());
  EXPECT_TRUE(c.field_aware);
  EXPECT_EQ(c.num_fields, 7u);
  EXPECT_FLOAT_EQ(c.reg, ffm.reg);
  EXPECT_EQ(CtrBaseline(c, 2).width(), 1 + 7 * ffm.dim);
}

TEST(CtrBaselineTest, LoadGivesEveryKeyOneRowAndRefusesFieldsBeyondTheModel) {
  const std::string dir = testing::TempDir() + "embark_ctr_baseline_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir + "/train") << "1 0:a:1 1:b:0.5 2:c:1\n0 0:a:1 1:d:1\n";
    std::ofstream(dir + "/test") << "1 0:e:1 1:b:1\n";
  }
  std::unordered_map<uint64_t, uint32_t> index;
  IndexedExamples train, test;
  // Field 2 of line 1 does not fit a model of 2 fields: refused, naming file, line and field.
  const Status refused = LoadIndexedExamples(dir + "/train", DataFormat::kLibffm, 2, &index, &train);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find(dir + "/train:1: field_out_of_range (field 2 "), std::string::npos)
      << refused.message();
  index.clear();
  train = IndexedExamples();
  ASSERT_TRUE(LoadIndexedExamples(dir + "/train", DataFormat::kLibffm, 3, &index, &train).ok());
  ASSERT_TRUE(LoadIndexedExamples(dir + "/test", DataFormat::kLibffm, 3, &index, &test).ok());
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(train.offsets, (std::vector<uint32_t>{0, 3, 5}));
  EXPECT_EQ(train.rows, (std::vector<uint32_t>{0, 1, 2, 0, 3}));  // a, b, c, a, d
  EXPECT_EQ(train.values[1], 0.5f);
  EXPECT_EQ(test.rows, (std::vector<uint32_t>{4, 1}));  // e is new, b is known
  EXPECT_EQ(index.size(), 5u);
  EXPECT_FALSE(LoadIndexedExamples(dir + "/missing", DataFormat::kLibffm, 2, &index, &test).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace embark
