// Tests of FfmModel (field-aware FM) and its factory entry, on small generated batches.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "models/ffm.h"
#include "models/model_factory.h"
#include "tests/model_test_util.h"
#include "tools/synth_data.h"
#include "runtime/local_runner.h"

namespace embark {
namespace {

FfmOptions SmallFfm() {
  FfmOptions o;
  o.dim = 3;
  o.num_fields = 4;
  o.reg = 0.05f;
  return o;
}

// A batch with the awkward cases appended: one key in two fields, one key twice in the SAME
// field (its pair uses one vector twice), and a feature of a field >= num_fields.
Batch AwkwardClicks(std::mt19937* rng) {
  Batch batch = RandomClicks(rng, 10, 4, 3);
  batch.AddFeature(5, 0.8f, 0);
  batch.AddFeature(5, 1.2f, 1);
  batch.AddFeature(207, 1.0f, 2);
  batch.AddFeature(207, 0.7f, 2);
  batch.AddFeature(901, 1.0f, 9);  // ignored: field 9 >= num_fields 4
  batch.EndExample(1.0f);
  return batch;
}

TEST(FfmTest, GradientMatchesFiniteDifferences) {
  std::mt19937 rng(31);
  FfmModel model(SmallFfm());
  const Batch batch = AwkwardClicks(&rng);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  ASSERT_EQ(rows.row_of_feature.back(), -1);

  const int checked = CheckGradients(model, batch, rows);
  // Every pulled float: each distinct used key's row (1 + 4*3 floats) and the bias.
  std::vector<uint64_t> keys;
  for (size_t f = 0; f < batch.num_features(); ++f) {
    if (batch.fields[f] < 4) keys.push_back(batch.keys[f]);
  }
  std::sort(keys.begin(), keys.end());
  const int distinct = static_cast<int>(std::unique(keys.begin(), keys.end()) - keys.begin());
  EXPECT_EQ(checked, distinct * 13 + 1);
}

// Row layout for num_fields = 3, K = 2: [w | v_field0 (2) | v_field1 (2) | v_field2 (2)].
TEST(FfmTest, ScoreLossAndGradientByHand) {
  FfmOptions o;
  o.dim = 2;
  o.num_fields = 3;
  o.reg = 0;
  FfmModel model(o);
  ASSERT_EQ(model.RowDim(), 7u);
  Batch batch;
  batch.AddFeature(11, 1.0f, 0);  // A
  batch.AddFeature(22, 2.0f, 1);  // B
  batch.AddFeature(33, 0.5f, 2);  // C
  batch.EndExample(1.0f);
  PulledRows rows;
  rows.rows.resize(2);
  // The vector of a feature for its OWN field is never used here: 9s would show if it were.
  //              w      field 0       field 1      field 2
  rows.rows[0] = {0.1f,  9.0f, 9.0f,   0.5f, 0.25f, 0.5f, -1.0f,   // A
                  -0.2f, 0.2f, 0.4f,   9.0f, 9.0f,  1.0f, 1.0f,    // B
                  0.4f,  -1.0f, 0.5f,  0.5f, 0.0f,  9.0f, 9.0f};   // C
  rows.rows[1] = {0.05f};
  rows.row_of_feature = {0, 1, 2};
  // (A,B): <v_A,1, v_B,0> x_A x_B = (0.5*0.2 + 0.25*0.4) * 2   =  0.4
  // (A,C): <v_A,2, v_C,0> x_A x_C = (0.5*-1 + -1*0.5) * 0.5    = -0.5
  // (B,C): <v_B,2, v_C,1> x_B x_C = (1*0.5 + 1*0) * 1          =  0.5
  // linear: 0.1 - 0.4 + 0.2 = -0.1;  z = 0.05 - 0.1 + 0.4 = 0.35
  const double z = 0.35;
  const double p = 1.0 / (1.0 + std::exp(-z));
  float pred;
  model.Predict(batch, 0, 1, rows, &pred);
  EXPECT_NEAR(pred, p, 1e-6);

  Gradients g = ZeroGradients(rows);
  const LossSum loss = model.ForwardBackward(batch, 0, 1, rows, &g);
  EXPECT_NEAR(loss.loss, -std::log(p), 1e-6);
  const double dz = p - 1.0;
  EXPECT_NEAR(g.rows[1][0], dz, 1e-6);                 // bias
  EXPECT_NEAR(g.rows[0][0], dz * 1.0, 1e-6);           // w_A
  EXPECT_NEAR(g.rows[0][7 + 0], dz * 2.0, 1e-6);       // w_B
  // d/d v_A,1 = dz x_A x_B v_B,0 = dz * 2 * (0.2, 0.4)
  EXPECT_NEAR(g.rows[0][3], dz * 2 * 0.2, 1e-6);
  EXPECT_NEAR(g.rows[0][4], dz * 2 * 0.4, 1e-6);
  // d/d v_C,1 = dz x_B x_C v_B,2 = dz * 1 * (1, 1)
  EXPECT_NEAR(g.rows[0][14 + 3], dz, 1e-6);
  EXPECT_NEAR(g.rows[0][14 + 4], dz, 1e-6);
  // Own-field vectors get nothing.
  for (int row = 0; row < 3; ++row) {
    const int own = 1 + row * 2;  // field of row r is r
    EXPECT_EQ(g.rows[0][row * 7 + own], 0.0f) << row;
    EXPECT_EQ(g.rows[0][row * 7 + own + 1], 0.0f) << row;
  }

  // Per-use L2: 0.5 * reg * (sum w^2 + sum over pairs |p|^2 + |q|^2).
  o.reg = 0.1f;
  FfmModel regularised(o);
  g = ZeroGradients(rows);
  const LossSum with_reg = regularised.ForwardBackward(batch, 0, 1, rows, &g);
  const double penalty = 0.05 * ((0.01 + 0.04 + 0.16) + (0.3125 + 0.2) + (1.25 + 1.25) + (2 + 0.25));
  EXPECT_NEAR(with_reg.loss, -std::log(p) + penalty, 1e-6);
  EXPECT_NEAR(g.rows[0][3], dz * 2 * 0.2 + 0.1 * 0.5, 1e-6);  // v_A,1[0] is used once
  EXPECT_NEAR(g.rows[0][0], dz + 0.1 * 0.1, 1e-6);             // w_A
}

TEST(FfmTest, InstanceNormGradientMatchesFiniteDifferences) {
  std::mt19937 rng(34);
  FfmOptions o = SmallFfm();
  o.instance_norm = true;
  FfmModel model(o);
  const Batch batch = AwkwardClicks(&rng);
  CheckGradients(model, batch, PullRows(model, batch, &rng, 0.5f));
}

// Instance normalisation is the plain model on x / |x|: the same score as scaling the values
// by hand, for every example (|x| over the used features only: field 9 is not counted).
TEST(FfmTest, InstanceNormScalesValuesByTheirNorm) {
  std::mt19937 rng(35);
  FfmOptions o = SmallFfm();
  FfmModel plain(o);
  o.instance_norm = true;
  FfmModel normed(o);
  const Batch batch = AwkwardClicks(&rng);
  Batch scaled;
  for (size_t e = 0; e < batch.size(); ++e) {
    double squares = 0;
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      if (batch.fields[f] < o.num_fields) squares += batch.values[f] * batch.values[f];
    }
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      scaled.AddFeature(batch.keys[f], static_cast<float>(batch.values[f] / std::sqrt(squares)),
                        batch.fields[f]);
    }
    scaled.EndExample(batch.labels[e]);
  }
  const PulledRows rows = PullRows(normed, batch, &rng, 0.5f);
  std::vector<float> a(batch.size()), b(batch.size());
  normed.Predict(batch, 0, batch.size(), rows, a.data());
  plain.Predict(scaled, 0, scaled.size(), rows, b.data());
  for (size_t e = 0; e < a.size(); ++e) EXPECT_NEAR(a[e], b[e], 1e-6) << e;
  // And it differs from the unnormalised model (values are around 1, so |x| is far from 1).
  plain.Predict(batch, 0, batch.size(), rows, b.data());
  EXPECT_GT(std::fabs(a[0] - b[0]), 1e-3);

