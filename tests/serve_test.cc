// Tests of model serving: scores equal Model::Predict on independently gathered rows (and MF's
// formula by hand), the HTTP endpoints and their 4xx answers, hot swap under a stream of
// requests, exact top-K against a brute-force sort, HNSW recall, and deltas applied to the
// served bundle.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "models/mf.h"
#include "models/model_factory.h"
#include "ps/row_init.h"
#include "serving/bundle.h"
#include "serving/bundle_source.h"
#include "serving/publish_dir.h"
#include "serving/publish_dir_source.h"
#include "core/crc32.h"
#include "serving/key_index.h"
#include "serving/requests.h"
#include "serving/serve_app.h"
#include "serving/serving_model.h"
#include "serving/topk_index.h"
#include "data/line_parser.h"
#include "tests/test_files.h"

namespace embark {
namespace {

using nlohmann::json;

// Table contents a test model is served from; kept alive as the parts' backing.
struct MemTables {
  std::vector<std::vector<uint64_t>> keys;
  std::vector<std::vector<float>> values;
};

// Builds parts for `model` with rows for `keys_per_table` (sparse tables; dense tables get
// their full vector), values uniform in [-scale, scale].
ServingModelParts MakeParts(std::unique_ptr<Model> model, const std::vector<std::vector<uint64_t>>& keys_per_table,
                            uint32_t rng_seed, float scale, std::shared_ptr<MemTables>* tables_out = nullptr) {
  auto mem = std::make_shared<MemTables>();
  std::mt19937 rng(rng_seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  const auto configs = model->Tables();
  ServingModelParts parts;
  parts.tables.resize(configs.size());
  mem->keys.resize(configs.size());
  mem->values.resize(configs.size());
  for (size_t t = 0; t < configs.size(); ++t) {
    if (configs[t].dense) {
      mem->values[t].resize(configs[t].dense_size);
    } else {
      mem->keys[t] = keys_per_table[t];
      mem->values[t].resize(mem->keys[t].size() * configs[t].dim);
    }
    for (float& v : mem->values[t]) v = u(rng);
    parts.tables[t].keys = mem->keys[t].data();
    parts.tables[t].values = mem->values[t].data();
    parts.tables[t].num_rows = mem->keys[t].size();
  }
  parts.model = std::move(model);
  parts.seed = 7;
  parts.backing = mem;
  if (tables_out) *tables_out = mem;
  return parts;
}

std::unique_ptr<Model> NewModel(const std::string& name, const ModelOptions& o) {
  std::unique_ptr<Model> m;
  Status st = CreateModel(name, o, &m);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return m;
}

// MF with K = 4 over users u0..u19 and items i0..i49, ratings clipped to [-100, 100] so that
// scores are never clipped unless a test wants them to be.
ModelOptions SmallMf() {
  ModelOptions o;
  o.dim = 4;
  o.min_rating = -100;
  o.max_rating = 100;
  return o;
}
std::vector<std::vector<uint64_t>> MfKeys(int users, int items) {
  std::vector<std::vector<uint64_t>> keys(3);
  for (int u = 0; u < users; ++u) keys[0].push_back(FeatureKey(0, "u" + std::to_string(u)));
  for (int i = 0; i < items; ++i) keys[1].push_back(FeatureKey(1, "i" + std::to_string(i)));
  return keys;
}

// Row of `key` in a MemTables table by linear search: independent of KeyIndex.
const float* FindRow(const MemTables& mem, size_t t, uint64_t key, uint32_t dim) {
  for (size_t r = 0; r < mem.keys[t].size(); ++r)
    if (mem.keys[t][r] == key) return mem.values[t].data() + r * dim;
  return nullptr;
}

// ---------------------------------------------------------------------------------------

TEST(ServeKeyIndex, FindsEveryKeyIncludingZeroAndNothingElse) {
  std::vector<uint64_t> keys = {0, 5, ~uint64_t{0}, 17, 5, 1ull << 40};
  KeyIndex index;
  index.Build(keys.data(), keys.size());
  EXPECT_EQ(index.size(), 5u);  // the repeated 5 keeps its first row
  EXPECT_EQ(index.Find(0), 0u);
  EXPECT_EQ(index.Find(5), 1u);
  EXPECT_EQ(index.Find(~uint64_t{0}), 2u);
  EXPECT_EQ(index.Find(17), 3u);
  EXPECT_EQ(index.Find(1ull << 40), 5u);
  EXPECT_EQ(index.Find(6), KeyIndex::kNotFound);
  KeyIndex empty;
  EXPECT_EQ(empty.Find(0), KeyIndex::kNotFound);
}

TEST(ServeScore, ScoresEqualPredictOnIndependentlyGatheredRows) {
  // DeepFM: sparse factor rows, a dense intercept and dense MLP layers; 3 fields.
  ModelOptions o;
  o.dim = 4;
  o.num_fields = 3;
  o.hidden = std::vector<uint32_t>{8};
  std::vector<std::vector<uint64_t>> keys(NewModel("deepfm", o)->Tables().size());
  for (int f = 0; f < 3; ++f)
    for (const char* id : {"a", "b", "c", "d"}) keys[0].push_back(FeatureKey(f, id));
  std::shared_ptr<MemTables> mem;
  ServingModelParts parts = MakeParts(NewModel("deepfm", o), keys, 1, 0.5f, &mem);
  std::shared_ptr<const ServingModel> serving;
  ASSERT_TRUE(ServingModel::Create(std::move(parts), ServingOptions(), &serving).ok());

  Batch batch;
  ASSERT_TRUE(ParseScoreRequest(R"({"examples": [[[0, "a", 1], [1, "b", 0.5], [2, "c"]],
                                                 {"features": [[0, "zzz", 1], [2, "a", 2]]},
                                                 []]})",
                                serving->model(), std::nullopt, &batch)
                  .ok());
  ASSERT_EQ(batch.size(), 3u);
  std::vector<float> got(3);
  ScoreStats stats;
  serving->Score(batch, got.data(), &stats);
  EXPECT_EQ(stats.unknown_features, 1u);  // "zzz"

