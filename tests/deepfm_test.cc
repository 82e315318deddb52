// Tests of DeepFmModel and its factory entry: against an independent double-precision
// reference of the documented formula and table layout, by hand, and against FmModel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "models/deepfm.h"
#include "models/fm.h"
#include "models/model_factory.h"
#include "tests/model_test_util.h"

namespace embark {
namespace {

// Random clicks over 4 fields plus: an example with two features in field 2 (summed) and an
// ignored field 9, and an example with fields 1 and 3 missing.
Batch AwkwardClicks(std::mt19937* rng) {
  Batch batch = RandomClicks(rng, 9, 4, 3);
  batch.AddFeature(1, 1.0f, 0);
  batch.AddFeature(101, 0.9f, 1);
  batch.AddFeature(207, 1.1f, 2);
  batch.AddFeature(208, 0.6f, 2);
  batch.AddFeature(300, 1.0f, 3);
  batch.AddFeature(901, 1.0f, 9);
  batch.EndExample(1.0f);
  batch.AddFeature(2, 1.3f, 0);
  batch.AddFeature(201, 0.8f, 2);
  batch.EndExample(0.0f);
  return batch;
}

DeepFmOptions SmallDeepFm() {
  DeepFmOptions o;
  o.dim = 3;
  o.num_fields = 4;
  o.hidden = {5, 3};
  o.reg = 0.05f;
  return o;
}

// The documented model, written independently in double with plain loops: the pairwise term
// by its definition (not the sum-of-squares identity), the MLP unit by unit from the table
// layout in models/deepfm.h.
struct Reference {
  double loss = 0;                 // logloss + per-use penalty, summed
  std::vector<double> logits;
  double closest_to_kink = 1e9;    // smallest |pre-activation| of any hidden unit
};

Reference ReferenceDeepFm(const DeepFmOptions& o, const Batch& batch, const PulledRows& rows) {
  const size_t k = o.dim, fields = o.num_fields, layers = o.hidden.size();
  const int v_table = 0, bias_table = 1, hidden_bias_table = 3 + static_cast<int>(layers);
  Reference ref;
  for (size_t e = 0; e < batch.size(); ++e) {
    struct Used { const float* row; size_t field; double x; };
    std::vector<Used> used;
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      if (rows.row_of_feature[f] < 0) continue;
      used.push_back({rows.rows[v_table].data() + rows.row_of_feature[f] * (k + 1),
                      batch.fields[f], batch.values[f]});
    }
    double z = rows.rows[bias_table][0], penalty = 0;
    std::vector<double> input(fields * k, 0.0);
    for (size_t i = 0; i < used.size(); ++i) {
      z += used[i].row[0] * used[i].x;
      for (size_t c = 0; c <= k; ++c) penalty += 0.5 * o.reg * used[i].row[c] * used[i].row[c];
      for (size_t c = 0; c < k; ++c) input[used[i].field * k + c] += used[i].row[1 + c] * used[i].x;
      for (size_t j = i + 1; j < used.size(); ++j) {
        double dot = 0;
        for (size_t c = 0; c < k; ++c) dot += double{used[i].row[1 + c]} * used[j].row[1 + c];
        z += dot * used[i].x * used[j].x;
      }
    }
    size_t bias_offset = 0;
    for (size_t l = 0; l < layers; ++l) {
      const float* w = rows.rows[2 + l].data();
      const size_t in = input.size(), out = o.hidden[l];
      std::vector<double> next(out);
      for (size_t u = 0; u < out; ++u) {
        double pre = rows.rows[hidden_bias_table][bias_offset + u];
        for (size_t i = 0; i < in; ++i) pre += double{w[u * in + i]} * input[i];
        ref.closest_to_kink = std::min(ref.closest_to_kink, std::fabs(pre));
        next[u] = std::max(pre, 0.0);
      }
      bias_offset += out;
      input.swap(next);
    }
    const float* w_out = rows.rows[2 + layers].data();
    for (size_t i = 0; i < input.size(); ++i) z += w_out[i] * input[i];
    ref.logits.push_back(z);
    const double y = batch.labels[e] > 0 ? 1.0 : 0.0;
    const double p = 1.0 / (1.0 + std::exp(-z));
    ref.loss += -(y * std::log(p) + (1 - y) * std::log(1 - p)) + penalty;
  }
  return ref;
}

TEST(DeepFmTest, MatchesReferenceAndFiniteDifferences) {
  std::mt19937 rng(41);
  const DeepFmOptions o = SmallDeepFm();
  DeepFmModel model(o);
  const Batch batch = AwkwardClicks(&rng);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);

