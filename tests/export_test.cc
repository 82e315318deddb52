// Tests of the serving export: file-format pieces (CRC-32, float16, .npy headers, JSON),
// checkpoint -> bundle round trips, corruption, deltas, PCA, model option text and raw ids.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/hash.h"
#include "models/mf.h"
#include "models/model_factory.h"
#include "models/model_spec.h"
#include "models/two_tower.h"
#include "ps/checkpoint_shard.h"
#include "checkpoint/checkpoint_store.h"
#include "ps/optimizer.h"
#include "serving/bundle.h"
#include "core/crc32.h"
#include "serving/exporter.h"
#include "serving/json.h"
#include "serving/npy.h"
#include "serving/pca.h"
#include "serving/topk_data.h"
#include "data/line_parser.h"
#include "tests/test_files.h"

namespace embark {
namespace {

// ---------------------------------------------------------------------------------------
// Format pieces

TEST(ExportFormat, Crc32MatchesTheStandardCheckValue) {
  // The CRC-32 (zlib) check value of "123456789" is 0xCBF43926; chunked = whole.
  EXPECT_EQ(Crc32(0, "123456789", 9), 0xCBF43926u);
  EXPECT_EQ(Crc32(Crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
  EXPECT_EQ(Crc32(0, "", 0), 0u);
  std::string long_text(1000, 'a');
  uint32_t byte_by_byte = 0;
  for (char c : long_text) byte_by_byte = Crc32(byte_by_byte, &c, 1);
  EXPECT_EQ(Crc32(0, long_text.data(), long_text.size()), byte_by_byte);
}

TEST(ExportFormat, HalfConversionIsIeeeBinary16) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7C00);                 // overflow: inf
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(1e-9f), 0x0000);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // a tie rounds to even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  // Every half that is not a NaN survives half -> float -> half unchanged.
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) continue;
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
}