  // One feature of value 3: normalised to 1, so the logit is bias + w.
  Batch one;
  one.AddFeature(11, 3.0f, 0);
  one.EndExample(1.0f);
  PulledRows r1;
  r1.rows = {std::vector<float>(normed.RowDim(), 0.0f), {0.25f}};
  r1.rows[0][0] = 0.5f;
  r1.row_of_feature = {0};
  float p;
  normed.Predict(one, 0, 1, r1, &p);
  EXPECT_NEAR(p, 1.0 / (1.0 + std::exp(-0.75)), 1e-6);
}

TEST(FfmTest, FieldsBeyondNumFieldsAreIgnored) {
  std::mt19937 rng(32);
  FfmModel model(SmallFfm());
  EXPECT_EQ(model.TableOfField(3), FfmModel::kFactorTable);
  EXPECT_EQ(model.TableOfField(4), -1);
  EXPECT_EQ(model.TableOfField(65535), -1);

  // The same examples with and without an extra feature in field 7 predict the same.
  Batch plain = RandomClicks(&rng, 6, 4, 3);
  Batch extra;
  for (size_t e = 0; e < plain.size(); ++e) {
    for (uint32_t f = plain.offsets[e]; f < plain.offsets[e + 1]; ++f) {
      extra.AddFeature(plain.keys[f], plain.values[f], plain.fields[f]);
    }
    extra.AddFeature(7000 + e, 1.0f, 7);
    extra.EndExample(plain.labels[e]);
  }
  std::mt19937 same_a(5), same_b(5);
  const PulledRows rows_plain = PullRows(model, plain, &same_a, 0.4f);
  const PulledRows rows_extra = PullRows(model, extra, &same_b, 0.4f);
  ASSERT_EQ(rows_plain.rows[0], rows_extra.rows[0]);  // nothing was pulled for field 7
  std::vector<float> a(plain.size()), b(plain.size());
  model.Predict(plain, 0, plain.size(), rows_plain, a.data());
  model.Predict(extra, 0, extra.size(), rows_extra, b.data());
  for (size_t e = 0; e < a.size(); ++e) EXPECT_EQ(a[e], b[e]) << e;
}