  const Reference ref = ReferenceDeepFm(o, batch, rows);
  // A step of 2e-4 on one float moves a pre-activation by well under this (inputs and weights
  // are O(1)), so no ReLU kink is crossed and the central difference is smooth.
  ASSERT_GT(ref.closest_to_kink, 0.002);
  Gradients grads = ZeroGradients(rows);
  const LossSum sum = model.ForwardBackward(batch, 0, batch.size(), rows, &grads);
  ASSERT_EQ(sum.examples, batch.size());
  EXPECT_NEAR(sum.loss, ref.loss, 1e-5 * ref.loss);
  std::vector<float> preds(batch.size());
  model.Predict(batch, 0, batch.size(), rows, preds.data());
  for (size_t e = 0; e < batch.size(); ++e) {
    EXPECT_NEAR(preds[e], 1.0 / (1.0 + std::exp(-ref.logits[e])), 1e-6) << e;
  }

  // Every pulled float of every table (sparse rows, bias, each layer, hidden biases) against a
  // central difference of the double reference.
  size_t checked = 0;
  for (size_t t = 0; t < rows.rows.size(); ++t) {
    for (size_t j = 0; j < rows.rows[t].size(); ++j) {
      const float saved = rows.rows[t][j];
      rows.rows[t][j] = saved + 2e-4f;
      const double step_up = double{rows.rows[t][j]} - saved;
      const double up = ReferenceDeepFm(o, batch, rows).loss;
      rows.rows[t][j] = saved - 2e-4f;
      const double step_down = saved - double{rows.rows[t][j]};
      const double down = ReferenceDeepFm(o, batch, rows).loss;
      rows.rows[t][j] = saved;
      const double numeric = (up - down) / (step_up + step_down);
      const double analytic = grads.rows[t][j];
      EXPECT_NEAR(analytic, numeric, 1e-3 * std::fabs(numeric) + 2e-5) << "table " << t << " float " << j;
      ++checked;
    }
  }
  size_t expected = 0;
  for (const auto& r : rows.rows) expected += r.size();
  EXPECT_EQ(checked, expected);
  // 4*3 inputs -> 5 -> 3 -> 1, hidden biases 5 + 3: every MLP float was among them.
  EXPECT_EQ(rows.rows[2].size(), 12u * 5);
  EXPECT_EQ(rows.rows[3].size(), 5u * 3);
  EXPECT_EQ(rows.rows[4].size(), 3u);
  EXPECT_EQ(rows.rows[5].size(), 8u);
}