TEST(ExportFormat, NpyHeaderIs128BytesAndParsesBack) {
  const std::string h = NpyHeader("<f4", {3, 2});
  ASSERT_EQ(h.size(), 128u);
  EXPECT_EQ(h.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(h[6], 1);
  EXPECT_EQ(h[7], 0);
  EXPECT_EQ(static_cast<unsigned char>(h[8]) | (static_cast<unsigned char>(h[9]) << 8), 118);
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  EXPECT_EQ(h.substr(10, dict.size()), dict);
  EXPECT_EQ(h.find_first_not_of(' ', 10 + dict.size()), 127u);  // space padding up to the '\n'
  EXPECT_EQ(h.back(), '\n');
  const std::string dict1 = "{'descr': '<u8', 'fortran_order': False, 'shape': (5,), }";
  EXPECT_EQ(NpyHeader("<u8", {5}).substr(10, dict1.size()), dict1);

  std::string file = h + std::string(24, '\0');
  std::string descr;
  std::vector<uint64_t> shape;
  uint64_t offset = 0;
  ASSERT_TRUE(ParseNpyHeader("x.npy", file.data(), file.size(), &descr, &shape, &offset).ok());
  EXPECT_EQ(descr, "<f4");
  EXPECT_EQ(shape, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(offset, 128u);
  // One byte short: refused, naming the file.
  Status st = ParseNpyHeader("x.npy", file.data(), file.size() - 1, &descr, &shape, &offset);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("x.npy"), std::string::npos);
}

TEST(ExportFormat, JsonParsesEscapesAndExactIntegers) {
  JsonValue v;
  ASSERT_TRUE(JsonValue::Parse("{\"a\": [1, 2.5e1, -3], \"s\": \"q\\\"\\u00e9\\n\", \"big\": 18446744073709551615, "
                               "\"t\": true, \"n\": null}",
                               "doc", &v).ok());
  EXPECT_EQ(v["a"].elements().size(), 3u);
  EXPECT_EQ(v["a"].elements()[1].AsDouble(), 25.0);
  EXPECT_EQ(v["s"].AsString(), "q\"\xc3\xa9\n");
  EXPECT_EQ(v["big"].AsUint64(), 18446744073709551615ULL);
  EXPECT_TRUE(v["t"].AsBool());
  EXPECT_TRUE(v["n"].is_null());
  EXPECT_TRUE(v["missing"].is_null());
  JsonValue again;
  ASSERT_TRUE(JsonValue::Parse(v.Serialize(), "serialized", &again).ok());
  EXPECT_EQ(again["s"].AsString(), v["s"].AsString());
  EXPECT_EQ(again["big"].AsUint64(), 18446744073709551615ULL);
  Status st = JsonValue::Parse("{\"a\": [1, }", "bad.json", &v);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad.json"), std::string::npos);
}

TEST(ExportModelSpec, OptionsRoundTripThroughText) {
  ModelOptions o;
  o.dim = 16;
  o.optimizer = OptimizerKind::kFtrl;
  o.lr = 0.1f;
  o.l1 = 0.3f;
  o.hidden = std::vector<uint32_t>{64, 32};
  o.num_fields = 7;
  o.init_scale = 1e-3f;
  o.side_features = true;
  o.negatives = 24;
  o.score = TwoTowerScore::kCosine;
  o.temperature = 0.07f;
  o.logq_correction = false;
  const ModelOptionText text = FormatModelOptions(o);
  ModelOptions back;
  for (const auto& [name, value] : text) ASSERT_TRUE(SetModelOption(name, value, &back).ok()) << name;
  EXPECT_EQ(back.dim, o.dim);
  EXPECT_EQ(back.optimizer, o.optimizer);
  EXPECT_EQ(back.lr, o.lr);  // bit-exact floats
  EXPECT_EQ(back.l1, o.l1);
  EXPECT_EQ(back.init_scale, o.init_scale);
  EXPECT_EQ(back.hidden, o.hidden);
  EXPECT_EQ(back.num_fields, o.num_fields);
  EXPECT_EQ(back.side_features, o.side_features);
  EXPECT_EQ(back.negatives, o.negatives);
  EXPECT_EQ(back.score, o.score);
  EXPECT_EQ(back.temperature, o.temperature);
  EXPECT_EQ(back.logq_correction, o.logq_correction);
  EXPECT_FALSE(back.l2.has_value());
  EXPECT_EQ(FormatModelOptions(ModelOptions()).size(), 0u);
  EXPECT_FALSE(SetModelOption("dimm", "3", &back).ok());
  EXPECT_FALSE(SetModelOption("lr", "fast", &back).ok());
  EXPECT_FALSE(SetModelOption("side_features", "yes", &back).ok());
  EXPECT_FALSE(SetModelOption("score", "euclid", &back).ok());
  EXPECT_FALSE(SetModelOption("logq_correction", "1", &back).ok());
}

// ---------------------------------------------------------------------------------------
// Checkpoint -> bundle

// A hand-made MF checkpoint (K = 2, AdaGrad: rows are 3 weights + 3 state floats) of two
// shards. `rows` maps (table, key) -> the 3 weights; global is the learned offset.
struct FakeMf {
  std::map<std::pair<uint32_t, uint64_t>, std::vector<float>> rows;
  float global = 0.25f;
};

void WriteMfCheckpoint(const std::string& dir, const FakeMf& m, int epoch = 1, std::optional<uint64_t> seed = std::nullopt) {
  mkdir(dir.c_str(), 0755);
  ModelOptions o;
  o.dim = 2;
  std::unique_ptr<Model> model;
  ASSERT_TRUE(CreateModel("mf", o, &model).ok());
  const auto tables = model->Tables();
  std::vector<std::string> names;
  std::vector<bool> dense;
  std::vector<uint32_t> floats;
  for (const TableConfig& t : tables) {
    names.push_back(t.name);
    dense.push_back(t.dense);
    floats.push_back(2 * (t.dense ? 1 : t.dim));  // AdaGrad keeps one state float per weight
    ASSERT_EQ(Optimizer::Create(t.optimizer)->StateFloats(static_cast<int>(t.dense ? 1 : t.dim)), t.dense ? 1 : 3);
  }
  Manifest manifest;  // the scheduler's MANIFEST (checkpoint/checkpoint_store.h)
  manifest.model = "mf";
  manifest.epochs_done = epoch;
  manifest.servers = 2;
  manifest.workers = 1;
  for (int s = 0; s < 2; ++s) {
    const std::string file = "server-" + std::to_string(s) + ".shard";
    uint64_t checksum = 0;
    ASSERT_TRUE(WriteShardFile(dir + "/" + file, names, dense, floats, [&](const std::function<void(const ShardRow&)>& emit) {
                  for (const auto& [tk, w] : m.rows) {
                    if (static_cast<int>(tk.second % 2) != s) continue;  // keys split over the shards
                    float row[6] = {w[0], w[1], w[2], 9, 9, 9};          // state must not leak out
                    emit({tk.first, tk.second, row, 6});
                  }
                  if (s == 1) {
                    float g[2] = {m.global, 7};
                    emit({2, 0, g, 2});
                  }
                }, &checksum).ok());
    manifest.files.push_back({"shard", file, checksum});
  }
  manifest.format = "ratings";
  manifest.seed = seed;
  manifest.options = {{"dim", "2"}};
  manifest.metrics = {{"train_loss", "0.5"}, {"test_rmse", "0.91"}};
  Spit(dir + "/MANIFEST", FormatManifest(manifest));
}

FakeMf SampleMf() {
  FakeMf m;
  m.rows[{0, 7}] = {0.1f, 0.2f, 0.5f};
  m.rows[{0, 3}] = {-0.3f, 0.4f, -0.25f};
  m.rows[{0, 1000}] = {1.5f, -2.0f, 0.125f};
  m.rows[{1, 8}] = {0.7f, 0.8f, 0.0f};
  m.rows[{1, 2}] = {-0.7f, 0.05f, 1.0f};
  return m;
}

TEST(ExportBundle, RoundTripGivesTheCheckpointWeights) {
  const std::string dir = FreshDir("roundtrip");
  const FakeMf m = SampleMf();
  WriteMfCheckpoint(dir + "/epoch-1", m);
  ExportOptions o;
  o.checkpoint = dir;  // the newest complete checkpoint under a --checkpoint_dir
  o.out = dir + "/bundle";
  ExportReport report;
  Status st = RunExport(o, &report);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(report.checkpoint_dir, dir + "/epoch-1");

  std::unique_ptr<Bundle> b;
  st = Bundle::Open(o.out, &b);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(b->is_delta());
  EXPECT_EQ(b->model_name(), "mf");
  EXPECT_EQ(b->id(), report.bundle_id);
  ASSERT_EQ(b->num_tables(), 3u);
  const BundleTable* user = b->FindTable("user");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->dim(), 3u);
  ASSERT_EQ(user->rows(), 3u);
  EXPECT_EQ(user->keys()[0], 3u);
  EXPECT_EQ(user->keys()[1], 7u);
  EXPECT_EQ(user->keys()[2], 1000u);
  const float bias_scale = MfOptions().bias_scale;
  for (const auto& [tk, w] : m.rows) {
    const BundleTable* t = b->FindTable(tk.first == 0 ? "user" : "item");
    const float* row = t->Lookup(tk.second);
    ASSERT_NE(row, nullptr) << tk.second;
    EXPECT_EQ(row[0], w[0]);
    EXPECT_EQ(row[1], w[1]);
    EXPECT_EQ(row[2], w[2] * bias_scale);  // the real bias, not the stored b / bias_scale
  }
  EXPECT_EQ(user->Lookup(4), nullptr);
  EXPECT_EQ(user->Find(0), -1);
  EXPECT_EQ(user->Find(~uint64_t{0}), -1);
  const BundleTable* global = b->FindTable("global");
  ASSERT_EQ(global->rows(), 1u);
  EXPECT_FLOAT_EQ(global->Lookup(0)[0], MfOptions().global_mean + m.global);
  // The manifest describes the model, its options, metrics and source.
  const JsonValue& man = b->manifest();
  EXPECT_EQ(man["format_version"].AsUint64(), kBundleFormatVersion);
  EXPECT_EQ(man["model"]["options"]["dim"].AsString(), "2");
  EXPECT_EQ(man["model"]["bias_column"].AsUint64(), 2u);
  EXPECT_EQ(man["training_metrics"]["test_rmse"].AsDouble(), 0.91);
  EXPECT_EQ(man["source"]["epoch"].AsUint64(), 1u);
  EXPECT_EQ(man["features"]["format"].AsString(), "ratings");
  EXPECT_EQ(man["files"]["user.keys.npy"]["bytes"].AsUint64(), 128u + 3 * 8);
  // The same checkpoint exported again is the same bundle.
  ExportReport again;
  o.out = dir + "/bundle2";
  ASSERT_TRUE(RunExport(o, &again).ok());
  EXPECT_EQ(again.bundle_id, report.bundle_id);
}

