// Helpers shared by the model tests: a batch of random clicks, and the PulledRows/Gradients a
// worker would hand a model for it, so every model's maths is tested without a cluster.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "models/model.h"
#include "data/batch.h"

#include <gtest/gtest.h>

namespace embark {

// Fills PulledRows the way the worker does: one row per distinct (table, key) of the batch in
// order of first appearance, -1 for features the model ignores; weights drawn from `rng`.
inline PulledRows PullRows(const Model& model, const Batch& batch, std::mt19937* rng, float scale) {
  const std::vector<TableConfig> tables = model.Tables();
  PulledRows out;
  out.rows.resize(tables.size());
  std::vector<std::map<uint64_t, int32_t>> row_of_key(tables.size());
  std::normal_distribution<float> normal(0.0f, scale);
  for (size_t t = 0; t < tables.size(); ++t) {
    if (tables[t].dense) {
      for (uint64_t j = 0; j < tables[t].dense_size; ++j) out.rows[t].push_back(normal(*rng));
    }
  }
  for (size_t f = 0; f < batch.num_features(); ++f) {
    const int t = model.TableOfField(batch.fields[f]);
    if (t < 0) {
      out.row_of_feature.push_back(-1);
      continue;
    }
    auto [it, inserted] =
        row_of_key[t].emplace(batch.keys[f], static_cast<int32_t>(row_of_key[t].size()));
    if (inserted) {
      for (uint32_t j = 0; j < tables[t].dim; ++j) out.rows[t].push_back(normal(*rng));
    }
    out.row_of_feature.push_back(it->second);
  }
  return out;
}

inline Gradients ZeroGradients(const PulledRows& rows) {
  Gradients g;
  for (const auto& r : rows.rows) g.rows.emplace_back(r.size(), 0.0f);
  return g;
}

// `fields` one-hot fields with `values_per_field` keys each, random 0/1 labels, values in
// [0.5, 1.5] so the value scaling is exercised.
inline Batch RandomClicks(std::mt19937* rng, int n, int fields, int values_per_field) {
  std::uniform_int_distribution<int> value(0, values_per_field - 1), label(0, 1);
  std::uniform_real_distribution<float> x(0.5f, 1.5f);
  Batch b;
  for (int i = 0; i < n; ++i) {
    for (int f = 0; f < fields; ++f) {
      b.AddFeature(static_cast<uint64_t>(f) * 100 + value(*rng), x(*rng), static_cast<uint16_t>(f));
    }
    b.EndExample(static_cast<float>(label(*rng)));
  }
  return b;
}

inline double Loss(const Model& model, const Batch& batch, const PulledRows& rows) {
  Gradients scratch = ZeroGradients(rows);
  return model.ForwardBackward(batch, 0, batch.size(), rows, &scratch).loss;
}

// Compares every gradient float with a central finite difference of the loss.
// Returns the number of floats checked.
inline int CheckGradients(const Model& model, const Batch& batch, PulledRows rows) {
  Gradients grads = ZeroGradients(rows);
  const LossSum sum = model.ForwardBackward(batch, 0, batch.size(), rows, &grads);
  EXPECT_EQ(sum.examples, batch.size());
  // Rows hold floats, so the step must be large enough for the loss difference to rise above
  // float rounding; MF's loss is quadratic in each single weight, so the central difference is
  // exact there, and the logloss models' third derivative is small at these scales.
  const float h = 1e-2f;
  int checked = 0;
  for (size_t t = 0; t < rows.rows.size(); ++t) {
    for (size_t j = 0; j < rows.rows[t].size(); ++j) {
      const float saved = rows.rows[t][j];
      rows.rows[t][j] = saved + h;
      const double up = Loss(model, batch, rows);
      rows.rows[t][j] = saved - h;
      const double down = Loss(model, batch, rows);
      rows.rows[t][j] = saved;
      const double numeric = (up - down) / (2.0 * h);
      const double analytic = grads.rows[t][j];
      const double tolerance = 1e-3 * std::max(std::fabs(numeric), std::fabs(analytic)) + 1e-4;
      EXPECT_NEAR(analytic, numeric, tolerance) << "table " << t << " float " << j;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
  return checked;
}

// A model's example-at-a-time path (Model::ExampleForwardBackward) against its batch path on
// unchanged rows: the per-occurrence gradients, summed into the batch's rows, must equal
// ForwardBackward's, and the losses must add up to its loss.
inline void ExpectExampleStepsMatchBatch(const Model& model, const Batch& batch, const PulledRows& rows) {
  ASSERT_TRUE(model.TrainsExampleAtATime());
  const std::vector<TableConfig> tables = model.Tables();
  Gradients want = ZeroGradients(rows);
  const LossSum want_loss = model.ForwardBackward(batch, 0, batch.size(), rows, &want);
  Gradients got = ZeroGradients(rows);
  std::vector<std::vector<float>> dense(tables.size()), dense_grad(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    if (!tables[t].dense) continue;
    dense[t] = rows.rows[t];
    dense_grad[t].assign(rows.rows[t].size(), 0.0f);
  }
  double loss = 0;
  for (size_t e = 0; e < batch.size(); ++e) {
    const uint32_t begin = batch.offsets[e], n = batch.offsets[e + 1] - begin;
    std::vector<const float*> row(n, nullptr);
    std::vector<std::vector<float>> buffers(n);
    std::vector<float*> grad(n, nullptr);
    for (uint32_t j = 0; j < n; ++j) {
      const int t = model.TableOfField(batch.fields[begin + j]);
      const int32_t r = rows.row_of_feature[begin + j];
      if (t < 0 || r < 0) continue;
      row[j] = rows.Row(t, r, tables[t].dim);
      buffers[j].assign(tables[t].dim, 0.0f);
      grad[j] = buffers[j].data();
    }
    loss += model.ExampleForwardBackward(batch, e, ExampleRows{row.data(), grad.data(), dense.data(), dense_grad.data()});
    for (uint32_t j = 0; j < n; ++j) {
      if (grad[j] == nullptr) continue;
      const int t = model.TableOfField(batch.fields[begin + j]);
      float* sum = got.Row(t, rows.row_of_feature[begin + j], tables[t].dim);
      for (uint32_t c = 0; c < tables[t].dim; ++c) sum[c] += grad[j][c];
    }
  }
  EXPECT_NEAR(loss, want_loss.loss, 1e-9 * std::fabs(want_loss.loss) + 1e-12);
  for (size_t t = 0; t < tables.size(); ++t) {
    const std::vector<float>& g = tables[t].dense ? dense_grad[t] : got.rows[t];
    ASSERT_EQ(g.size(), want.rows[t].size()) << "table " << t;
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR(g[i], want.rows[t][i], 1e-5f * std::fabs(want.rows[t][i]) + 1e-6f) << "table " << t << " float " << i;
  }
}

}  // namespace embark