// K = 1, two fields. Example: key 1 (field 0, x = 1, v = 0.5) and key 2 (field 0, x = 2,
// v = 0.25); field 1 is missing. Field embeddings: e_0 = 0.5*1 + 0.25*2 = 1, e_1 = 0.
// FM part: bias 0.1 + pair 0.5*0.25*1*2 = 0.35.
TEST(DeepFmTest, FieldEmbeddingsAndReluByHand) {
  Batch batch;
  batch.AddFeature(1, 1.0f, 0);
  batch.AddFeature(2, 2.0f, 0);
  batch.EndExample(1.0f);
  DeepFmOptions o;
  o.dim = 1;
  o.num_fields = 2;
  o.reg = 0;

  // No hidden layer: z = 0.35 + w_out . (e_0, e_1) = 0.35 + 2*1 + 3*0 = 2.35.
  o.hidden = {};
  {
    DeepFmModel model(o);
    ASSERT_EQ(model.Tables().size(), 4u);
    PulledRows rows;
    rows.rows = {{0.0f, 0.5f, 0.0f, 0.25f}, {0.1f}, {2.0f, 3.0f}, {0.0f}};
    rows.row_of_feature = {0, 1};
    float pred;
    model.Predict(batch, 0, 1, rows, &pred);
    EXPECT_NEAR(pred, 1.0 / (1.0 + std::exp(-2.35)), 1e-6);
    // d loss / d w_out = dz * (e_0, e_1); d / d v_key2 = dz * x * (v_key1 * x_key1 + w_out[0]).
    Gradients g = ZeroGradients(rows);
    model.ForwardBackward(batch, 0, 1, rows, &g);
    const double dz = 1.0 / (1.0 + std::exp(-2.35)) - 1.0;
    EXPECT_NEAR(g.rows[2][0], dz * 1.0, 1e-6);
    EXPECT_EQ(g.rows[2][1], 0.0f);  // the missing field's input is 0
    EXPECT_NEAR(g.rows[0][3], dz * 2.0 * (0.5 + 2.0), 1e-6);
  }

  // One hidden unit h = relu(1*e_0 - 1*e_1 + b), output weight 2.
  o.hidden = {1};
  DeepFmModel model(o);
  PulledRows rows;
  rows.rows = {{0.0f, 0.5f, 0.0f, 0.25f}, {0.1f}, {1.0f, -1.0f}, {2.0f}, {-0.25f}};
  rows.row_of_feature = {0, 1};
  float pred;
  model.Predict(batch, 0, 1, rows, &pred);  // h = 0.75: z = 0.35 + 1.5
  EXPECT_NEAR(pred, 1.0 / (1.0 + std::exp(-1.85)), 1e-6);
  rows.rows[4][0] = -1.5f;                  // h = relu(-0.5) = 0: z = 0.35
  model.Predict(batch, 0, 1, rows, &pred);
  EXPECT_NEAR(pred, 1.0 / (1.0 + std::exp(-0.35)), 1e-6);
  Gradients g = ZeroGradients(rows);
  model.ForwardBackward(batch, 0, 1, rows, &g);
  EXPECT_EQ(g.rows[2][0], 0.0f);  // an inactive unit passes no gradient back
  EXPECT_EQ(g.rows[4][0], 0.0f);
}

TEST(DeepFmTest, ZeroMlpEqualsFm) {
  std::mt19937 rng(42);
  DeepFmOptions o = SmallDeepFm();
  o.reg = 0;  // FmModel regularises only through the optimizer
  DeepFmModel deep(o);
  FmOptions fo;
  fo.dim = o.dim;
  FmModel fm(fo);
  Batch batch = RandomClicks(&rng, 12, 4, 3);
  batch.AddFeature(5, 0.8f, 0);  // same key in two fields, and two features in one field
  batch.AddFeature(5, 1.2f, 1);
  batch.AddFeature(205, 0.5f, 1);
  batch.EndExample(1.0f);
  PulledRows deep_rows = PullRows(deep, batch, &rng, 0.5f);
  for (size_t t = DeepFmModel::kFirstLayerTable; t < deep_rows.rows.size(); ++t) {
    std::fill(deep_rows.rows[t].begin(), deep_rows.rows[t].end(), 0.0f);
  }
  PulledRows fm_rows;
  fm_rows.rows = {deep_rows.rows[0], deep_rows.rows[1]};
  fm_rows.row_of_feature = deep_rows.row_of_feature;

  std::vector<float> a(batch.size()), b(batch.size());
  deep.Predict(batch, 0, batch.size(), deep_rows, a.data());
  fm.Predict(batch, 0, batch.size(), fm_rows, b.data());
  for (size_t e = 0; e < batch.size(); ++e) EXPECT_NEAR(a[e], b[e], 1e-6) << e;

  Gradients gd = ZeroGradients(deep_rows), gf = ZeroGradients(fm_rows);
  const LossSum ld = deep.ForwardBackward(batch, 0, batch.size(), deep_rows, &gd);
  const LossSum lf = fm.ForwardBackward(batch, 0, batch.size(), fm_rows, &gf);
  EXPECT_NEAR(ld.loss, lf.loss, 1e-5);
  for (int t = 0; t < 2; ++t) {
    ASSERT_EQ(gd.rows[t].size(), gf.rows[t].size());
    for (size_t j = 0; j < gd.rows[t].size(); ++j) {
      EXPECT_NEAR(gd.rows[t][j], gf.rows[t][j], 1e-5) << "table " << t << " float " << j;
    }
  }
}