TEST(ExportBundle, Float16IsWithinHalfPrecision) {
  const std::string dir = FreshDir("half");
  const FakeMf m = SampleMf();
  WriteMfCheckpoint(dir + "/epoch-1", m);
  ExportOptions o;
  o.checkpoint = dir + "/epoch-1";
  o.out = dir + "/bundle";
  o.dtype = BundleDtype::kFloat16;
  ExportReport report;
  ASSERT_TRUE(RunExport(o, &report).ok());
  std::unique_ptr<Bundle> b;
  ASSERT_TRUE(Bundle::Open(o.out, &b).ok());
  EXPECT_EQ(b->dtype(), BundleDtype::kFloat16);
  EXPECT_EQ(Slurp(o.out + "/user.values.npy").size(), 128u + 3 * 3 * 2);
  const BundleTable* item = b->FindTable("item");
  EXPECT_EQ(item->Lookup(8), nullptr);  // no float pointer into half data
  float row[3];
  ASSERT_TRUE(item->LookupInto(2, row));
  const std::vector<float>& w = m.rows.at({1, 2});
  for (int j = 0; j < 3; ++j) {
    const float want = j == 2 ? w[j] * MfOptions().bias_scale : w[j];
    EXPECT_NEAR(row[j], want, std::fabs(want) * (1.0 / 2048) + 1e-7) << j;  // half has 11 significant bits
  }
  EXPECT_FALSE(item->LookupInto(5, row));
}