TEST(FfmTest, RangesAddUp) {
  std::mt19937 rng(33);
  FfmModel model(SmallFfm());
  const Batch batch = AwkwardClicks(&rng);
  const PulledRows rows = PullRows(model, batch, &rng, 0.3f);
  Gradients whole = ZeroGradients(rows), a = ZeroGradients(rows), b = ZeroGradients(rows);
  const LossSum all = model.ForwardBackward(batch, 0, batch.size(), rows, &whole);
  const LossSum first = model.ForwardBackward(batch, 0, 4, rows, &a);
  const LossSum second = model.ForwardBackward(batch, 4, batch.size(), rows, &b);
  EXPECT_EQ(first.examples + second.examples, all.examples);
  EXPECT_NEAR(first.loss + second.loss, all.loss, 1e-9);
  for (size_t t = 0; t < whole.rows.size(); ++t) {
    for (size_t j = 0; j < whole.rows[t].size(); ++j) {
      EXPECT_NEAR(a.rows[t][j] + b.rows[t][j], whole.rows[t][j], 1e-5);
    }
  }
}

TEST(FfmTest, TablesFollowOptions) {
  FfmOptions o;
  o.dim = 5;
  o.num_fields = 7;
  o.init_stddev = 0.3f;
  FfmModel model(o);
  const std::vector<TableConfig> tables = model.Tables();
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[0].name, "v");
  EXPECT_FALSE(tables[0].dense);
  EXPECT_EQ(tables[0].dim, 1u + 7 * 5);
  EXPECT_EQ(tables[0].init.kind, InitKind::kNormal);
  EXPECT_FLOAT_EQ(tables[0].init.scale, 0.3f);
  EXPECT_EQ(tables[1].name, "bias");
  EXPECT_TRUE(tables[1].dense);
  EXPECT_EQ(tables[1].dense_size, 1u);
  EXPECT_EQ(tables[1].optimizer.l2, 0.0f);
  EXPECT_EQ(tables[1].init.kind, InitKind::kZero);
}

// ------------------------------------------------------------------------- factory

TEST(FfmTest, FactoryDefaultsAndOptions) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(CreateModel("ffm", {}, &m).ok());
  EXPECT_EQ(m->name(), "ffm");
  const auto* ffm = dynamic_cast<const FfmModel*>(m.get());
  ASSERT_NE(ffm, nullptr);
  const FfmOptions defaults;
  EXPECT_EQ(ffm->options().dim, defaults.dim);
  EXPECT_EQ(ffm->options().num_fields, 10u);
  EXPECT_FLOAT_EQ(ffm->options().reg, defaults.reg);
  EXPECT_EQ(m->Tables()[0].dim, 1 + 10 * defaults.dim);
  EXPECT_EQ(m->Tables()[0].optimizer.kind, OptimizerKind::kAdaGrad);
  EXPECT_EQ(SuggestedEpochs("ffm"), defaults.suggested_epochs);
  const std::vector<std::string> names = KnownModelNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "ffm"), names.end());

  ModelOptions o;
  o.dim = 4;
  o.num_fields = 39;
  o.l2 = 0.002f;
  o.lr = 0.1f;
  o.init_scale = 0.05f;
  ASSERT_TRUE(CreateModel("ffm", o, &m).ok());
  ffm = dynamic_cast<const FfmModel*>(m.get());
  ASSERT_NE(ffm, nullptr);
  EXPECT_EQ(m->Tables()[0].dim, 1u + 39 * 4);
  EXPECT_FLOAT_EQ(ffm->options().reg, 0.002f);  // --l2 is the per-use penalty
  EXPECT_FLOAT_EQ(ffm->options().optimizer.l2, defaults.optimizer.l2);
  EXPECT_FLOAT_EQ(ffm->options().optimizer.lr, 0.1f);
  EXPECT_FLOAT_EQ(ffm->options().init_stddev, 0.05f);
  EXPECT_EQ(m->TableOfField(38), 0);
  EXPECT_EQ(m->TableOfField(39), -1);
}