TEST(DeepFmTest, RangesAddUp) {
  std::mt19937 rng(43);
  DeepFmModel model(SmallDeepFm());
  const Batch batch = AwkwardClicks(&rng);
  const PulledRows rows = PullRows(model, batch, &rng, 0.4f);
  Gradients whole = ZeroGradients(rows), a = ZeroGradients(rows), b = ZeroGradients(rows);
  const LossSum all = model.ForwardBackward(batch, 0, batch.size(), rows, &whole);
  const LossSum first = model.ForwardBackward(batch, 0, 4, rows, &a);
  const LossSum second = model.ForwardBackward(batch, 4, batch.size(), rows, &b);
  EXPECT_EQ(first.examples + second.examples, all.examples);
  EXPECT_NEAR(first.loss + second.loss, all.loss, 1e-5);
  for (size_t t = 0; t < whole.rows.size(); ++t) {
    for (size_t j = 0; j < whole.rows[t].size(); ++j) {
      EXPECT_NEAR(a.rows[t][j] + b.rows[t][j], whole.rows[t][j], 1e-5) << t << " " << j;
    }
  }
  std::vector<float> p_all(batch.size()), p_parts(batch.size());
  model.Predict(batch, 0, batch.size(), rows, p_all.data());
  model.Predict(batch, 0, 3, rows, p_parts.data());
  model.Predict(batch, 3, batch.size(), rows, p_parts.data());
  for (size_t e = 0; e < batch.size(); ++e) EXPECT_NEAR(p_all[e], p_parts[e], 1e-6) << e;
}

TEST(DeepFmTest, TablesFollowOptions) {
  DeepFmOptions o;
  o.dim = 4;
  o.num_fields = 6;
  o.hidden = {16, 8};
  o.mlp_l2 = 2.0f;
  o.mlp_lr_scale = 0.1f;
  o.optimizer.lr = 0.5f;
  o.out_init_scale = 0.5f;
  DeepFmModel model(o);
  const std::vector<TableConfig> t = model.Tables();
  ASSERT_EQ(t.size(), 6u);
  EXPECT_EQ(t[0].name, "v");
  EXPECT_EQ(t[0].dim, 5u);
  EXPECT_FALSE(t[0].dense);
  EXPECT_EQ(t[1].name, "bias");
  EXPECT_EQ(t[1].dense_size, 1u);
  const uint64_t sizes[] = {24 * 16, 16 * 8, 8};
  const float scales[] = {std::sqrt(2.0f / 24), std::sqrt(2.0f / 16), 0.5f * std::sqrt(1.0f / 8)};
  for (int l = 0; l < 3; ++l) {
    const TableConfig& w = t[2 + l];
    EXPECT_EQ(w.name, "mlp" + std::to_string(l));
    EXPECT_TRUE(w.dense);
    EXPECT_EQ(w.dense_size, sizes[l]);
    EXPECT_EQ(w.init.kind, InitKind::kNormal);
    EXPECT_FLOAT_EQ(w.init.scale, scales[l]);
    EXPECT_FLOAT_EQ(w.optimizer.lr, 0.05f);
    EXPECT_FLOAT_EQ(w.optimizer.l2, 2.0f);
  }
  EXPECT_EQ(t[5].name, "mlp_bias");
  EXPECT_EQ(t[5].dense_size, 24u);
  EXPECT_EQ(t[5].init.kind, InitKind::kZero);
  EXPECT_EQ(t[5].optimizer.l2, 0.0f);
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i].id, i);
  EXPECT_EQ(model.TableOfField(5), 0);
  EXPECT_EQ(model.TableOfField(6), -1);
}