  // The rows the trainer would have pulled: the stored row, or the deterministic initial row.
  std::unique_ptr<Model> reference = NewModel("deepfm", o);
  const auto configs = reference->Tables();
  PulledRows rows;
  rows.rows.resize(configs.size());
  for (size_t t = 1; t < configs.size(); ++t) rows.rows[t] = mem->values[t];
  for (size_t i = 0; i < batch.num_features(); ++i) {
    const uint32_t dim = configs[0].dim;
    std::vector<float> row(dim);
    const float* stored = FindRow(*mem, 0, batch.keys[i], dim);
    if (stored) {
      std::copy(stored, stored + dim, row.begin());
    } else {
      InitRowWeights(7, configs[0].id, batch.keys[i], configs[0].init, dim, row.data());
      EXPECT_NE(row[1], 0.0f);  // factor tables start from small random values, not zero
    }
    rows.row_of_feature.push_back(static_cast<int32_t>(rows.rows[0].size() / dim));
    rows.rows[0].insert(rows.rows[0].end(), row.begin(), row.end());
  }
  std::vector<float> want(3);
  reference->Predict(batch, 0, 3, rows, want.data());
  for (int e = 0; e < 3; ++e) EXPECT_NEAR(got[e], want[e], 1e-6) << e;
  EXPECT_NE(got[0], got[1]);
}

TEST(ServeScore, MfScoreIsTheBiasedDotProductComputedByHand) {
  ModelOptions o = SmallMf();
  o.max_rating = 3.0f;
  std::shared_ptr<MemTables> mem;
  ServingModelParts parts = MakeParts(NewModel("mf", o), MfKeys(3, 3), 2, 1.0f, &mem);
  std::shared_ptr<const ServingModel> serving;
  ASSERT_TRUE(ServingModel::Create(std::move(parts), ServingOptions(), &serving).ok());
  const MfOptions defaults;
  const double mu = defaults.global_mean + mem->values[2][0];
  for (int u = 0; u < 3; ++u) {
    for (int i = 0; i < 3; ++i) {
      Batch b;
      b.AddFeature(FeatureKey(0, "u" + std::to_string(u)), 1, 0);
      b.AddFeature(FeatureKey(1, "i" + std::to_string(i)), 1, 1);
      b.EndExample(0);
      float got;
      serving->Score(b, &got, nullptr);
      const float* p = mem->values[0].data() + u * 5;
      const float* q = mem->values[1].data() + i * 5;
      double want = mu + defaults.bias_scale * (p[4] + q[4]);
      for (int j = 0; j < 4; ++j) want += p[j] * q[j];
      want = std::min(3.0, std::max(-100.0, want));
      EXPECT_NEAR(got, want, 1e-5) << u << " " << i;
    }
  }
}

// ---------------------------------------------------------------------------------------
// HTTP

// Serves prepared versions in turn: Load returns the next one; the stamp is settable.
class MemSource : public ModelSource {
 public:
  explicit MemSource(std::vector<std::shared_ptr<const ServingModel>> versions) : versions_(std::move(versions)) {}
  Status Load(const std::shared_ptr<const ServingModel>&, std::shared_ptr<const ServingModel>* next) override {
    *next = versions_[loads_++ % versions_.size()];
    return Status::OK();
  }
  std::string Stamp() override {
    std::lock_guard<std::mutex> lock(mu_);
    return stamp_;
  }
  std::string Describe() const override { return "memory"; }
  void SetStamp(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    stamp_ = s;
  }

 private:
  std::vector<std::shared_ptr<const ServingModel>> versions_;
  std::atomic<size_t> loads_{0};
  std::mutex mu_;
  std::string stamp_ = "1";
};