TEST(ExportBundle, CorruptedOrUnknownBundlesAreRefusedNamingTheFile) {
  const std::string dir = FreshDir("corrupt");
  WriteMfCheckpoint(dir + "/epoch-1", SampleMf());
  ExportOptions o;
  o.checkpoint = dir + "/epoch-1";
  o.out = dir + "/bundle";
  ExportReport report;
  ASSERT_TRUE(RunExport(o, &report).ok());
  const std::string values = o.out + "/item.values.npy";
  const std::string good = Slurp(values);
  std::unique_ptr<Bundle> b;

  std::string flipped = good;
  flipped[130] ^= 0x40;  // a bit of the first value
  Spit(values, flipped);
  Status st = Bundle::Open(o.out, &b);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("item.values.npy"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("CRC-32"), std::string::npos) << st.message();
  // Without checksum verification the same damage passes (sizes and headers are fine).
  BundleOpenOptions trusting;
  trusting.verify_checksums = false;
  EXPECT_TRUE(Bundle::Open(o.out, &b, trusting).ok());

  Spit(values, good.substr(0, good.size() - 4));
  st = Bundle::Open(o.out, &b);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("item.values.npy"), std::string::npos) << st.message();

  Spit(values, good);
  ASSERT_TRUE(Bundle::Open(o.out, &b).ok());
  const std::string manifest = Slurp(o.out + "/manifest.json");
  std::string newer = manifest;
  newer.replace(newer.find("\"format_version\": 1"), 19, "\"format_version\": 2");
  Spit(o.out + "/manifest.json", newer);
  st = Bundle::Open(o.out, &b);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("format_version 2"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("manifest.json"), std::string::npos) << st.message();
}

TEST(ExportBundle, DamagedCheckpointIsRefused) {
  const std::string dir = FreshDir("badckpt");
  WriteMfCheckpoint(dir + "/epoch-1", SampleMf());
  const std::string shard = dir + "/epoch-1/server-0.shard";
  std::string bytes = Slurp(shard);
  bytes[40] ^= 1;
  Spit(shard, bytes);
  ExportOptions o;
  o.checkpoint = dir + "/epoch-1";
  o.out = dir + "/bundle";
  ExportReport report;
  Status st = RunExport(o, &report);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("server-0.shard"), std::string::npos) << st.message();
  struct stat info;
  EXPECT_NE(stat(o.out.c_str(), &info), 0);  // nothing published
}