// ------------------------------------------------------------------------- factory

TEST(DeepFmTest, FactoryDefaultsAndOptions) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(CreateModel("deepfm", {}, &m).ok());
  EXPECT_EQ(m->name(), "deepfm");
  const auto* deep = dynamic_cast<const DeepFmModel*>(m.get());
  ASSERT_NE(deep, nullptr);
  const DeepFmOptions defaults;
  EXPECT_EQ(deep->options().dim, defaults.dim);
  EXPECT_EQ(deep->options().hidden, (std::vector<uint32_t>{64, 32}));
  EXPECT_EQ(m->Tables().size(), 6u);
  EXPECT_EQ(SuggestedEpochs("deepfm"), defaults.suggested_epochs);
  const std::vector<std::string> names = KnownModelNames();
  EXPECT_NE(std::find(names.begin(), names.end(), "deepfm"), names.end());

  ModelOptions o;
  o.dim = 4;
  o.num_fields = 3;
  o.hidden = std::vector<uint32_t>{7};
  o.l2 = 0.01f;
  ASSERT_TRUE(CreateModel("deepfm", o, &m).ok());
  deep = dynamic_cast<const DeepFmModel*>(m.get());
  ASSERT_NE(deep, nullptr);
  EXPECT_FLOAT_EQ(deep->options().reg, 0.01f);  // --l2 is the per-use penalty on "v"
  EXPECT_FLOAT_EQ(deep->options().optimizer.l2, defaults.optimizer.l2);
  const std::vector<TableConfig> t = m->Tables();
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[2].dense_size, 12u * 7);
  EXPECT_EQ(t[3].dense_size, 7u);
}

TEST(DeepFmTest, FactoryRejections) {
  std::unique_ptr<Model> m;
  auto rejects = [&](const ModelOptions& o) {
    return CreateModel("deepfm", o, &m).code() == Status::Code::kInvalidArgument;
  };
  {
    ModelOptions o;
    o.hidden = std::vector<uint32_t>{64, 0};
    EXPECT_TRUE(rejects(o));
    o.hidden = std::vector<uint32_t>{100000};
    EXPECT_TRUE(rejects(o));
  }
  {
    ModelOptions o;
    o.num_fields = 0;
    EXPECT_TRUE(rejects(o));
  }
  {
    ModelOptions o;
    o.global_mean = 3;
    EXPECT_TRUE(rejects(o));
  }
  {
    ModelOptions o;
    o.dim = 0;
    EXPECT_TRUE(rejects(o));
  }
  {
    ModelOptions o;
    o.hidden = std::vector<uint32_t>{};  // no hidden layer is allowed
    EXPECT_TRUE(CreateModel("deepfm", o, &m).ok());
    o.hidden = std::vector<uint32_t>{8};
    EXPECT_FALSE(CreateModel("fm", o, &m).ok());
  }
}

TEST(DeepFmTest, ParseHiddenLayers) {
  std::vector<uint32_t> h;
  ASSERT_TRUE(ParseHiddenLayers("64,32", &h).ok());
  EXPECT_EQ(h, (std::vector<uint32_t>{64, 32}));
  ASSERT_TRUE(ParseHiddenLayers("400", &h).ok());
  EXPECT_EQ(h, (std::vector<uint32_t>{400}));
  ASSERT_TRUE(ParseHiddenLayers("none", &h).ok());
  EXPECT_TRUE(h.empty());
  ASSERT_TRUE(ParseHiddenLayers("", &h).ok());
  EXPECT_TRUE(h.empty());
  for (const char* bad : {"64,,32", "64,", ",64", "-1", "+3", "0", "abc", "1.5", " 7", "9999999999"}) {
    EXPECT_FALSE(ParseHiddenLayers(bad, &h).ok()) << bad;
    EXPECT_TRUE(h.empty()) << bad;
  }
}

}  // namespace
}  // namespace embark
