// Writes the seed corpus of every fuzz target: valid inputs made by the project's own writers
// (and a few near-misses), in each target's input encoding (the comment at the top of each
// *_fuzz.cc). fuzz/corpus/ in the repository is this program's output:
//   build-fuzz/bin/fuzz_make_corpus fuzz/corpus
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <dirent.h>

#include "core/cluster.h"
#include "core/shm_slot.h"
#include "core/wire.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_schemas.h"
#include "fuzz/fuzz_server.h"
#include "models/model_factory.h"
#include "partition/shard_map.h"
#include "ps/checkpoint_shard.h"
#include "checkpoint/checkpoint_store.h"
#include "serving/bundle.h"
#include "serving/bundle_source.h"
#include "data/input_position.h"
#include "data/line_parser.h"
#include "worker/train_protocol.h"

using namespace embark;

namespace {

std::string g_root;

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = g_root + "/" + target;
  mkdir(dir.c_str(), 0755);
  fuzz::WriteFile(dir + "/" + name, bytes);
}

template <class T>
void Put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void PutChunk(std::string* out, const std::string& s) {
  Put(out, static_cast<uint16_t>(s.size()));
  *out += s;
}
std::string Raw(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

// ----- wire, shm_slot -----

std::vector<uint64_t> OwnedKeys(uint32_t table, size_t n, uint64_t from) {
  std::vector<uint64_t> keys;
  for (uint64_t k = from; keys.size() < n; ++k)
    if (fuzz::FuzzPlacement().ServerOf(table, k) == 0) keys.push_back(k);
  return keys;
}

// One message of the wire target, frames sized from the header (mode bit 1).
std::string DataMessage(MsgType type, uint32_t table, const std::vector<uint64_t>& keys, uint32_t val_len,
                        bool values, uint8_t variant = 0) {
  MsgHeader h = MakeHeader(type, 9, 42);
  h.table = table;
  h.num_keys = static_cast<uint32_t>(keys.size());
  h.val_len = val_len;
  h.num_frames = values ? 2 : 1;
  h.aux = 5;
  std::string out = Raw(&h, sizeof(h));
  out += static_cast<char>(3 | (variant << 2));
  out += Raw(keys.data(), keys.size() * 8);
  if (values) {
    std::vector<float> v(keys.size() * val_len);
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
    out += Raw(v.data(), v.size() * 4);
  }
  return out;
}

// A control message of the wire target, one length-prefixed payload frame (mode bit 0 only).
std::string ControlMessage(MsgType type, const std::string& payload, uint64_t aux = 0) {
  MsgHeader h = MakeHeader(type, 0, 7);
  h.num_frames = 1;
  h.aux = aux;
  std::string out = Raw(&h, sizeof(h));
  out += static_cast<char>(1);
  PutChunk(&out, payload);
  return out;
}

void WireSeeds() {
  const Placement& p = fuzz::FuzzPlacement();
  const auto emb = OwnedKeys(0, 5, 100), lin = OwnedKeys(1, 3, 500);
  const uint32_t emb_w = p.RowWidth(0), lin_w = p.RowWidth(1), mlp_w = p.RowWidth(2);
  Seed("wire", "pull", DataMessage(MsgType::kPull, 0, emb, emb_w, false));
  Seed("wire", "push_then_pull",
       DataMessage(MsgType::kPush, 0, emb, emb_w, true) + DataMessage(MsgType::kPull, 0, emb, emb_w, false));
  Seed("wire", "push_pull_lin_threads", DataMessage(MsgType::kPushPull, 1, lin, lin_w, true, 1));
  Seed("wire", "bounded_pushes", DataMessage(MsgType::kPush, 0, emb, emb_w, true, 2) +
                                     DataMessage(MsgType::kPush, 0, emb, emb_w, true, 2) +
                                     DataMessage(MsgType::kPushPull, 0, emb, emb_w, true, 2));
  std::vector<uint64_t> blocks;
  for (uint64_t b = 0; b < 2; ++b)
    if (p.ServerOf(2, b) == 0) blocks.push_back(b);
  if (!blocks.empty()) Seed("wire", "pull_dense", DataMessage(MsgType::kPull, 2, blocks, mlp_w, false));
  const uint32_t stored = p.StoredRowWidth(0);
  Seed("wire", "rows_and_delta", DataMessage(MsgType::kPullRows, 0, emb, stored, false) +
                                     DataMessage(MsgType::kPushDelta, 0, emb, stored, true));
  // A pull of the wrong width, and a reply where a request belongs.
  Seed("wire", "bad_width", DataMessage(MsgType::kPull, 0, emb, emb_w + 1, false));
  Seed("wire", "reply", DataMessage(MsgType::kPullReply, 0, emb, emb_w, false));

  NodeInfo info;
  info.rank = 2;
  info.role = Role::kWorker;
  info.role_index = 0;
  info.endpoint = "tcp://127.0.0.1:40001";
  info.host = "vm";
  info.pid = 4242;
  info.config_hash = 99;
  info.boot_id = "b";
  info.net_ns = "net:[4026531840]";
  Seed("wire", "register", ControlMessage(MsgType::kRegister, SerializeNodeInfo(info)));
  ClusterTable table;
  table.num_servers = 1;
  table.num_workers = 1;
  for (int r = 0; r < 3; ++r) {
    NodeInfo n = info;
    n.rank = r;
    n.role = r == 0 ? Role::kScheduler : r == 1 ? Role::kServer : Role::kWorker;
    table.nodes.push_back(n);
  }
  table.shard_map = ShardMap::Balanced(1).Encode();
  Seed("wire", "node_table", ControlMessage(MsgType::kNodeTable, SerializeTable(table)));
  ClockReport clock;
  clock.epoch = 1;
  clock.clock = 3;
  clock.examples = 100;
  clock.loss_sum = 2.5;
  Seed("wire", "app_clock", ControlMessage(MsgType::kApp, EncodeMsg(clock), kTrainClock));
  EvalReport eval;
  eval.accumulator = "acc";
  eval.predictions = {0.5f, 0.25f};
  Seed("wire", "app_eval", ControlMessage(MsgType::kApp, EncodeMsg(eval), kTrainEval));
  InputPosition pos;
  pos.epoch = 1;
  pos.clock = 2;
  pos.input.files = {"a.txt", "b.txt"};
  pos.input.sizes = {100, 50};
  pos.input.ranges = {{0, 40, 100}, {1, 0, 50}};
  pos.input.pending = {30};
  Seed("wire", "app_position", ControlMessage(MsgType::kApp, EncodePosition(pos), kTrainPaused));
  MsgHeader hb = MakeHeader(MsgType::kHeartbeat, 3);
  Seed("wire", "heartbeat", Raw(&hb, sizeof(hb)) + std::string(1, '\0'));
}

void ShmSeeds() {
  const Placement& p = fuzz::FuzzPlacement();
  const auto emb = OwnedKeys(0, 6, 1000);
  const uint32_t w = p.RowWidth(0);
  // Segment contents: a push-pull slot at 0 and a pull slot at 4096.
  std::string segment(8192, '\0');
  const ShmSlotLayout pp = ShmSlotLayout::For(MsgType::kPushPull, emb.size(), w);
  std::memcpy(&segment[pp.keys], emb.data(), emb.size() * 8);
  for (size_t i = 0; i < emb.size() * w; ++i) {
    const float v = 0.125f * static_cast<float>(i % 5);
    std::memcpy(&segment[pp.values + i * 4], &v, 4);
  }
  std::memcpy(&segment[4096], emb.data(), emb.size() * 8);
  auto request = [&](MsgType type, uint64_t offset, uint8_t flags) {
    MsgHeader h = MakeHeader(type, 7, 9);
    h.table = 0;
    h.num_keys = static_cast<uint32_t>(emb.size());
    h.val_len = w;
    h.aux = 3;
    h.shm_offset = offset;
    h.shm_bytes = ShmSlotLayout::For(type, emb.size(), w).bytes;
    return Raw(&h, sizeof(h)) + std::string(1, static_cast<char>(flags));
  };
  for (uint8_t mode : {0, 1, 2}) {
    std::string in(1, static_cast<char>(mode));
    PutChunk(&in, segment);
    in += request(MsgType::kPushPull, 0, 0) + request(MsgType::kPull, 4096, 0) + request(MsgType::kPush, 0, 3);
    Seed("shm_slot", "push_pull_then_pull_" + std::to_string(mode), in);
  }
  std::string bad(1, '\0');
  PutChunk(&bad, segment);
  bad += request(MsgType::kPull, 4090, 0) + request(MsgType::kPull, uint64_t{1} << 40, 1);
  Seed("shm_slot", "bad_offsets", bad);
}

void SlotRingSeeds() {
  std::string s;
  Put(&s, static_cast<uint16_t>(128));  // 1024 bytes
  for (uint16_t n : {100, 300, 64, 500}) {
    s += '\x02';
    Put(&s, n);
  }
  s += "\x01\x01\x00\x01\x00\x00";
  for (uint16_t n : {200, 700}) {
    s += '\x02';
    Put(&s, n);
  }
  Seed("slot_ring", "wrap", s);
}

// ----- text formats -----

void LineSeeds() {
  auto seed = [](const char* name, uint8_t choice, const std::string& text) {
    Seed("line_parser", name, std::string(1, static_cast<char>(choice)) + text);
  };
  seed("ratings_tab", 0, "user\titem\trating\n1\t2\t3.5\n7\t9\t5\t881250949\n\n2\t3\tx\n");
  seed("ratings_colons_range", 0x08, "1::1193::5::978300760\n1::661::3::978302109\n1::914::9::1\n");
  seed("ratings_comma", 0, "u1, i1, 4\nu2,i2,+1e2\n");
  seed("libsvm", 1, "1 3:1 10:0.5 7:2\n-1 4:1\n0\n+1 5:nan\n");
  seed("libffm", 2, "1 0:3:1 1:10:0.5 2:7:2\n0 65535:1:1\n1 70000:1:1\n");
  seed("libffm_fields", 2 | 0x10, "1 0:3:1 9:10:0.5\n0 10:1:1\n");
  std::string criteo = "0";
  for (int i = 0; i < 13; ++i) criteo += "\t" + std::to_string(i * 7 - 2);
  for (int j = 0; j < 26; ++j) criteo += "\t" + std::string(j % 5 == 0 ? "" : "68fd1e64");
  seed("criteo_tab", 3, criteo + "\n" + criteo + "\n");
  std::string kaggle = "Id,Label";
  for (int i = 1; i <= 13; ++i) kaggle += ",I" + std::to_string(i);
  for (int j = 1; j <= 26; ++j) kaggle += ",C" + std::to_string(j);
  std::string row = "10000000,1";
  for (int i = 0; i < 13; ++i) row += "," + std::string(i == 3 ? "" : i == 4 ? "260.0" : "5");
  for (int j = 0; j < 26; ++j) row += ",05db9164";
  seed("criteo_kaggle", 3, kaggle + "\n" + row + "\n" + row + "\n");
  seed("csv_0", 4 | (0 << 5),
       "i1,u1,m1,4.5,3.25,drama;comedy,The Big Sleep,1,0,2024-01-02 10:11:12,3\n"
       "C2,u1,m2,3,NA,,\"quoted, text\",0,1,1/2/2024 3:04,-1\n"
       "i3,,m3,5,1,x,y,1,1,1704067200,2\n");
  seed("csv_1", 4 | (1 << 5),
       "kind|clicked|a|b|c|d|e|f\nA|1|10|2.5|3|4|some words here|p,q\nX|0|1|1|1|1|x|y\nB|0|-3||8|1|t|\n");
  seed("csv_2", 4 | (2 << 5), "o1\ti1\t2\t2024-03-04T05:06:07\n-o1\ti1\t-2\t2024-03-05\n");
}

void SchemaSeeds() {
  const char* rows[] = {
      "i1,u1,m1,4.5,3.25,drama;comedy,The Big Sleep,1,0,2024-01-02 10:11:12,3\nC2,u1,m2,3,NA,,\"q, t\",0,1,1/2/2024 3:04,-1\n",
      "kind|clicked|a|b|c|d|e|f\nA|1|10|2.5|3|4|some words|p,q\n",
      "o1\ti1\t2\t2024-03-04T05:06:07\n",
  };
  for (int i = 0; i < fuzz::kNumFuzzSchemas; ++i)
    Seed("csv_schema", "schema_" + std::to_string(i), std::string(fuzz::kFuzzSchemas[i]) + "\n---\n" + rows[i]);
}

// ----- files -----

void ShardSeeds() {
  const std::string path = fuzz::ScratchDir() + "/s.shard";
  const std::vector<std::string> names = {"emb", "lin", "mlp"};
  const std::vector<bool> dense = {false, false, true};
  const std::vector<uint32_t> floats = {8, 3, 16384};
  std::vector<float> row(8);
  for (size_t i = 0; i < row.size(); ++i) row[i] = 0.5f * static_cast<float>(i);
  uint64_t checksum = 0;
  Status st = WriteShardFile(path, names, dense, floats, [&](const std::function<void(const ShardRow&)>& emit) {
    emit({0, 17, row.data(), 8});
    emit({0, 99, row.data(), 8});
    emit({1, 5, row.data(), 3});
    emit({2, 0, row.data(), 4});  // a short dense block
  }, &checksum);
  FUZZ_CHECK(st.ok(), "cannot write the seed shard");
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Seed("checkpoint_shard", "whole", std::string(1, '\0') + bytes);
  Seed("checkpoint_shard", "whole_file", std::string(1, '\2') + bytes);
  Seed("checkpoint_shard", "body", std::string(1, '\1') + bytes.substr(0, bytes.size() - 8));
  // A server's own shard (what Server::LoadShards reads), after pushes to every table, and
  // a delta after more pushes.
  std::unique_ptr<Server> server = fuzz::MakeFuzzServer(0);
  const Placement& p = fuzz::FuzzPlacement();
  auto push = [&](uint32_t table, const std::vector<uint64_t>& keys) {
    Message m;
    m.header = MakeHeader(MsgType::kPush, 9, 1);
    m.header.table = table;
    m.header.num_keys = static_cast<uint32_t>(keys.size());
    m.header.val_len = p.RowWidth(table);
    std::vector<float> g(keys.size() * p.RowWidth(table), 0.25f);
    m.frames.emplace_back(keys.data(), keys.size() * 8);
    m.frames.emplace_back(g.data(), g.size() * 4);
    m.header.num_frames = 2;
    m.peer = 9;
    MsgHeader reply;
    std::vector<zmq::message_t> frames;
    FUZZ_CHECK(server->Handle(m, &reply, &frames).ok(), "a seed push was refused");
  };
  push(0, OwnedKeys(0, 3, 10));
  push(1, OwnedKeys(1, 2, 20));
  auto saved = [&](bool delta) {
    const std::string shard = fuzz::ScratchDir() + "/server-0.shard";
    uint64_t sum = 0;
    FUZZ_CHECK(server->SaveShard(shard, &sum, delta).ok(), "cannot save the seed server's shard");
    std::ifstream in(shard, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string full = saved(false);
  Seed("checkpoint_shard", "server_full", std::string(1, '\2') + full);
  Seed("checkpoint_shard", "server_full_body", std::string(1, '\3') + full.substr(0, full.size() - 8));
  push(0, OwnedKeys(0, 2, 500));
  const std::string delta = saved(true);
  Seed("checkpoint_shard", "server_delta_threads", std::string(1, static_cast<char>(2 | 8)) + delta);
}

void ManifestSeeds() {
  Manifest m;
  m.model = "fm";
  m.epochs_done = 2;
  m.in_epoch = 3;
  m.step = 120;
  m.delta = true;
  m.base = "epoch-2";
  m.servers = 2;
  m.workers = 2;
  m.format = "libsvm";
  m.seed = 7;
  m.options = {{"dim", "8"}, {"lr", "0.05"}};
  m.metrics = {{"test_auc", "0.71"}};
  m.files = {{"shard", "server-0.shard", 1234}, {"shard", "server-1.shard", 5678}, {"position", "worker-0.position", 9},
             {"state", "scheduler.state", 10}};
  const std::string text = FormatManifest(m);
  Seed("manifest", "delta", std::string(1, '\0') + text);
  const size_t cut = text.rfind("crc32 ");
  Seed("manifest", "delta_body", std::string(1, '\1') + text.substr(0, cut));
  Manifest full;
  full.model = "mf";
  full.servers = 1;
  full.files = {{"shard", "server-0.shard", 1}};
  const std::string t2 = FormatManifest(full);
  Seed("manifest", "full_body", std::string(1, '\1') + t2.substr(0, t2.rfind("crc32 ")));
}

// The bundle directory `dir` packed as the bundle target's input.
std::string PackDir(const std::string& dir, uint8_t mode) {
  std::string out(1, static_cast<char>(mode));
  std::map<std::string, std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(dir + "/" + e->d_name, std::ios::binary);
      files[e->d_name] = std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    }
    closedir(d);
  }
  for (const auto& [name, contents] : files) {
    out += static_cast<char>(name.size());
    out += name;
    PutChunk(&out, contents);
  }
  return out;
}

// A seed bundle must load the way serve loads it, or the fuzzer starts from refusals.
void CheckBundle(const std::string& dir) {
  std::unique_ptr<Bundle> bundle;
  Status st = Bundle::Open(dir, &bundle);
  if (st.ok()) {
    std::shared_ptr<const ServingModel> model;
    st = ServingModelFromBundle(std::shared_ptr<const Bundle>(std::move(bundle)), dir, ServingOptions(), 1, &model);
  }
  if (!st.ok()) std::fprintf(stderr, "%s\n", st.ToString().c_str());
  FUZZ_CHECK(st.ok(), "a seed bundle does not load");
}

void BundleSeeds() {
  const std::string root = fuzz::ScratchDir();
  // LR over libsvm, float32, with raw ids and an extra array.
  BundleSpec lr;
  lr.model_json = R"({"name": "lr", "options": {}})";
  lr.features_json = R"({"format": "libsvm"})";
  BundleTableData w;
  w.name = "w";
  w.dim = 1;
  w.keys = {FeatureKey(0, "a"), FeatureKey(0, "b"), FeatureKey(0, "c")};
  std::sort(w.keys.begin(), w.keys.end());
  w.values = {0.5f, -0.25f, 1.0f};
  w.ids = {"a", "", "c"};
  BundleTableData b;
  b.name = "bias";
  b.dim = 1;
  b.dense = true;
  b.keys = {0};
  b.values = {0.125f};
  lr.tables = {w, b};
  lr.arrays = {BundleArrayData::Of("seen_items", std::vector<uint64_t>{1, 2, 3})};
  FUZZ_CHECK(WriteBundle(root + "/lr", lr).ok(), "cannot write the lr seed bundle");
  CheckBundle(root + "/lr");
  Seed("bundle", "lr", PackDir(root + "/lr", 0));
  Seed("bundle", "lr_fixed", PackDir(root + "/lr", 1));
  Seed("bundle", "lr_unchecked", PackDir(root + "/lr", 2));
  // MF, float16: tables as the model declares them.
  std::unique_ptr<Model> mf;
  ModelOptions o;
  o.dim = 2;
  FUZZ_CHECK(CreateModel("mf", o, &mf).ok(), "cannot create mf");
  BundleSpec spec;
  spec.dtype = BundleDtype::kFloat16;
  spec.model_json = R"({"name": "mf", "options": {"dim": "2"}})";
  spec.features_json = R"({"format": "ratings"})";
  for (const TableConfig& c : mf->Tables()) {
    BundleTableData t;
    t.name = c.name;
    t.dense = c.dense;
    t.dim = c.dense ? c.dense_size : c.dim;
    t.keys = c.dense ? std::vector<uint64_t>{0} : std::vector<uint64_t>{3, 8, 20};
    t.values.assign(t.keys.size() * t.dim, 0.5f);
    spec.tables.push_back(t);
  }
  FUZZ_CHECK(WriteBundle(root + "/mf", spec).ok(), "cannot write the mf seed bundle");
  CheckBundle(root + "/mf");
  Seed("bundle", "mf_half", PackDir(root + "/mf", 0));
}

void RequestSeeds() {
  auto seed = [](const char* name, uint8_t choice, const std::string& body) {
    Seed("requests", name, std::string(1, static_cast<char>(choice)) + body);
  };
  seed("mf_features", 0 | (5 << 2), R"({"features": [[0, "u1", 1], [1, "i7"]]})");
  seed("ffm_examples", 1 | (5 << 2), R"({"examples": [[[0, "a", 1], [1, "b", 0.5]], {"features": [[2, "c"]]}, []]})");
  seed("deepfm_criteo_lines", 2 | (3 << 2), "{\"lines\": [\"1\\t1\\t2\\t3\\t4\\t5\\t6\\t7\\t8\\t9\\t10\\t11\\t12\\t13"
                                            "\\ta\\tb\\tc\\td\\te\\tf\\tg\\th\\ti\\tj\\tk\\tl\\tm\\tn\\to\\tp\\tq\\tr\\ts\\tt"
                                            "\\tu\\tv\\tw\\tx\\ty\\tz\"]}");
  seed("mf_ratings_lines", 0 | (0 << 2), R"({"lines": ["u1 i2 4", "u2::i3::5"]})");
  seed("libffm_lines", 1 | (2 << 2), R"({"lines": ["1 0:a:1 1:b:0.5"]})");
  seed("topk", 0x80, R"({"user": "u1", "k": 10, "exclude": ["i1", "i2"], "exact": true, "include_seen": false})");
  seed("topk_user_features", 0x80, R"({"k": 3, "user_features": [[0, "u1"], [70, "x"]]})");
  seed("bad_number", 0, R"({"features": [[0, "u1", 1e999]]})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR   (writes CORPUS_DIR/<target>/<seed>)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  mkdir(g_root.c_str(), 0755);
  WireSeeds();
  ShmSeeds();
  SlotRingSeeds();
  LineSeeds();
  SchemaSeeds();
  ShardSeeds();
  ManifestSeeds();
  BundleSeeds();
  RequestSeeds();
  fuzz::ScratchDir();  // empties it
  return 0;
}