// ---------------------------------------------------------------------------------------
// Deltas

TEST(ExportDelta, HoldsOnlyChangedRowsAndBasePlusDeltaIsTheFullExport) {
  for (BundleDtype dtype : {BundleDtype::kFloat32, BundleDtype::kFloat16}) {
    const std::string dir = FreshDir(std::string("delta_") + BundleDtypeName(dtype));
    const FakeMf old_model = SampleMf();
    FakeMf new_model = old_model;
    new_model.rows[{0, 7}][1] = 0.75f;             // changed
    new_model.rows.erase({0, 1000});               // deleted
    new_model.rows[{0, 5}] = {0.0f, 1.0f, 2.0f};   // new
    new_model.rows[{1, 2}][2] = 1.0f + 1e-7f;      // below float16 resolution: changes only in float32
    mkdir((dir + "/ckpt").c_str(), 0755);
    WriteMfCheckpoint(dir + "/ckpt/epoch-1", old_model, 1);
    WriteMfCheckpoint(dir + "/ckpt/epoch-2", new_model, 2);

    ExportOptions o;
    o.dtype = dtype;
    o.checkpoint = dir + "/ckpt/epoch-1";
    o.out = dir + "/v1";
    ExportReport r1, r2, rd;
    ASSERT_TRUE(RunExport(o, &r1).ok());
    o.checkpoint = dir + "/ckpt/epoch-2";
    o.out = dir + "/v2";
    ASSERT_TRUE(RunExport(o, &r2).ok());
    o.base = dir + "/v1";
    o.out = dir + "/v1-to-v2";
    Status st = RunExport(o, &rd);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(rd.delta);

    std::unique_ptr<Bundle> v1, v2, delta;
    ASSERT_TRUE(Bundle::Open(dir + "/v1", &v1).ok());
    ASSERT_TRUE(Bundle::Open(dir + "/v2", &v2).ok());
    ASSERT_TRUE(Bundle::Open(dir + "/v1-to-v2", &delta).ok());
    EXPECT_TRUE(delta->is_delta());
    EXPECT_EQ(delta->base_id(), v1->id());
    const BundleTable* user = delta->FindTable("user");
    ASSERT_EQ(user->rows(), 2u);  // key 5 (new) and key 7 (changed); key 3 unchanged
    EXPECT_EQ(user->keys()[0], 5u);
    EXPECT_EQ(user->keys()[1], 7u);
    ASSERT_EQ(user->num_deleted(), 1u);
    EXPECT_EQ(user->deleted_keys()[0], 1000u);
    const BundleTable* item = delta->FindTable("item");
    EXPECT_EQ(item->rows(), dtype == BundleDtype::kFloat32 ? 1u : 0u);
    EXPECT_EQ(item->num_deleted(), 0u);
    EXPECT_EQ(delta->FindTable("global")->rows(), 0u);  // the offset did not change

    ASSERT_TRUE(ApplyDelta(*v1, *delta, dir + "/applied").ok());
    std::unique_ptr<Bundle> applied;
    ASSERT_TRUE(Bundle::Open(dir + "/applied", &applied).ok());
    EXPECT_EQ(applied->id(), v2->id());  // same data files, byte for byte
    for (size_t t = 0; t < v2->num_tables(); ++t) {
      const BundleTable& want = v2->table(t);
      const BundleTable& got = applied->table(t);
      ASSERT_EQ(got.rows(), want.rows());
      for (uint64_t r = 0; r < want.rows(); ++r) {
        EXPECT_EQ(got.keys()[r], want.keys()[r]);
        EXPECT_EQ(std::memcmp(got.RowData(r), want.RowData(r), want.dim() * (dtype == BundleDtype::kFloat32 ? 4 : 2)), 0);
      }
    }
    // A delta applied to another base is refused.
    st = ApplyDelta(*v2, *delta, dir + "/wrong");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(v1->id()), std::string::npos) << st.message();
  }
}

// ---------------------------------------------------------------------------------------
// PCA and user profiles