std::shared_ptr<const ServingModel> MfVersion(const std::string& version, float global_offset,
                                              const ServingOptions& so = ServingOptions(),
                                              std::shared_ptr<MemTables>* mem_out = nullptr) {
  std::shared_ptr<MemTables> mem;
  ServingModelParts parts = MakeParts(NewModel("mf", SmallMf()), MfKeys(20, 50), 3, 0.5f, &mem);
  mem->values[2][0] = global_offset;
  for (int i = 0; i < 50; ++i) parts.item_ids.push_back("i" + std::to_string(i));
  parts.info.version = version;
  parts.data_format = DataFormat::kRatings;
  std::shared_ptr<const ServingModel> out;
  Status st = ServingModel::Create(std::move(parts), so, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (mem_out) *mem_out = mem;
  return out;
}

// Starts `app` on an ephemeral port of 127.0.0.1.
ServeOptions TestServeOptions() {
  ServeOptions o;
  o.port = 0;
  o.threads = 4;
  o.max_body_kb = 4;
  o.max_k = 50;
  return o;
}

float ScoreOf(const ServingModel& m, const std::string& user, const std::string& item) {
  Batch b;
  b.AddFeature(FeatureKey(0, user), 1, 0);
  b.AddFeature(FeatureKey(1, item), 1, 1);
  b.EndExample(0);
  float s;
  m.Score(b, &s, nullptr);
  return s;
}

TEST(ServeHttp, ScoreTopKHealthAndVersion) {
  ServingOptions so;
  so.index = TopKIndexKind::kHnsw;
  std::shared_ptr<MemTables> mem;
  auto v1 = MfVersion("v1", 0.25f, so, &mem);
  ServeApp app(TestServeOptions(), std::make_unique<MemSource>(std::vector<std::shared_ptr<const ServingModel>>{v1}));
  ASSERT_TRUE(app.Start().ok());
  httplib::Client client("127.0.0.1", app.port());

  auto res = client.Post("/score", R"({"examples": [[[0, "u3"], [1, "i7"]], [[0, "u3"], [1, "i8", 1]]]})", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json body = json::parse(res->body);
  ASSERT_EQ(body["scores"].size(), 2u);
  EXPECT_NEAR(body["scores"][0].get<double>(), ScoreOf(*v1, "u3", "i7"), 1e-6);
  EXPECT_NEAR(body["scores"][1].get<double>(), ScoreOf(*v1, "u3", "i8"), 1e-6);
  EXPECT_EQ(body["version"], "v1");

  // The same example as a line of the training format (ratings: the rating is ignored).
  res = client.Post("/score", R"({"lines": ["u3\ti7\t5"]})", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NEAR(json::parse(res->body)["scores"][0].get<double>(), ScoreOf(*v1, "u3", "i7"), 1e-6);

  // Top-K against a brute-force ranking of <p_u, q_i> + b_i over all items but the excluded.
  res = client.Post("/topk", R"({"user": "u3", "k": 5, "exclude": ["i0", "i1", "nope"], "exact": true})", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  body = json::parse(res->body);
  const float* p = FindRow(*mem, 0, FeatureKey(0, "u3"), 5);
  std::vector<std::pair<double, std::string>> ranked;
  for (int i = 2; i < 50; ++i) {
    const float* q = FindRow(*mem, 1, FeatureKey(1, "i" + std::to_string(i)), 5);
    double s = MfOptions().bias_scale * q[4];
    for (int j = 0; j < 4; ++j) s += p[j] * q[j];
    ranked.push_back({-s, "i" + std::to_string(i)});
  }
  std::sort(ranked.begin(), ranked.end());
  ASSERT_EQ(body["items"].size(), 5u);
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(body["items"][r]["id"], ranked[r].second) << r;
    EXPECT_NEAR(body["items"][r]["score"].get<double>(), -ranked[r].first, 1e-5);
    EXPECT_EQ(body["items"][r]["key"], std::to_string(FeatureKey(1, ranked[r].second)));
  }
  // The approximate index never returns excluded items either.
  res = client.Post("/topk", R"({"user": "u3", "k": 48, "exclude": ["i0", "i1"]})", "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  const json approx = json::parse(res->body);  // kept alive: a range-for over a temporary's member dangles
  ASSERT_EQ(approx["items"].size(), 48u);
  for (const auto& item : approx["items"]) {
    EXPECT_NE(item["id"], "i0");
    EXPECT_NE(item["id"], "i1");
  }

  res = client.Get("/health");
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["status"], "ok");
  res = client.Get("/version");
  ASSERT_EQ(res->status, 200);
  body = json::parse(res->body);
  EXPECT_EQ(body["version"], "v1");
  EXPECT_EQ(body["model"], "mf");
  EXPECT_EQ(body["index"], "hnsw");
  EXPECT_EQ(body["items"], 50);
  EXPECT_GE(body["recall_at_10"].get<double>(), 0.9);
  EXPECT_EQ(body["data_format"], "ratings");
  EXPECT_FALSE(body["loaded_at"].get<std::string>().empty());
  app.Stop();
}

TEST(ServeHttp, BadRequestsGet4xxWithAReason) {
  ServeApp app(TestServeOptions(), std::make_unique<MemSource>(std::vector<std::shared_ptr<const ServingModel>>{MfVersion("v1", 0)}));
  ASSERT_TRUE(app.Start().ok());
  httplib::Client client("127.0.0.1", app.port());
  struct Case {
    const char* path;
    std::string body;
    int status;
    const char* reason;  // a substring of the "error" member
  };
  const std::vector<Case> cases = {
      {"/score", R"({"features": [[0, "u1"]])", 400, "malformed JSON"},
      {"/score", R"([1, 2])", 400, "must be a JSON object"},
      {"/score", R"({"features": [[7, "u1"]]})", 400, "unknown field 7"},
      {"/score", R"({"features": [[70000, "u1"]]})", 400, "outside 0..65535"},
      {"/score", R"({"features": [["0", "u1"]]})", 400, "field must be an integer"},
      {"/score", R"({"features": [[0, 17]]})", 400, "id must be a string"},
      {"/score", R"({"features": [[0, "u1", "one"]]})", 400, "value must be a number"},
      {"/score", R"({"features": [[0, "u1", 1, 2]]})", 400, "a feature is"},
      // Numbers beyond double's range are the client's error, not an internal one.
      {"/score", R"({"features": [[0, "u1", 1e999]]})", 400, "number overflow"},
      {"/score", R"({"features": [[0, "u1", -1e999]]})", 400, "malformed JSON"},
      {"/topk", R"({"user": "u1", "k": 1e999})", 400, "malformed JSON"},
      {"/score", R"({"features": [], "examples": []})", 400, "exactly one of"},
      {"/score", R"({"feature": []})", 400, "unknown member 'feature'"},
      {"/score", R"({"examples": {"a": 1}})", 400, "examples: must be an array"},
      {"/score", R"({"lines": ["u1 only-two-columns"]})", 400, "not a valid ratings line"},
      {"/topk", R"({"user": "u1", "k": 0})", 400, "k: 0 is out of range [1, 50]"},
      {"/topk", R"({"user": "u1", "k": 51})", 400, "out of range"},
      {"/topk", R"({"user": "u1", "k": 2.5})", 400, "k: must be an integer"},
      {"/topk", R"({"user": 12})", 400, "user: must be a string"},
      {"/topk", R"({"k": 3})", 400, "user: missing"},
      {"/topk", R"({"user": "u1", "exclude": "i1"})", 400, "exclude: must be an array"},
      {"/topk", R"({"user": "u1", "exlude": ["i1"]})", 400, "unknown member 'exlude'"},
      {"/topk", R"({"user": "stranger"})", 404, "unknown user 'stranger'"},
      {"/score", std::string(5 * 1024, ' '), 413, "larger than --max_body_kb=4"},
      // Deep nesting is refused before parsing (printing it once crashed the server).
      {"/score", "{\"features\": " + std::string(1500, '[') + std::string(1500, ']') + "}", 400, "nested deeper than 16"},
      {"/topk", "{\"user\": \"u1\", \"user_features\": [[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]}", 400, "nested deeper"},
      {"/nowhere", "{}", 404, "no endpoint POST /nowhere"},
  };
  for (const Case& c : cases) {
    auto res = client.Post(c.path, c.body, "application/json");
    ASSERT_TRUE(res) << c.path << " " << c.body.substr(0, 60);
    EXPECT_EQ(res->status, c.status) << c.body.substr(0, 60) << " -> " << res->body;
    json body = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << res->body;
    EXPECT_NE(body.value("error", "").find(c.reason), std::string::npos)
        << c.body.substr(0, 60) << " -> " << res->body << " (wanted '" << c.reason << "')";
  }
  // The server is still healthy after all that.
  auto res = client.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(ServeHotSwap, ReloadsDuringAStreamOfRequestsDropNone) {
  // Two versions whose scores differ by exactly their global offsets.
  auto v1 = MfVersion("v1", 0.0f);
  auto v2 = MfVersion("v2", 0.5f);
  const float s1 = ScoreOf(*v1, "u4", "i9"), s2 = ScoreOf(*v2, "u4", "i9");
  ASSERT_NEAR(s2 - s1, 0.5f, 1e-5);
  ServeApp app(TestServeOptions(), std::make_unique<MemSource>(std::vector<std::shared_ptr<const ServingModel>>{v1, v2}));
  ASSERT_TRUE(app.Start().ok());
  const int kClients = 4, kRequests = 150;
  std::atomic<int> ok{0}, seen_v1{0}, seen_v2{0};
  std::vector<std::string> failures[kClients];
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", app.port());
      for (int r = 0; r < kRequests; ++r) {
        auto res = client.Post("/score", R"({"features": [[0, "u4"], [1, "i9"]]})", "application/json");
        if (!res || res->status != 200) {
          failures[c].push_back(res ? std::to_string(res->status) + " " + res->body : "no response");
          continue;
        }
        json body = json::parse(res->body);
        const double s = body["scores"][0].get<double>();
        const std::string v = body["version"];
        // Each answer is consistent: the score of the version it names.
        if (v == "v1" && std::fabs(s - s1) < 1e-6) {
          ++seen_v1;
        } else if (v == "v2" && std::fabs(s - s2) < 1e-6) {
          ++seen_v2;
        } else {
          failures[c].push_back("inconsistent " + res->body);
          continue;
        }
        ++ok;
      }
    });
  }
  int reloads = 0;
  std::thread reloader([&] {
    for (int i = 0; i < 30; ++i) {
      EXPECT_TRUE(app.Reload().ok());
      ++reloads;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  reloader.join();
  for (auto& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_TRUE(failures[c].empty()) << failures[c].front();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(app.reloads(), 30u);
  EXPECT_GT(seen_v1.load() + seen_v2.load(), 0);
  app.Stop();
}

TEST(ServeHotSwap, WatcherReloadsWhenTheSourceChanges) {
  auto source = std::make_unique<MemSource>(std::vector<std::shared_ptr<const ServingModel>>{MfVersion("v1", 0), MfVersion("v2", 1)});
  MemSource* raw = source.get();
  ServeOptions o = TestServeOptions();
  o.watch_interval_s = 0.02;
  ServeApp app(o, std::move(source));
  ASSERT_TRUE(app.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(app.current()->info().version, "v1");  // unchanged stamp: no reload
  raw->SetStamp("2");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (app.current()->info().version != "v2" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(app.current()->info().version, "v2") << "the watcher did not reload within 10 s";
  app.Stop();
}

// ---------------------------------------------------------------------------------------
// Top-K indexes

std::vector<float> RandomVectors(size_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::uniform_real_distribution<float> norm(0.5f, 1.5f);  // varied norms: MIPS is not cosine
  std::vector<float> v(n * dim);
  for (size_t r = 0; r < n; ++r) {
    const float s = norm(rng);
    for (int j = 0; j < dim; ++j) v[r * dim + j] = s * g(rng);
  }
  return v;
}

TEST(ServeTopK, ExactIndexMatchesABruteForceSortAndSkipsExcluded) {
  const int dim = 8;
  const size_t n = 300;
  const auto items = RandomVectors(n, dim, 11);
  const auto queries = RandomVectors(5, dim, 12);
  auto exact = MakeExactIndex(items.data(), n, dim);
  const std::vector<uint32_t> excluded = {0, 3, 17, 299};
  for (int q = 0; q < 5; ++q) {
    std::vector<std::pair<float, uint32_t>> all;
    for (uint32_t r = 0; r < n; ++r) {
      if (std::binary_search(excluded.begin(), excluded.end(), r)) continue;
      double s = 0;
      for (int j = 0; j < dim; ++j) s += queries[q * dim + j] * items[r * dim + j];
      all.push_back({static_cast<float>(-s), r});
    }
    std::sort(all.begin(), all.end());
    std::vector<IndexHit> hits;
    exact->Search(queries.data() + q * dim, 10, excluded, &hits);
    ASSERT_EQ(hits.size(), 10u);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(hits[i].row, all[i].second) << q << " " << i;
      EXPECT_NEAR(hits[i].score, -all[i].first, 1e-4);
    }
  }
  std::vector<IndexHit> hits;
  exact->Search(queries.data(), 1000, {}, &hits);
  EXPECT_EQ(hits.size(), n);  // k beyond the catalogue: everything, best first
}

TEST(ServeTopK, HnswRecallAtTenIsAtLeastPointNine) {
  const int dim = 16;
  const size_t n = 4000, nq = 200;
  const auto items = RandomVectors(n, dim, 21);
  const auto queries = RandomVectors(nq, dim, 22);
  auto exact = MakeExactIndex(items.data(), n, dim);
  std::unique_ptr<TopKIndex> hnsw;
  ASSERT_TRUE(MakeHnswIndex(items.data(), n, dim, HnswParams(), &hnsw).ok());
  const double recall = MeasureRecall(*exact, *hnsw, queries.data(), nq, dim, 10);
  std::printf("hnsw recall@10 on %zu items x %d dims, %zu queries: %.4f\n", n, dim, nq, recall);
  EXPECT_GE(recall, 0.9);
  // A deliberately crippled index (1 candidate while searching, degree 2) scores lower: the
  // measurement can fail.
  HnswParams weak;
  weak.m = 2;
  weak.ef_construction = 2;
  weak.ef_search = 1;
  std::unique_ptr<TopKIndex> poor;
  ASSERT_TRUE(MakeHnswIndex(items.data(), n, dim, weak, &poor).ok());
  EXPECT_LT(MeasureRecall(*exact, *poor, queries.data(), nq, dim, 10), recall);
}

// Degree 2 puts half the items on upper levels with full link lists: hnswlib's SSE prefetch
// read one id past such a list (a heap-buffer-overflow under AddressSanitizer while the index
// was built). The index must build cleanly and search sensibly (degree 2 is a weak graph:
// about two thirds of the exact top 10).
TEST(ServeTopK, HnswWithFullUpperLevelListsBuildsAndSearches) {
  const int dim = 7;
  const size_t n = 3000, nq = 100;
  const auto items = RandomVectors(n, dim, 31);
  const auto queries = RandomVectors(nq, dim, 32);
  HnswParams p;
  p.m = 2;
  p.ef_construction = 64;
  p.ef_search = 200;
  std::unique_ptr<TopKIndex> hnsw;
  Status st = MakeHnswIndex(items.data(), n, dim, p, &hnsw);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto exact = MakeExactIndex(items.data(), n, dim);
  const double recall = MeasureRecall(*exact, *hnsw, queries.data(), nq, dim, 10);
  std::printf("hnsw (m=2) recall@10 on %zu items x %d dims: %.4f\n", n, dim, recall);
  EXPECT_GE(recall, 0.5);
}

// ---------------------------------------------------------------------------------------
// Bundles and deltas

// An LR bundle: weights of features a, b, c in field 0 and an intercept.
BundleSpec LrSpec(const std::vector<std::pair<std::string, float>>& weights, float bias) {
  BundleSpec spec;
  spec.model_json = R"({"name": "lr", "options": {}})";
  spec.features_json = R"({"format": "libsvm"})";
  spec.source_json = R"({"checkpoint": "ck/epoch-1"})";
  BundleTableData w;
  w.name = "w";
  w.dim = 1;
  std::vector<std::pair<uint64_t, float>> rows;
  for (const auto& [id, v] : weights) rows.push_back({FeatureKey(0, id), v});
  std::sort(rows.begin(), rows.end());
  for (const auto& [k, v] : rows) {
    w.keys.push_back(k);
    w.values.push_back(v);
  }
  BundleTableData b;
  b.name = "bias";
  b.dim = 1;
  b.dense = true;
  b.keys = {0};
  b.values = {bias};
  spec.tables = {w, b};
  return spec;
}

double Sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

float ScoreLr(const ServingModel& m, const std::vector<std::string>& ids, size_t* unknown = nullptr) {
  Batch b;
  for (const auto& id : ids) b.AddFeature(FeatureKey(0, id), 1, 0);
  b.EndExample(0);
  float s;
  ScoreStats stats;
  m.Score(b, &s, &stats);
  if (unknown) *unknown = stats.unknown_features;
  return s;
}

TEST(ServeBundle, ServesABundleAndAppliesADeltaToIt) {
  const std::string dir = FreshDir("delta");
  const std::string path = dir + "/live";
  ASSERT_TRUE(WriteBundle(path, LrSpec({{"a", 0.5f}, {"b", -1.0f}}, 0.25f)).ok());
  BundleSource source(path, ServingOptions(), 1);
  std::shared_ptr<const ServingModel> v1;
  Status st = source.Load(nullptr, &v1);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(v1->info().model, "lr");
  EXPECT_EQ(v1->info().source_checkpoint, "ck/epoch-1");
  ASSERT_TRUE(v1->data_format().has_value());
  EXPECT_EQ(*v1->data_format(), DataFormat::kLibsvm);
  EXPECT_NEAR(ScoreLr(*v1, {"a", "b"}), Sigmoid(0.25 + 0.5 - 1.0), 1e-6);

  // A delta at the same path: a changes, b goes, c arrives.
  std::unique_ptr<Bundle> base;
  ASSERT_TRUE(Bundle::Open(path, &base).ok());
  BundleSpec delta;
  ASSERT_TRUE(MakeDelta(*base, LrSpec({{"a", 2.0f}, {"c", 0.75f}}, 0.25f), &delta).ok());
  base.reset();
  ASSERT_TRUE(WriteBundle(path, delta).ok());
  std::shared_ptr<const ServingModel> v2;
  st = source.Load(v1, &v2);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NE(v2->info().version, v1->info().version);
  size_t unknown = 0;
  // b was deleted: LR rows start at zero, so it now contributes nothing (and is unknown).
  EXPECT_NEAR(ScoreLr(*v2, {"a", "b", "c"}, &unknown), Sigmoid(0.25 + 2.0 + 0.75), 1e-6);
  EXPECT_EQ(unknown, 1u);
  // The old version still answers as before (in-flight requests keep it).
  EXPECT_NEAR(ScoreLr(*v1, {"a", "b"}), Sigmoid(0.25 + 0.5 - 1.0), 1e-6);

  // The same delta cannot be applied to v2, nor served on its own.
  std::shared_ptr<const ServingModel> v3;
  st = source.Load(v2, &v3);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is being served"), std::string::npos) << st.ToString();
  st = source.Load(nullptr, &v3);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("serve a full bundle first"), std::string::npos) << st.ToString();
}

// serve --watch on a live-publishing directory: v1 full, v2 a delta with a tombstone, then a
// damaged v3 and a gap are refused while v2 keeps serving; a later full bundle is picked up.
TEST(ServePublishDir, AppliesVersionsInOrderAndRefusesDamageAndGaps) {
  const std::string dir = FreshDir("publish");
  auto at = [&](uint64_t n) { return dir + "/" + PublishedVersionName(n); };
  ASSERT_TRUE(WriteBundle(at(1), LrSpec({{"a", 0.5f}, {"b", -1.0f}}, 0.25f)).ok());
  PublishDirSource source(dir, ServingOptions(), 1);
  ASSERT_TRUE(PublishDirSource::IsPublishDir(dir));
  std::shared_ptr<const ServingModel> v1, v2, v3;
  Status st = source.Load(nullptr, &v1);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::string stamp1 = source.Stamp();
  std::unique_ptr<Bundle> base;
  ASSERT_TRUE(Bundle::Open(at(1), &base).ok());
  BundleSpec delta;
  ASSERT_TRUE(MakeDelta(*base, LrSpec({{"a", 2.0f}}, 0.25f), &delta).ok());  // b evicted
  ASSERT_TRUE(WriteBundle(at(2), delta).ok());
  EXPECT_NE(source.Stamp(), stamp1);
  st = source.Load(v1, &v2);
  ASSERT_TRUE(st.ok()) << st.ToString();
  size_t unknown = 0;
  EXPECT_NEAR(ScoreLr(*v2, {"a", "b"}, &unknown), Sigmoid(0.25 + 2.0), 1e-6);
  EXPECT_EQ(unknown, 1u);  // the tombstoned row is gone from serving
  // A damaged v3 (a flipped byte in a data file) is refused, naming the file.
  std::unique_ptr<Bundle> b2;
  ASSERT_TRUE(Bundle::Open(dir + "/" + PublishedVersionName(2), &b2).ok());
  BundleSpec delta3;
  {
    // v2 as a full spec, to diff v3 against.
    ASSERT_TRUE(WriteBundle(dir + "-v2full", LrSpec({{"a", 2.0f}}, 0.25f)).ok());
    std::unique_ptr<Bundle> full2;
    ASSERT_TRUE(Bundle::Open(dir + "-v2full", &full2).ok());
    ASSERT_TRUE(MakeDelta(*full2, LrSpec({{"a", 3.0f}}, 0.25f), &delta3).ok());
  }
  ASSERT_TRUE(WriteBundle(at(3), delta3).ok());
  {
    std::fstream f(at(3) + "/w.values.npy", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(130);
    f.put('\x7f');
  }
  st = source.Load(v2, &v3);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("w.values.npy"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(PublishedVersionName(3)), std::string::npos) << st.ToString();
  // Repaired v3 applies; a gap (v5 without v4) is refused naming the missing version.
  std::filesystem::remove_all(at(3));
  ASSERT_TRUE(WriteBundle(at(3), delta3).ok());
  ASSERT_TRUE(WriteBundle(at(5), delta3).ok());
  st = source.Load(v2, &v3);  // v3 applies, then the plan stops at the gap (logged)
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NEAR(ScoreLr(*v3, {"a"}), Sigmoid(0.25 + 3.0), 1e-6);
  std::shared_ptr<const ServingModel> v4;
  st = source.Load(v3, &v4);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("v-0000000004 is missing"), std::string::npos) << st.ToString();
  // A full bundle heals the gap.
  ASSERT_TRUE(WriteBundle(at(6), LrSpec({{"a", -1.0f}}, 0.0f)).ok());
  st = source.Load(v3, &v4);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_NEAR(ScoreLr(*v4, {"a"}), Sigmoid(-1.0), 1e-6);
  std::filesystem::remove_all(dir + "-v2full");
}

// POST /rollback serves the version before the last swap again, once: a second rollback,
// and one before any swap, get 409 with the reason; a reload that hands back the version
// served (a copy with the same id) does not replace the version to roll back to; /version
// counts rollbacks.
TEST(ServeHotSwap, RollbackServesThePreviousVersionOnce) {
  auto v1 = MfVersion("v1", 0.0f), v2 = MfVersion("v2", 0.5f), v2_again = MfVersion("v2", 0.5f);
  const float s1 = ScoreOf(*v1, "u4", "i9");
  ServeApp app(TestServeOptions(),
               std::make_unique<MemSource>(std::vector<std::shared_ptr<const ServingModel>>{v1, v2, v2_again}));
  ASSERT_TRUE(app.Start().ok());
  httplib::Client client("127.0.0.1", app.port());
  auto res = client.Post("/rollback", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409) << res->body;
  EXPECT_NE(res->body.find("no earlier version"), std::string::npos) << res->body;
  ASSERT_TRUE(app.Reload().ok());
  EXPECT_EQ(app.current()->info().version, "v2");
  ASSERT_TRUE(app.Reload().ok());  // the same version once more
  res = client.Post("/rollback", "", "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json body = json::parse(res->body);
  EXPECT_EQ(body["version"], "v1");
  EXPECT_EQ(body["rolled_back_from"], "v2");
  res = client.Post("/score", R"({"features": [[0, "u4"], [1, "i9"]]})", "application/json");
  ASSERT_TRUE(res && res->status == 200);
  body = json::parse(res->body);
  EXPECT_EQ(body["version"], "v1");
  EXPECT_NEAR(body["scores"][0].get<double>(), s1, 1e-6);
  res = client.Post("/rollback", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 409) << "a second rollback went somewhere: " << res->body;
  EXPECT_EQ(app.current()->info().version, "v1");
  res = client.Get("/version");
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(json::parse(res->body)["rollbacks"], 1);
  app.Stop();
}

// With keep_previous off nothing is kept: /rollback says so.
TEST(ServeHotSwap, WithoutKeepPreviousRollbackIsRefused) {
  ServeOptions o = TestServeOptions();
  o.keep_previous = false;
  ServeApp app(o, std::make_unique<MemSource>(std::vector<std::shared_ptr<const ServingModel>>{MfVersion("v1", 0), MfVersion("v2", 1)}));
  ASSERT_TRUE(app.Start().ok());
  ASSERT_TRUE(app.Reload().ok());
  std::string version, from;
  Status st = app.Rollback(&version, &from);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--keep_previous=false"), std::string::npos) << st.ToString();
  EXPECT_EQ(app.current()->info().version, "v2");
  app.Stop();
}

// Rolling back a watched publish directory: after a rollback from v2 to v1, the next delta
// (built on v2) does not fit what is served and is refused, v1 keeps serving; the next full
// version is served normally.
TEST(ServePublishDir, AfterARollbackDeltasOfTheRejectedVersionAreRefusedUntilAFullOne) {
  const std::string dir = FreshDir("rollback");
  auto at = [&](uint64_t n) { return dir + "/" + PublishedVersionName(n); };
  auto delta_of = [&](uint64_t base_sequence, const BundleSpec& next, BundleSpec* out) {
    std::unique_ptr<Bundle> base;
    ASSERT_TRUE(Bundle::Open(at(base_sequence), &base).ok());
    ASSERT_TRUE(MakeDelta(*base, next, out).ok());
  };
  ASSERT_TRUE(WriteBundle(at(1), LrSpec({{"a", 0.5f}}, 0.0f)).ok());
  ServeApp app(TestServeOptions(), std::make_unique<PublishDirSource>(dir, ServingOptions(), 1));
  ASSERT_TRUE(app.Start().ok());
  EXPECT_NEAR(ScoreLr(*app.current(), {"a"}), Sigmoid(0.5), 1e-6);
  BundleSpec d2;
  delta_of(1, LrSpec({{"a", 2.0f}}, 0.0f), &d2);
  ASSERT_TRUE(WriteBundle(at(2), d2).ok());
  ASSERT_TRUE(app.Reload().ok());
  EXPECT_NEAR(ScoreLr(*app.current(), {"a"}), Sigmoid(2.0), 1e-6);
  // The positive control: v3 below is a delta on this version (same id as a full copy of it).
  ASSERT_TRUE(WriteBundle(dir + "-v2full", LrSpec({{"a", 2.0f}}, 0.0f)).ok());
  std::unique_ptr<Bundle> full2;
  ASSERT_TRUE(Bundle::Open(dir + "-v2full", &full2).ok());
  ASSERT_EQ(app.current()->info().version, full2->id()) << "v3 would not fit v2 even without a rollback";
  std::string version, from;
  ASSERT_TRUE(app.Rollback(&version, &from).ok());
  EXPECT_NEAR(ScoreLr(*app.current(), {"a"}), Sigmoid(0.5), 1e-6);
  // v3 is a delta on v2 (diffed against the full copy of v2: v2 itself is a delta).
  BundleSpec d3;
  ASSERT_TRUE(MakeDelta(*full2, LrSpec({{"a", 3.0f}}, 0.0f), &d3).ok());
  ASSERT_TRUE(WriteBundle(at(3), d3).ok());
  Status st = app.Reload();
  EXPECT_FALSE(st.ok()) << "a delta built on the rolled-back version was applied to the one before it";
  EXPECT_NE(st.message().find(PublishedVersionName(3)), std::string::npos) << st.ToString();
  EXPECT_NEAR(ScoreLr(*app.current(), {"a"}), Sigmoid(0.5), 1e-6);
  ASSERT_TRUE(WriteBundle(at(4), LrSpec({{"a", -1.0f}}, 0.0f)).ok());
  ASSERT_TRUE(app.Reload().ok());
  EXPECT_NEAR(ScoreLr(*app.current(), {"a"}), Sigmoid(-1.0), 1e-6);
  app.Stop();
  std::filesystem::remove_all(dir + "-v2full");
}

TEST(ServeBundle, AFailedReloadKeepsTheServedVersion) {
  const std::string dir = FreshDir("failed");
  const std::string path = dir + "/live";
  ASSERT_TRUE(WriteBundle(path, LrSpec({{"a", 0.5f}}, 0.0f)).ok());
  ServeApp app(TestServeOptions(), std::make_unique<BundleSource>(path, ServingOptions(), 1));
  ASSERT_TRUE(app.Start().ok());
  const std::string v1 = app.current()->info().version;
  // Publish a damaged file (by rename, as publishers must: the served version maps the old
  // file, which must not be changed in place): the reload is refused with the reason, and the
  // old version keeps serving.
  ASSERT_EQ(std::system(("printf 'garbage' > '" + dir + "/bad' && mv '" + dir + "/bad' '" + path + "/w.values.npy'").c_str()), 0);
  httplib::Client client("127.0.0.1", app.port());
  auto res = client.Post("/reload", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500) << res->body;
  EXPECT_NE(res->body.find("w.values.npy"), std::string::npos) << res->body;
  EXPECT_EQ(app.current()->info().version, v1);
  res = client.Post("/score", R"({"features": [[0, "a"]]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NEAR(json::parse(res->body)["scores"][0].get<double>(), Sigmoid(0.5), 1e-6);
  res = client.Get("/version");
  EXPECT_NE(json::parse(res->body).value("last_reload_error", "").find("w.values.npy"), std::string::npos);
  // /topk on a model without user and item tables is a client error.
  res = client.Post("/topk", R"({"user": "u1"})", "application/json");
  EXPECT_EQ(res->status, 400);
  app.Stop();
}

// Writes `bytes` to `path` through a rename, as a publisher must (the served version maps the
// old file).
void Publish(const std::string& path, const std::string& bytes) {
  {
    std::ofstream out(path + ".new", std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0) << path;
}

// A damaged bundle whose .npy shapes wrap around 2^64 when multiplied by the element size:
// 2^62 + 496 rows of 8-byte keys "need" 3968 bytes, which is what the file holds (one page
// with its 128-byte header). Before the shape arithmetic was checked, Load took 2^62 rows and
// read keys past the end of the mapping (a heap-buffer-overflow under AddressSanitizer, a
// crash or garbage otherwise). The reload must be refused naming the file, and the served
// version must go on answering.
TEST(ServeBundle, AShapeThatOverflowsIsRefusedOnReload) {
  const std::string dir = FreshDir("overflow");
  const std::string path = dir + "/live";
  std::vector<std::pair<std::string, float>> weights;
  for (int i = 0; i < 496; ++i) weights.push_back({"f" + std::to_string(i), 0.5f});
  ASSERT_TRUE(WriteBundle(path, LrSpec(weights, 0.0f)).ok());
  ServeApp app(TestServeOptions(), std::make_unique<BundleSource>(path, ServingOptions(), 1));
  ASSERT_TRUE(app.Start().ok());
  const std::string v1 = app.current()->info().version;

  const uint64_t rows = (uint64_t{1} << 62) + 496;
  json manifest = json::parse(Slurp(path + "/manifest.json"));
  std::string keys_file, values_file;
  for (auto& t : manifest["tables"]) {
    if (t["name"] != "w") continue;
    ASSERT_EQ(t["rows"].get<uint64_t>(), 496u);
    t["rows"] = rows;
    keys_file = t["keys"].get<std::string>();
    values_file = t["values"].get<std::string>();
  }
  ASSERT_FALSE(keys_file.empty());
  auto reshape = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string bytes = Slurp(path + "/" + name);
    const size_t at = bytes.find(from);
    ASSERT_NE(at, std::string::npos) << name;
    // Same header length: the longer shape eats into the space padding before the newline.
    std::string header = bytes.substr(0, 128);
    header.replace(at, from.size(), to);
    const size_t pad = header.find_last_not_of(" \n") + 1;
    ASSERT_GT(header.size() - pad, to.size() - from.size());
    header.erase(pad, to.size() - from.size());
    bytes.replace(0, 128, header);
    ASSERT_EQ(bytes.size() % 4096, 0u) << name;  // keys: exactly one page
    manifest["files"][name]["crc32"] = Crc32(0, bytes.data(), bytes.size());
    Publish(path + "/" + name, bytes);
  };
  reshape(keys_file, "(496,)", "(" + std::to_string(rows) + ",)");
  // Values: 2^62 + 496 four-byte floats "need" 1984 bytes, also what the file holds.
  std::string values = Slurp(path + "/" + values_file);
  ASSERT_EQ(values.size(), 128u + 496 * 4);
  {
    const size_t at = values.find("(496, 1)");
    ASSERT_NE(at, std::string::npos);
    const std::string to = "(" + std::to_string(rows) + ", 1)";
    std::string header = values.substr(0, 128);
    header.replace(at, 8, to);
    const size_t pad = header.find_last_not_of(" \n") + 1;
    header.erase(pad, to.size() - 8);
    values.replace(0, 128, header);
    manifest["files"][values_file]["crc32"] = Crc32(0, values.data(), values.size());
    Publish(path + "/" + values_file, values);
  }
  Publish(path + "/manifest.json", manifest.dump(2));

  httplib::Client client("127.0.0.1", app.port());
  auto res = client.Post("/reload", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500) << res->body;
  EXPECT_NE(res->body.find(keys_file), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("too large"), std::string::npos) << res->body;
  EXPECT_EQ(app.current()->info().version, v1);
  res = client.Post("/score", R"({"features": [[0, "f7"]]})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NEAR(json::parse(res->body)["scores"][0].get<double>(), Sigmoid(0.5), 1e-6);
  app.Stop();
}

}  // namespace
}  // namespace embark
