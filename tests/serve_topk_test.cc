// Tests of top-K for every recommendation model: imf and two_tower answers equal a brute-force
// ranking through the model's own UserVectors / ItemVectors hooks fed independently gathered
// rows (and imf's formula by hand), HNSW recall is measured for them, a user's seen items are
// left out unless include_seen (over HTTP), and seen items and the catalogue survive a bundle
// round trip and a delta.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "models/interaction_fields.h"
#include "models/model_factory.h"
#include "serving/bundle.h"
#include "serving/bundle_source.h"
#include "serving/serve_app.h"
#include "serving/serving_model.h"
#include "serving/topk_data.h"
#include "data/line_parser.h"
#include "tests/test_files.h"

namespace embark {
namespace {

using nlohmann::json;

// Random rows for a model's tables: sparse tables get `keys_per_table[t]`, dense tables their
// whole vector; values uniform in [-scale, scale].
struct Tables {
  std::vector<TableConfig> configs;
  std::vector<std::vector<uint64_t>> keys;
  std::vector<std::vector<float>> values;

  // The pull of `batch` gathered by linear search (independent of KeyIndex and of
  // ServingModel): every feature must have a row.
  PulledRows Gather(const Model& model, const Batch& batch) const {
    PulledRows p;
    p.rows.resize(configs.size());
    p.row_of_feature.assign(batch.num_features(), -1);
    for (size_t t = 0; t < configs.size(); ++t)
      if (configs[t].dense) p.rows[t] = values[t];
    for (size_t i = 0; i < batch.num_features(); ++i) {
      const int t = model.TableOfField(batch.fields[i]);
      if (t < 0) continue;
      const uint32_t dim = configs[t].dim;
      size_t r = 0;
      while (r < keys[t].size() && keys[t][r] != batch.keys[i]) ++r;
      EXPECT_LT(r, keys[t].size()) << "no row for a feature of field " << batch.fields[i];
      if (r == keys[t].size()) continue;
      p.row_of_feature[i] = static_cast<int32_t>(p.rows[t].size() / dim);
      p.rows[t].insert(p.rows[t].end(), values[t].begin() + r * dim, values[t].begin() + (r + 1) * dim);
    }
    return p;
  }
};

std::unique_ptr<Model> NewModel(const std::string& name, const ModelOptions& o) {
  std::unique_ptr<Model> m;
  Status st = CreateModel(name, o, &m);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return m;
}

ServingModelParts MakeParts(std::unique_ptr<Model> model, const std::vector<std::vector<uint64_t>>& keys_per_table,
                            uint32_t rng_seed, std::shared_ptr<Tables>* out) {
  auto mem = std::make_shared<Tables>();
  mem->configs = model->Tables();
  std::mt19937 rng(rng_seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  ServingModelParts parts;
  const size_t n = mem->configs.size();
  parts.tables.resize(n);
  mem->keys.resize(n);
  mem->values.resize(n);
  for (size_t t = 0; t < n; ++t) {
    if (mem->configs[t].dense) {
      mem->values[t].resize(mem->configs[t].dense_size);
    } else {
      mem->keys[t] = keys_per_table[t];
      mem->values[t].resize(mem->keys[t].size() * mem->configs[t].dim);
    }
    for (float& v : mem->values[t]) v = u(rng);
  }
  for (size_t t = 0; t < n; ++t) {
    parts.tables[t].keys = mem->keys[t].data();
    parts.tables[t].values = mem->values[t].data();
    parts.tables[t].num_rows = mem->keys[t].size();
  }
  parts.model = std::move(model);
  parts.seed = 7;
  parts.backing = mem;
  *out = mem;
  return parts;
}

std::string Id(const char* prefix, int i) { return prefix + std::to_string(i); }

// Brute force: every catalogue item's vector from ItemVectors over its own gathered rows, the
// user's vector from UserVectors, the dot product, sorted best first (ties: smaller row).
std::vector<std::pair<float, uint32_t>> BruteForce(const Model& model, const Tables& mem, const Batch& user,
                                                   const std::vector<Batch>& items) {
  const int d = model.VectorDim();
  std::vector<float> u(d);
  model.UserVectors(user, 0, 1, mem.Gather(model, user), u.data());
  std::vector<std::pair<float, uint32_t>> ranked;
  std::vector<float> v(d);
  for (uint32_t r = 0; r < items.size(); ++r) {
    model.ItemVectors(items[r], 0, 1, mem.Gather(model, items[r]), v.data());
    double s = 0;
    for (int j = 0; j < d; ++j) s += double{u[j]} * v[j];
    ranked.push_back({static_cast<float>(-s), r});
  }
  std::sort(ranked.begin(), ranked.end());
  return ranked;
}

Batch OneExample(const std::vector<std::tuple<uint64_t, uint16_t>>& features) {
  Batch b;
  for (const auto& [key, field] : features) b.AddFeature(key, 1.0f, field);
  b.EndExample(1.0f);
  return b;
}

// ---------------------------------------------------------------------------------------

TEST(ServeRankingTopK, ImfEqualsABruteForceRankingThroughTheHooks) {
  ModelOptions o;
  o.dim = 4;
  std::vector<std::vector<uint64_t>> keys(2);
  for (int u = 0; u < 10; ++u) keys[0].push_back(FeatureKey(kUserIdField, Id("u", u)));
  for (int i = 0; i < 60; ++i) keys[1].push_back(FeatureKey(kItemIdField, Id("i", i)));
  std::shared_ptr<Tables> mem;
  ServingModelParts parts = MakeParts(NewModel("imf", o), keys, 5, &mem);
  for (int i = 0; i < 60; ++i) parts.item_ids.push_back(Id("i", i));
  std::shared_ptr<const ServingModel> serving;
  Status st = ServingModel::Create(std::move(parts), ServingOptions(), &serving);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(serving->has_topk()) << serving->topk_unavailable();
  ASSERT_EQ(serving->num_items(), 60u);  // no catalogue: the item table is the catalogue

  const uint64_t user = FeatureKey(kUserIdField, "u3");
  std::vector<float> query;
  ASSERT_TRUE(serving->UserQuery(&user, {}, &query).ok());
  std::vector<Batch> items;
  for (int i = 0; i < 60; ++i) items.push_back(OneExample({{keys[1][i], kItemIdField}}));
  const auto ranked = BruteForce(serving->model(), *mem, OneExample({{user, kUserIdField}}), items);
  // Catalogue rows are item-table rows here; exclusions are passed sorted.
  const std::vector<uint32_t> excluded = {std::min(ranked[0].second, ranked[2].second), std::max(ranked[0].second, ranked[2].second)};
  std::vector<ScoredItem> top;
  serving->TopK(query.data(), 8, excluded, true, &top);
  ASSERT_EQ(top.size(), 8u);
  std::vector<std::pair<float, uint32_t>> want;
  for (const auto& r : ranked)
    if (r.second != excluded[0] && r.second != excluded[1]) want.push_back(r);
  for (int r = 0; r < 8; ++r) {
    EXPECT_EQ(top[r].key, keys[1][want[r].second]) << r;
    EXPECT_NEAR(top[r].score, -want[r].first, 1e-5) << r;
    EXPECT_EQ(serving->ItemId(top[r].row), Id("i", want[r].second));
  }
  // imf's score by hand: <p_u, q_i> + b_i (tables: user K, item K+1 with the bias last).
  const float* p = mem->values[0].data() + 3 * 4;
  const float* q = mem->values[1].data() + want[0].second * 5;
  EXPECT_NEAR(top[0].score, p[0] * q[0] + p[1] * q[1] + p[2] * q[2] + p[3] * q[3] + q[4], 1e-5);

  // An unknown user is NotFound; user features are refused (imf reads only the ids).
  const uint64_t nobody = FeatureKey(kUserIdField, "nobody");
  EXPECT_EQ(serving->UserQuery(&nobody, {}, &query).code(), Status::Code::kNotFound);
  st = serving->UserQuery(&user, {{2, FeatureKey(2, "x")}}, &query);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("field 2"), std::string::npos) << st.ToString();
}

// two_tower with K = d = 4, one hidden layer of 6; users have a side feature in field 2, items
// a category in field 32.
struct TwoTowerFixture {
  ModelOptions options;
  std::vector<std::vector<uint64_t>> keys;
  ItemCatalogue catalogue;
  std::vector<Batch> item_examples;  // per catalogue row
  TwoTowerFixture() {
    options.dim = 4;
    options.hidden = std::vector<uint32_t>{6};
    keys.resize(NewModel("two_tower", options)->Tables().size());
    for (int u = 0; u < 12; ++u) keys[0].push_back(FeatureKey(kUserIdField, Id("u", u)));
    for (const char* s : {"young", "old"}) keys[0].push_back(FeatureKey(2, s));
    for (int i = 0; i < 40; ++i) keys[1].push_back(FeatureKey(kItemIdField, Id("i", i)));
    for (int c = 0; c < 5; ++c) keys[1].push_back(FeatureKey(32, Id("cat", c)));
    std::vector<std::pair<uint64_t, int>> items;
    for (int i = 0; i < 40; ++i) items.push_back({FeatureKey(kItemIdField, Id("i", i)), i});
    std::sort(items.begin(), items.end());
    catalogue.offsets.push_back(0);
    for (const auto& [key, i] : items) {
      const uint64_t cat = FeatureKey(32, Id("cat", i % 5));
      catalogue.items.push_back(key);
      catalogue.feature_keys.insert(catalogue.feature_keys.end(), {key, cat});
      catalogue.feature_fields.insert(catalogue.feature_fields.end(), {kItemIdField, 32});
      catalogue.feature_values.insert(catalogue.feature_values.end(), {1.0f, 1.0f});
      catalogue.offsets.push_back(catalogue.feature_keys.size());
      item_examples.push_back(OneExample({{key, kItemIdField}, {cat, 32}}));
    }
  }
};

TEST(ServeRankingTopK, TwoTowerEqualsABruteForceRankingThroughTheHooks) {
  TwoTowerFixture f;
  std::shared_ptr<Tables> mem;
  ServingModelParts parts = MakeParts(NewModel("two_tower", f.options), f.keys, 9, &mem);
  parts.catalogue = ViewOf(f.catalogue);
  ServingOptions so;
  so.index = TopKIndexKind::kHnsw;
  std::shared_ptr<const ServingModel> serving;
  Status st = ServingModel::Create(std::move(parts), so, &serving);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(serving->has_topk()) << serving->topk_unavailable();
  EXPECT_EQ(serving->num_items(), 40u);
  EXPECT_EQ(serving->info().index, "hnsw");
  EXPECT_GT(serving->info().recall_queries, 0u);
  EXPECT_GE(serving->info().recall_at_10, 0.9);

  // The user id plus a side feature, and a user known only by its side feature.
  const uint64_t user = FeatureKey(kUserIdField, "u5"), young = FeatureKey(2, "young");
  const uint64_t stranger = FeatureKey(kUserIdField, "stranger");
  struct Case {
    const uint64_t* user;
    std::vector<std::pair<uint16_t, uint64_t>> side;
    Batch example;
  } cases[] = {{&user, {{2, young}}, OneExample({{user, kUserIdField}, {young, 2}})},
               {&user, {}, OneExample({{user, kUserIdField}})},
               {nullptr, {{2, young}}, OneExample({{young, 2}})}};
  for (const Case& c : cases) {
    std::vector<float> query;
    st = serving->UserQuery(c.user, c.side, &query);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const auto ranked = BruteForce(serving->model(), *mem, c.example, f.item_examples);
    std::vector<ScoredItem> top;
    serving->TopK(query.data(), 10, {}, true, &top);
    ASSERT_EQ(top.size(), 10u);
    for (int r = 0; r < 10; ++r) {
      EXPECT_EQ(top[r].key, f.catalogue.items[ranked[r].second]) << r;
      EXPECT_NEAR(top[r].score, -ranked[r].first, 1e-5) << r;
    }
  }
  // An unknown user id alone is NotFound; with side features the trainer's initial row stands in.
  std::vector<float> query;
  EXPECT_EQ(serving->UserQuery(&stranger, {}, &query).code(), Status::Code::kNotFound);
  EXPECT_TRUE(serving->UserQuery(&stranger, {{2, young}}, &query).ok());
  // An item-side field is not a user feature.
  EXPECT_EQ(serving->UserQuery(&user, {{32, young}}, &query).code(), Status::Code::kInvalidArgument);
}

TEST(ServeRankingTopK, TwoTowerWithoutACatalogueHasNoTopKAndSaysWhy) {
  TwoTowerFixture f;
  std::shared_ptr<Tables> mem;
  std::shared_ptr<const ServingModel> serving;
  ASSERT_TRUE(ServingModel::Create(MakeParts(NewModel("two_tower", f.options), f.keys, 9, &mem), ServingOptions(), &serving).ok());
  EXPECT_FALSE(serving->has_topk());
  EXPECT_NE(serving->topk_unavailable().find("--items"), std::string::npos) << serving->topk_unavailable();
}

// ---------------------------------------------------------------------------------------
// Seen items over HTTP

class OneVersion : public ModelSource {
 public:
  explicit OneVersion(std::shared_ptr<const ServingModel> m) : m_(std::move(m)) {}
  Status Load(const std::shared_ptr<const ServingModel>&, std::shared_ptr<const ServingModel>* next) override {
    *next = m_;
    return Status::OK();
  }
  std::string Stamp() override { return "1"; }
  std::string Describe() const override { return "memory"; }