TEST(ExportPca, RankTwoDataIsExplainedByTwoComponents) {
  // Points a*u + b*v + c with (a, b) in {(+-3, +-1)}, each 5 times; u, v orthonormal in 4
  // dimensions, c an offset the centring must remove.
  const float s = std::sqrt(0.5f);
  const float u[4] = {s, s, 0, 0}, v[4] = {0, 0, 0.6f, 0.8f}, c[4] = {5, -1, 2, 0.5f};
  std::vector<float> rows;
  std::vector<std::pair<float, float>> ab;
  for (int rep = 0; rep < 5; ++rep)
    for (float a : {3.0f, -3.0f})
      for (float b : {1.0f, -1.0f}) ab.emplace_back(a, b);
  for (const auto& [a, b] : ab)
    for (int j = 0; j < 4; ++j) rows.push_back(a * u[j] + b * v[j] + c[j]);
  const uint64_t n = ab.size();
  PcaResult pca;
  ASSERT_TRUE(FitPca(rows.data(), n, 4, 2, &pca).ok());
  EXPECT_NEAR(pca.explained_variance_ratio, 1.0, 1e-9);
  // Sample variances: a has mean 0 and a^2 = 9, so var = 9 n / (n - 1); b likewise with 1.
  EXPECT_NEAR(pca.explained_variance[0], 9.0 * n / (n - 1), 1e-4);
  EXPECT_NEAR(pca.explained_variance[1], 1.0 * n / (n - 1), 1e-4);
  for (int j = 0; j < 4; ++j) {
    EXPECT_NEAR(pca.components[j], u[j], 1e-5);      // largest entry made positive: +u
    EXPECT_NEAR(pca.components[4 + j], v[j], 1e-5);  // +v
    EXPECT_NEAR(pca.mean[j], c[j], 1e-5);
  }
  std::vector<float> projected;
  ProjectPca(pca, rows.data(), n, &projected);
  for (uint64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(projected[i * 2], ab[i].first, 1e-4);
    EXPECT_NEAR(projected[i * 2 + 1], ab[i].second, 1e-4);
  }
  ASSERT_TRUE(FitPca(rows.data(), n, 4, 1, &pca).ok());
  EXPECT_NEAR(pca.explained_variance_ratio, 0.9, 1e-6);  // 9 / (9 + 1)
  EXPECT_FALSE(FitPca(rows.data(), n, 4, 5, &pca).ok());
}

TEST(ExportPca, UserProfilesWithIdsFromTheTrainingData) {
  const std::string dir = FreshDir("profiles");
  // Keys are the hashes of raw ids, as training makes them.
  FakeMf m;
  const std::vector<std::string> users = {"alice", "bob", "carol"};
  for (size_t i = 0; i < users.size(); ++i)
    m.rows[{0, FeatureKey(0, users[i])}] = {static_cast<float>(i), 2.0f * i + 1, 0.0f};
  m.rows[{1, FeatureKey(1, "i42")}] = {1, 1, 1};
  m.rows[{1, FeatureKey(1, "i7")}] = {2, 2, 2};
  WriteMfCheckpoint(dir + "/epoch-1", m);
  Spit(dir + "/train.tsv", "user\titem\trating\nalice\ti42\t5\nbob\ti42\t3\ncarol::x\ti7\t4\ncarol\ti7\t1\n");
  ExportOptions o;
  o.checkpoint = dir + "/epoch-1";
  o.out = dir + "/bundle";
  o.ids_from = dir + "/train.tsv";
  o.user_profiles = dir + "/users.npy";
  o.pca_dim = 1;
  ExportReport report;
  Status st = RunExport(o, &report);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::unique_ptr<Bundle> b;
  ASSERT_TRUE(Bundle::Open(o.out, &b).ok());
  const BundleTable* user = b->FindTable("user");
  ASSERT_TRUE(user->has_ids());
  for (const std::string& u : users) {
    const int64_t row = user->Find(FeatureKey(0, u));
    ASSERT_GE(row, 0);
    EXPECT_EQ(user->id(static_cast<uint64_t>(row)), u);
  }
  const BundleTable* item = b->FindTable("item");
  EXPECT_EQ(item->id(static_cast<uint64_t>(item->Find(FeatureKey(1, "i7")))), "i7");
  EXPECT_FALSE(b->FindTable("global")->has_ids());
  // Profiles: 3 users, factors (i, 2i + 1) lie on a line, so one component explains all.
  EXPECT_EQ(report.profile_rows, 3u);
  EXPECT_EQ(report.profile_dim, 1u);
  EXPECT_NEAR(report.explained_variance_ratio, 1.0, 1e-6);
  const std::string npy = Slurp(dir + "/users.npy");
  ASSERT_EQ(npy.size(), 128u + 3 * 4);
  EXPECT_NE(npy.find("'shape': (3, 1)"), std::string::npos);
  EXPECT_EQ(Slurp(dir + "/users.keys.npy").size(), 128u + 3 * 8);
  EXPECT_EQ(Slurp(dir + "/users.pca_components.npy").size(), 128u + 2 * 4);
  const std::string ids = Slurp(dir + "/users.ids.txt");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), '\n'), 3);
  JsonValue summary;
  ASSERT_TRUE(JsonValue::Parse(Slurp(dir + "/users.json"), "users.json", &summary).ok());
  EXPECT_EQ(summary["pca_dim"].AsUint64(), 1u);
  EXPECT_EQ(summary["table"].AsString(), "user");
}

