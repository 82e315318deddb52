// Tests of the model registry and of models describing themselves: every registered model's
// description agrees with its own tables and field mapping, and every registered model goes
// checkpoint -> export -> bundle loader -> scorer with a manifest that describes it and scores
// equal to the model's own Predict on the checkpoint's rows. Bundles and checkpoints written
// before descriptions (tests/fixtures/old_format) still load and score as a fresh export does.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/hash.h"
#include "models/model_factory.h"
#include "models/model_registry.h"
#include "ps/checkpoint_shard.h"
#include "ps/optimizer.h"
#include "ps/placement.h"
#include "checkpoint/checkpoint_store.h"
#include "serving/bundle.h"
#include "serving/bundle_source.h"
#include "serving/checkpoint_reader.h"
#include "serving/exporter.h"
#include "serving/serving_model.h"
#include "worker/evaluation.h"
#include "tests/test_files.h"

namespace embark {
namespace {

// Whether a binding's field text ("3", "0..9", "all") covers `field`.
bool Covers(const std::string& fields, uint32_t field) {
  if (fields == "all") return true;
  const size_t dots = fields.find("..");
  if (dots == std::string::npos) return std::stoul(fields) == field;
  return field >= std::stoul(fields.substr(0, dots)) && field <= std::stoul(fields.substr(dots + 2));
}

std::unique_ptr<Model> Build(const ModelInfo& info) {
  std::unique_ptr<Model> m;
  Status st = info.create(ModelOptions(), &m);
  EXPECT_TRUE(st.ok()) << info.name << ": " << st.ToString();
  return m;
}

TEST(ModelRegistry, EveryModelIsFoundByNameAndBuildsWithItsDefaults) {
  ASSERT_GE(RegisteredModels().size(), 7u);
  std::set<std::string> names;
  for (const ModelInfo& info : RegisteredModels()) {
    EXPECT_TRUE(names.insert(info.name).second) << "registered twice: " << info.name;
    EXPECT_EQ(FindModel(info.name), &info);
    ASSERT_FALSE(info.formats.empty()) << info.name;
    EXPECT_GT(info.suggested_epochs, 0) << info.name;
    EXPECT_GT(info.batch_size, 0u) << info.name;
    std::unique_ptr<Model> m;
    ASSERT_TRUE(CreateModel(info.name, ModelOptions(), &m).ok()) << info.name;
    EXPECT_EQ(m->name(), info.name);
    EXPECT_EQ(m->Describe().task, info.task) << info.name;
    EXPECT_EQ(m->IsRanking(), info.task == ModelTask::kRanking) << info.name;
  }
  EXPECT_EQ(FindModel("dcn"), nullptr);
  std::unique_ptr<Model> m;
  Status st = CreateModel("dcn", ModelOptions(), &m);
  EXPECT_NE(st.message().find(KnownModelList()), std::string::npos) << st.message();
  // The evaluation comes from the task: an MF job is judged by RMSE whatever its input.
  EXPECT_EQ(Evaluation::KindOf(FindModel("mf")->task), Evaluation::kRegression);
  EXPECT_EQ(Evaluation::KindOf(FindModel("fm")->task), Evaluation::kClassification);
  EXPECT_EQ(Evaluation::KindOf(FindModel("imf")->task), Evaluation::kRanking);
}

// The description must agree with what the model does: every table described, every field the
// model reads bound to the table it reads it into, no binding for a field it ignores.
TEST(ModelRegistry, DescriptionsAgreeWithTablesAndFieldMapping) {
  for (const ModelInfo& info : RegisteredModels()) {
    SCOPED_TRACE(info.name);
    std::unique_ptr<Model> m = Build(info);
    const ModelDescription d = m->Describe();
    const std::vector<TableConfig> tables = m->Tables();
    EXPECT_FALSE(d.prediction.empty());
    ASSERT_EQ(d.tables.size(), tables.size());
    std::map<std::string, TableConfig> by_name;
    for (size_t t = 0; t < tables.size(); ++t) {
      EXPECT_EQ(d.tables[t].name, tables[t].name);
      EXPECT_FALSE(d.tables[t].columns.empty()) << tables[t].name;
      by_name[tables[t].name] = tables[t];
    }
    for (uint32_t field = 0; field < 2048; ++field) {
      const int t = m->TableOfField(static_cast<uint16_t>(field));
      int bindings = 0;
      for (const FieldBinding& b : d.fields) {
        if (!Covers(b.fields, field)) continue;
        ++bindings;
        ASSERT_GE(t, 0) << "field " << field << " is bound to " << b.table << " but the model ignores it";
        EXPECT_EQ(b.table, tables[t].name) << "field " << field;
      }
      EXPECT_EQ(bindings, t >= 0 ? 1 : 0) << "field " << field;
    }
    if (d.embedding) {
      ASSERT_TRUE(by_name.count(d.embedding->table));
      const TableConfig& t = by_name[d.embedding->table];
      EXPECT_FALSE(t.dense);
      EXPECT_LT(d.embedding->begin, d.embedding->end);
      EXPECT_LE(d.embedding->end, t.dim);
    }
    for (const StorageTransform& x : d.transforms) {
      ASSERT_TRUE(by_name.count(x.table)) << x.table;
      const TableConfig& t = by_name[x.table];
      EXPECT_LT(x.column, t.dense ? t.dense_size : t.dim);
      EXPECT_NE(x.scale, 0.0f);
    }
    if (d.row_topk) {
      const int user = m->TableOfField(0), item = m->TableOfField(1);
      ASSERT_GE(user, 0);
      ASSERT_GE(item, 0);
      EXPECT_LT(d.row_topk->bias_column, tables[item].dim);
      EXPECT_LE(d.row_topk->dim, tables[user].dim);
    }
  }
}

// Fields every test example carries: ids, side features of both sides, a shared word, and
// fields the field-aware models read (0..9).
const uint16_t kExampleFields[] = {0, 1, 2, 3, 5, 32, 64};
const char* const kIds[] = {"a", "b", "c", "d"};

// A checkpoint of `m` (one shard) whose sparse tables hold a row for every (field, id) of the
// examples and whose dense tables are filled, all with random weights; *rows gets the weights.
void WriteCheckpoint(const std::string& dir, const std::string& model_name, const Model& m,
                     std::vector<std::map<uint64_t, std::vector<float>>>* rows, std::vector<std::vector<float>>* dense) {
  mkdir(dir.c_str(), 0755);
  const std::vector<TableConfig> tables = m.Tables();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  rows->assign(tables.size(), {});
  dense->assign(tables.size(), {});
  std::vector<std::string> names;
  std::vector<bool> is_dense;
  std::vector<uint32_t> floats;
  std::vector<uint32_t> width(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    const TableConfig& c = tables[t];
    width[t] = c.dense ? static_cast<uint32_t>(std::min<uint64_t>(std::max<uint64_t>(c.dense_size, 1), kDenseBlockFloats)) : c.dim;
    names.push_back(c.name);
    is_dense.push_back(c.dense);
    floats.push_back(width[t] + static_cast<uint32_t>(Optimizer::Create(c.optimizer)->StateFloats(static_cast<int>(width[t]))));
    if (c.dense) {
      (*dense)[t].resize(c.dense_size);
      for (float& v : (*dense)[t]) v = normal(rng);
    }
  }
  for (uint16_t field : kExampleFields) {
    const int t = m.TableOfField(field);
    if (t < 0) continue;
    for (const char* id : kIds) {
      std::vector<float>& row = (*rows)[t][FeatureKey(field, id)];
      row.resize(tables[t].dim);
      for (float& v : row) v = normal(rng);
    }
  }
  uint64_t checksum = 0;
  Status st = WriteShardFile(dir + "/server-0.shard", names, is_dense, floats,
                             [&](const std::function<void(const ShardRow&)>& emit) {
                               for (size_t t = 0; t < tables.size(); ++t) {
                                 std::vector<float> buf(floats[t], 0.0f);
                                 if (tables[t].dense) {
                                   for (uint64_t b = 0; b * width[t] < tables[t].dense_size; ++b) {
                                     std::fill(buf.begin(), buf.end(), 0.0f);
                                     for (uint32_t j = 0; j < width[t] && b * width[t] + j < tables[t].dense_size; ++j)
                                       buf[j] = (*dense)[t][b * width[t] + j];
                                     emit({static_cast<uint32_t>(t), b, buf.data(), floats[t]});
                                   }
                                   continue;
                                 }
                                 for (const auto& [key, w] : (*rows)[t]) {
                                   std::fill(buf.begin(), buf.end(), 0.5f);  // optimizer state must not leak out
                                   std::copy(w.begin(), w.end(), buf.begin());
                                   emit({static_cast<uint32_t>(t), key, buf.data(), floats[t]});
                                 }
                               }
                             },
                             &checksum);
  ASSERT_TRUE(st.ok()) << st.ToString();
  Manifest manifest;
  manifest.model = model_name;
  manifest.epochs_done = 1;
  manifest.servers = 1;
  manifest.workers = 1;
  manifest.files.push_back({"shard", "server-0.shard", checksum});
  manifest.format = FindModel(model_name)->default_format();
  manifest.seed = 3;
  manifest.metrics = {{"train_loss", "0.123456789012"}};
  std::ofstream(dir + "/MANIFEST") << FormatManifest(manifest);
}

// Three examples over the checkpoint's keys; every feature's row is in the checkpoint.
Batch Examples() {
  Batch batch;
  for (int e = 0; e < 3; ++e) {
    for (uint16_t field : kExampleFields) batch.AddFeature(FeatureKey(field, kIds[(e + field) % 4]), 1.0f, field);
    batch.EndExample(1.0f);
  }
  return batch;
}

// The model's own prediction on the checkpoint's rows, gathered by hand.
std::vector<float> Reference(const Model& m, const Batch& batch,
                             const std::vector<std::map<uint64_t, std::vector<float>>>& rows,
                             const std::vector<std::vector<float>>& dense) {
  const std::vector<TableConfig> tables = m.Tables();
  PulledRows pulled;
  pulled.rows.resize(tables.size());
  for (size_t t = 0; t < tables.size(); ++t)
    if (tables[t].dense) pulled.rows[t] = dense[t];
  std::vector<std::map<uint64_t, int32_t>> row_of(tables.size());
  for (size_t i = 0; i < batch.num_features(); ++i) {
    const int t = m.TableOfField(batch.fields[i]);
    if (t < 0) {
      pulled.row_of_feature.push_back(-1);
      continue;
    }
    auto it = row_of[t].find(batch.keys[i]);
    if (it == row_of[t].end()) {
      const std::vector<float>& w = rows[t].at(batch.keys[i]);
      it = row_of[t].emplace(batch.keys[i], static_cast<int32_t>(pulled.rows[t].size() / tables[t].dim)).first;
      pulled.rows[t].insert(pulled.rows[t].end(), w.begin(), w.end());
    }
    pulled.row_of_feature.push_back(it->second);
  }
  std::vector<float> preds(batch.size());
  m.Predict(batch, 0, batch.size(), pulled, preds.data());
  return preds;
}

// Every registered model: checkpoint -> export (with user profiles where it has embeddings)
// -> manifest that describes the model -> bundle loader -> scores equal to Predict.
TEST(ModelRegistry, EveryModelExportsAManifestThatDescribesItAndServesItsOwnPredictions) {
  for (const ModelInfo& info : RegisteredModels()) {
    SCOPED_TRACE(info.name);
    const std::string dir = FreshDir(std::string("walk_") + info.name);
    std::unique_ptr<Model> m = Build(info);
    const ModelDescription d = m->Describe();
    std::vector<std::map<uint64_t, std::vector<float>>> rows;
    std::vector<std::vector<float>> dense;
    WriteCheckpoint(dir + "/epoch-1", info.name, *m, &rows, &dense);
    if (HasFailure()) return;

    ExportOptions o;
    o.checkpoint = dir;
    o.out = dir + "/bundle";
    if (d.embedding) o.user_profiles = dir + "/profiles.npy";
    ExportReport report;
    Status st = RunExport(o, &report);
    ASSERT_TRUE(st.ok()) << st.ToString();
    if (!d.embedding) {
      o.user_profiles = dir + "/profiles.npy";
      st = RunExport(o, &report);
      EXPECT_NE(st.message().find("has no embedding vectors"), std::string::npos) << st.ToString();
    } else {
      const int table = [&] {
        for (size_t t = 0; t < m->Tables().size(); ++t)
          if (m->Tables()[t].name == d.embedding->table) return static_cast<int>(t);
        return -1;
      }();
      ASSERT_GE(table, 0);
      EXPECT_EQ(report.profile_rows, rows[table].size());
      EXPECT_EQ(report.profile_dim, d.embedding->end - d.embedding->begin);
    }

    std::unique_ptr<Bundle> opened;
    ASSERT_TRUE(Bundle::Open(o.out, &opened).ok());
    std::shared_ptr<const Bundle> bundle(std::move(opened));
    const JsonValue& man = bundle->manifest();
    EXPECT_EQ(man["model"]["name"].AsString(), info.name);
    EXPECT_EQ(man["model"]["task"].AsString(), ModelTaskName(info.task));
    EXPECT_EQ(man["model"]["prediction"].AsString(), d.prediction);
    // The metric keeps every digit the checkpoint recorded.
    EXPECT_EQ(man["training_metrics"]["train_loss"].AsDouble(), 0.123456789012);
    // Every table named by the features is a table of this bundle, with the model's columns.
    const auto& fields = man["features"]["fields"].elements();
    ASSERT_EQ(fields.size(), d.fields.size());
    for (const JsonValue& f : fields) EXPECT_NE(bundle->FindTable(f["table"].AsString()), nullptr) << f["table"].AsString();
    for (const TableDescription& t : d.tables) {
      const BundleTable* bt = bundle->FindTable(t.name);
      ASSERT_NE(bt, nullptr) << t.name;
      EXPECT_EQ(bt->columns(), t.columns);
    }
    // The exported values are the real parameters: stored * scale + offset.
    for (const StorageTransform& x : d.transforms) {
      const BundleTable* bt = bundle->FindTable(x.table);
      ASSERT_NE(bt, nullptr);
      for (size_t t = 0; t < m->Tables().size(); ++t) {
        if (m->Tables()[t].name != x.table) continue;
        if (m->Tables()[t].dense) {
          EXPECT_FLOAT_EQ(bt->Lookup(0)[x.column], dense[t][x.column] * x.scale + x.offset);
        } else {
          for (const auto& [key, w] : rows[t]) EXPECT_FLOAT_EQ(bt->Lookup(key)[x.column], w[x.column] * x.scale + x.offset);
        }
      }
    }

    std::shared_ptr<const ServingModel> serving;
    st = ServingModelFromBundle(bundle, o.out, ServingOptions(), 1, &serving);
    ASSERT_TRUE(st.ok()) << st.ToString();
    // Top-K: MF ranks its item table; click models have none (a ranking model's depends on
    // its catalogue: two_tower needs item features, export --items).
    if (d.row_topk) {
      EXPECT_TRUE(serving->has_topk());
    } else if (!m->IsRanking()) {
      EXPECT_FALSE(serving->has_topk());
    }
    const Batch batch = Examples();
    std::vector<float> got(batch.size());
    ScoreStats stats;
    serving->Score(batch, got.data(), &stats);
    EXPECT_EQ(stats.unknown_features, 0u);
    const std::vector<float> want = Reference(*m, batch, rows, dense);
    for (size_t e = 0; e < batch.size(); ++e) EXPECT_NEAR(got[e], want[e], 1e-5 * (1 + std::fabs(want[e]))) << e;
  }
}

std::string Fixture(const std::string& name) { return std::string(EMBARK_TEST_FIXTURES) + "/old_format/" + name; }

// Scores of the same examples by two serving models.
void ExpectSameScores(const ServingModel& a, const ServingModel& b, const Batch& batch) {
  std::vector<float> sa(batch.size()), sb(batch.size());
  ScoreStats stats;
  a.Score(batch, sa.data(), &stats);
  b.Score(batch, sb.data(), &stats);
  for (size_t e = 0; e < batch.size(); ++e) EXPECT_NEAR(sa[e], sb[e], 1e-6) << e;
}

std::shared_ptr<const ServingModel> Serve(const std::string& path) {
  std::unique_ptr<Bundle> opened;
  Status st = Bundle::Open(path, &opened);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return nullptr;
  std::shared_ptr<const ServingModel> serving;
  st = ServingModelFromBundle(std::shared_ptr<const Bundle>(std::move(opened)), path, ServingOptions(), 1, &serving);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return serving;
}

// A bundle and a checkpoint written before descriptions (MF marks its transforms only with
// bias_scale_applied; shards are checksummed with FNV-1a) serve exactly as a fresh export of
// the same checkpoint does.
TEST(ModelRegistry, OldBundlesAndCheckpointsStillLoadAndScoreAsBefore) {
  for (const char* name : {"mf", "imf"}) {
    SCOPED_TRACE(name);
    const std::string dir = FreshDir(std::string("old_") + name);
    Checkpoint c;
    Status st = ReadCheckpoint(Fixture(std::string("ck_") + name), &c);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ExportOptions o;
    o.checkpoint = Fixture(std::string("ck_") + name);
    o.out = dir + "/fresh";
    ExportReport report;
    st = RunExport(o, &report);
    ASSERT_TRUE(st.ok()) << st.ToString();
    std::shared_ptr<const ServingModel> old_bundle = Serve(Fixture(std::string("bundle_") + name));
    std::shared_ptr<const ServingModel> fresh = Serve(o.out);
    ASSERT_TRUE(old_bundle && fresh);
    EXPECT_FALSE(old_bundle->bundle()->manifest()["model"].Has("stored_transforms"));
    EXPECT_TRUE(fresh->bundle()->manifest()["model"].Has("task"));
    // Examples over every user and item key of the checkpoint.
    Batch batch;
    const CheckpointTable& users = c.tables[static_cast<size_t>(c.model->TableOfField(0))];
    const CheckpointTable& items = c.tables[static_cast<size_t>(c.model->TableOfField(1))];
    ASSERT_FALSE(users.keys.empty());
    ASSERT_FALSE(items.keys.empty());
    for (size_t u = 0; u < users.keys.size(); ++u) {
      batch.AddFeature(users.keys[u], 1.0f, 0);
      batch.AddFeature(items.keys[u % items.keys.size()], 1.0f, 1);
      batch.EndExample(0);
    }
    ExpectSameScores(*old_bundle, *fresh, batch);
    if (std::string(name) == "mf") {
      // The old bundle's real biases were undone on load: a score is mu + b_u + b_i + <p, q>.
      const BundleTable* bu = old_bundle->bundle()->FindTable("user");
      const BundleTable* bi = old_bundle->bundle()->FindTable("item");
      const float mu = old_bundle->bundle()->FindTable("global")->Lookup(0)[0];
      const float* p = bu->Lookup(users.keys[0]);
      const float* q = bi->Lookup(items.keys[0]);
      Batch one;
      one.AddFeature(users.keys[0], 1.0f, 0);
      one.AddFeature(items.keys[0], 1.0f, 1);
      one.EndExample(0);
      float score = 0;
      ScoreStats stats;
      old_bundle->Score(one, &score, &stats);
      const float by_hand = mu + p[2] + q[2] + p[0] * q[0] + p[1] * q[1];
      EXPECT_NEAR(score, std::min(5.0f, std::max(1.0f, by_hand)), 1e-5);
    }
  }
}

}  // namespace
}  // namespace embark