 private:
  std::shared_ptr<const ServingModel> m_;
};

std::vector<std::string> TopIds(httplib::Client& client, const std::string& body) {
  auto res = client.Post("/topk", body, "application/json");
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 200) << res->body;
  std::vector<std::string> ids;
  const json body = json::parse(res->body);  // kept: a range-for over a temporary's member dangles
  for (const auto& item : body["items"]) ids.push_back(item["id"].get<std::string>());
  return ids;
}

TEST(ServeSeenItems, ASeenItemNeverAppearsUnlessIncludeSeen) {
  // MF, 8 users x 30 items; u1 has seen i0..i9 and i29 ("zzz" is not in the catalogue).
  ModelOptions o;
  o.dim = 3;
  std::vector<std::vector<uint64_t>> keys(3);
  for (int u = 0; u < 8; ++u) keys[0].push_back(FeatureKey(0, Id("u", u)));
  for (int i = 0; i < 30; ++i) keys[1].push_back(FeatureKey(1, Id("i", i)));
  std::shared_ptr<Tables> mem;
  ServingModelParts parts = MakeParts(NewModel("mf", o), keys, 13, &mem);
  for (int i = 0; i < 30; ++i) parts.item_ids.push_back(Id("i", i));
  SeenItems seen;
  seen.users = {FeatureKey(0, "u1")};
  seen.offsets = {0};
  for (int i : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 29}) seen.items.push_back(FeatureKey(1, Id("i", i)));
  seen.items.push_back(FeatureKey(1, "zzz"));
  std::sort(seen.items.begin(), seen.items.end());
  seen.offsets.push_back(seen.items.size());
  parts.seen = ViewOf(seen);
  std::shared_ptr<const ServingModel> serving;
  ASSERT_TRUE(ServingModel::Create(std::move(parts), ServingOptions(), &serving).ok());
  ASSERT_TRUE(serving->has_seen());