// ---------------------------------------------------------------------------------------
// Top-K data and the job seed

TEST(ExportTopKData, SeenItemsAndTheJobSeedReachTheBundle) {
  const std::string dir = FreshDir("seen");
  WriteMfCheckpoint(dir + "/epoch-1", SampleMf(), 1, uint64_t{42});
  // u1 rated i1 twice and i2; u2 rated i1; the header line is skipped as in training.
  Spit(dir + "/seen.tsv", "user\titem\trating\nu1\ti1\t5\nu1\ti2\t3\nu2\ti1\t4\nu1\ti1\t2\n");
  ExportOptions o;
  o.checkpoint = dir;
  o.out = dir + "/bundle";
  o.seen_from = dir + "/seen.tsv";
  ExportReport report;
  Status st = RunExport(o, &report);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(report.seen_users, 2u);
  EXPECT_EQ(report.seen_pairs, 3u);  // (u1, i1) once
  EXPECT_EQ(report.catalogue_items, 0u);  // mf ranks its item table

  std::unique_ptr<Bundle> b;
  ASSERT_TRUE(Bundle::Open(o.out, &b).ok());
  EXPECT_EQ(b->manifest()["source"]["seed"].AsUint64(), 42u);
  SeenItemsView seen;
  ASSERT_TRUE(FindSeenItems(*b, &seen).ok());
  ASSERT_EQ(seen.num_users, 2u);
  const uint64_t u1 = FeatureKey(0, "u1"), u2 = FeatureKey(0, "u2");
  const uint64_t i1 = FeatureKey(1, "i1"), i2 = FeatureKey(1, "i2");
  const size_t a = u1 < u2 ? 0 : 1;  // users ascending
  EXPECT_EQ(seen.users[a], u1);
  EXPECT_EQ(seen.users[1 - a], u2);
  ASSERT_EQ(seen.offsets[a + 1] - seen.offsets[a], 2u);
  EXPECT_EQ(seen.items[seen.offsets[a]], std::min(i1, i2));
  EXPECT_EQ(seen.items[seen.offsets[a] + 1], std::max(i1, i2));
  ASSERT_EQ(seen.offsets[2 - a] - seen.offsets[1 - a], 1u);
  EXPECT_EQ(seen.items[seen.offsets[1 - a]], i1);

  // A checkpoint written before seed lines gives a bundle without source.seed.
  const std::string old = FreshDir("noseed");
  WriteMfCheckpoint(old + "/epoch-1", SampleMf());
  o = ExportOptions();
  o.checkpoint = old;
  o.out = old + "/bundle";
  ASSERT_TRUE(RunExport(o, &report).ok());
  ASSERT_TRUE(Bundle::Open(o.out, &b).ok());
  EXPECT_FALSE(b->manifest()["source"].Has("seed"));

  // --items is for the ranking models; a bad seen file is refused naming file and line.
  o.items = dir + "/seen.tsv";
  st = RunExport(o, &report);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("--items"), std::string::npos) << st.ToString();
  o.items.clear();
  Spit(dir + "/bad.tsv", "u1\ti1\t5\nu1 only\n");
  o.seen_from = dir + "/bad.tsv";
  st = RunExport(o, &report);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad.tsv:2"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace embark