TEST(FfmTest, FactoryRejections) {
  std::unique_ptr<Model> m;
  auto rejects = [&](const std::string& name, const ModelOptions& o) {
    return CreateModel(name, o, &m).code() == Status::Code::kInvalidArgument;
  };
  {
    ModelOptions o;
    o.num_fields = 0;
    EXPECT_TRUE(rejects("ffm", o));
    o.num_fields = 5000;
    EXPECT_TRUE(rejects("ffm", o));
    o.num_fields = 1000;
    o.dim = 100;  // rows of 100001 floats
    EXPECT_TRUE(rejects("ffm", o));
  }
  {
    ModelOptions o;
    o.hidden = std::vector<uint32_t>{8};
    EXPECT_TRUE(rejects("ffm", o));  // hidden layers are DeepFM's
  }
  {
    ModelOptions o;
    o.min_rating = 1;
    EXPECT_TRUE(rejects("ffm", o));
  }
  {
    ModelOptions o;
    o.l2 = -1;
    EXPECT_TRUE(rejects("ffm", o));
  }
  {
    // The field options mean nothing to the older models.
    ModelOptions o;
    o.num_fields = 10;
    EXPECT_TRUE(rejects("fm", o));
    EXPECT_TRUE(rejects("lr", o));
    EXPECT_TRUE(rejects("mf", o));
  }
  EXPECT_TRUE(CreateModel("fm", {}, &m).ok());
}

// ------------------------------------------------------------------------- quality

// Final test logloss of `model` trained single-process (the whole stack: reader, server,
// AdaGrad, evaluation) on `prefix`.{train,test}.libffm.
double TrainedTestLogloss(const std::string& model_name, const ModelOptions& mo, const std::string& prefix,
                          int epochs) {
  std::unique_ptr<Model> model;
  EXPECT_TRUE(CreateModel(model_name, mo, &model).ok());
  TrainOptions o;
  o.model = model_name;
  o.format = DataFormat::kLibffm;
  o.train = prefix + ".train.libffm";
  o.test = prefix + ".test.libffm";
  o.epochs = epochs;
  o.progress_every_s = 1000;
  o.metrics_out = prefix + "." + model_name + ".jsonl";
  // In a child process: RunLocalTrain is meant to run once per process (like main()).
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(RunLocalTrain(o, *model, 1));
  int status = -1;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << model_name << " status " << status;
  std::ifstream in(o.metrics_out);
  std::string line, last;
  while (std::getline(in, line)) last = line;
  const size_t at = last.find("\"test_logloss\": ");
  EXPECT_NE(at, std::string::npos) << last;
  return at == std::string::npos ? 0 : std::atof(last.c_str() + at + 16);
}

// On generated clicks whose label has field-pair interactions (tools/synth_data.h) FFM with its
// defaults must beat FM clearly. With AdaGrad's accumulator starting at 0 and the larger init
// (the defaults before) FFM overfitted rare features and ended level with FM.
TEST(FfmTest, BeatsFmOnGeneratedClicksWithInteractions) {
  const std::string dir = testing::TempDir() + "embark_ffm_quality_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  SynthClicksOptions gen;
  gen.seed = 3;
  gen.num_rows = 100000;  // 80k training rows; many users are rare (power law over 5000)
  gen.num_users = 5000;
  gen.num_items = 1000;
  ASSERT_TRUE(WriteSynthClicks(gen, dir + "/c").ok());
  ModelOptions ffm, fm;
  ffm.num_fields = kSynthClickFields;
  // Measured: ffm 0.4195, fm 0.4499; older defaults (init 0.2, AdaGrad from 0) gave ffm
  // 0.4460, which this margin refuses.
  const double fm_loss = TrainedTestLogloss("fm", fm, dir + "/c", 2);
  const double ffm_loss = TrainedTestLogloss("ffm", ffm, dir + "/c", 2);
  std::printf("test logloss: ffm %.4f, fm %.4f\n", ffm_loss, fm_loss);
  EXPECT_GT(ffm_loss, 0.2);
  EXPECT_LT(ffm_loss, fm_loss - 0.015) << "ffm " << ffm_loss << " fm " << fm_loss;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace embark