  ServeOptions so;
  so.port = 0;
  so.threads = 2;
  so.max_k = 100;
  ServeApp app(so, std::make_unique<OneVersion>(serving));
  ASSERT_TRUE(app.Start().ok());
  httplib::Client client("127.0.0.1", app.port());
  const std::vector<std::string> all = TopIds(client, R"({"user": "u1", "k": 30, "include_seen": true})");
  ASSERT_EQ(all.size(), 30u);  // include_seen: the whole catalogue, seen items included
  const std::vector<std::string> unseen = TopIds(client, R"({"user": "u1", "k": 30})");
  ASSERT_EQ(unseen.size(), 19u);  // 30 items minus the 11 seen ones of the catalogue
  std::vector<std::string> expected;  // the include_seen ranking without the seen items, same order
  for (const std::string& id : all) {
    const int i = std::stoi(id.substr(1));
    if (i >= 10 && i != 29) expected.push_back(id);
  }
  EXPECT_EQ(unseen, expected);
  // "exclude" still applies on top of the seen items.
  const std::vector<std::string> fewer = TopIds(client, R"({"user": "u1", "k": 30, "exclude": [")" + expected[0] + R"("]})");
  EXPECT_EQ(fewer, std::vector<std::string>(expected.begin() + 1, expected.end()));
  // Another user is not affected.
  EXPECT_EQ(TopIds(client, R"({"user": "u2", "k": 30})").size(), 30u);
  // A bad include_seen is a 400.
  auto res = client.Post("/topk", R"({"user": "u1", "include_seen": 1})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("include_seen"), std::string::npos);
  app.Stop();
}

// ---------------------------------------------------------------------------------------
// Bundles

TEST(ServeTopKBundle, SeenItemsAndCatalogueRoundTripAndSurviveADelta) {
  TwoTowerFixture f;
  std::shared_ptr<Tables> mem;
  ServingModelParts parts = MakeParts(NewModel("two_tower", f.options), f.keys, 9, &mem);
  BundleSpec spec;
  spec.model_json = R"({"name": "two_tower", "options": {"dim": "4", "hidden": "6"}})";
  spec.features_json = R"({"format": "libffm"})";
  spec.source_json = R"({"checkpoint": "ck/epoch-1", "seed": 7})";
  for (size_t t = 0; t < mem->configs.size(); ++t) {
    BundleTableData d;
    d.name = mem->configs[t].name;
    d.dense = mem->configs[t].dense;
    d.dim = d.dense ? mem->configs[t].dense_size : mem->configs[t].dim;
    std::vector<size_t> order(d.dense ? 1 : mem->keys[t].size());
    for (size_t r = 0; r < order.size(); ++r) order[r] = r;
    if (!d.dense) std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return mem->keys[t][a] < mem->keys[t][b]; });
    for (size_t r : order) {
      d.keys.push_back(d.dense ? 0 : mem->keys[t][r]);
      d.values.insert(d.values.end(), mem->values[t].begin() + r * d.dim, mem->values[t].begin() + (r + 1) * d.dim);
    }
    spec.tables.push_back(std::move(d));
  }
  SeenItems seen;
  seen.users = {FeatureKey(kUserIdField, "u2")};
  seen.items = {f.catalogue.items[3], f.catalogue.items[7]};
  std::sort(seen.items.begin(), seen.items.end());
  seen.offsets = {0, 2};
  AddSeenItemsArrays(seen, &spec);
  AddCatalogueArrays(f.catalogue, &spec);
  const std::string dir = FreshDir("bundle");
  ASSERT_TRUE(WriteBundle(dir + "/live", spec).ok());

  BundleSource source(dir + "/live", ServingOptions(), 1);
  std::shared_ptr<const ServingModel> v1;
  Status st = source.Load(nullptr, &v1);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(v1->has_topk()) << v1->topk_unavailable();
  EXPECT_EQ(v1->num_items(), 40u);
  std::vector<uint32_t> rows;
  v1->AppendSeen(FeatureKey(kUserIdField, "u2"), &rows);
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<uint32_t>{3, 7}));  // the catalogue is sorted by key, as stored
  // The item vectors equal the hooks' on the bundle's rows.
  std::vector<float> v(4);
  v1->model().ItemVectors(f.item_examples[5], 0, 1, mem->Gather(v1->model(), f.item_examples[5]), v.data());
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(v1->ItemVector(5)[j], v[j], 1e-6);

  // A delta with no arrays keeps the served bundle's; the merged bundle has them.
  std::unique_ptr<Bundle> base;
  ASSERT_TRUE(Bundle::Open(dir + "/live", &base).ok());
  BundleSpec full = spec;
  full.arrays.clear();
  full.tables[0].values[0] += 1.0f;
  BundleSpec delta;
  ASSERT_TRUE(MakeDelta(*base, full, &delta).ok());
  EXPECT_TRUE(delta.arrays.empty());
  base.reset();
  ASSERT_TRUE(WriteBundle(dir + "/live", delta).ok());
  std::shared_ptr<const ServingModel> v2;
  st = source.Load(v1, &v2);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NE(v2->info().version, v1->info().version);
  EXPECT_EQ(v2->num_items(), 40u);
  rows.clear();
  v2->AppendSeen(FeatureKey(kUserIdField, "u2"), &rows);
  EXPECT_EQ(rows.size(), 2u);

  // A damaged catalogue (offsets not ending at the feature count) is refused naming the bundle.
  BundleSpec bad = spec;
  for (BundleArrayData& a : bad.arrays) {
    if (a.name != "catalogue_offsets") continue;
    uint64_t last = 999;
    std::memcpy(&a.bytes[a.bytes.size() - 8], &last, 8);
  }
  ASSERT_TRUE(WriteBundle(dir + "/bad", bad).ok());
  std::unique_ptr<Bundle> opened;
  ASSERT_TRUE(Bundle::Open(dir + "/bad", &opened).ok());
  ItemCatalogueView view;
  st = FindItemCatalogue(*opened, &view);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find(dir + "/bad"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace embark
