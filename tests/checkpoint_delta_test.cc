// Delta checkpoints: a delta shard holds exactly the rows changed since the previous save (or
// load), and servers restored from a full base plus its deltas -- on a different number of
// servers -- hold exactly the rows of a full save of the same state, optimizer state included.
#include "ps/server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ps/checkpoint_shard.h"

namespace embark {
namespace {

using Rows = std::map<std::pair<uint32_t, uint64_t>, std::vector<float>>;

std::vector<TableConfig> Tables() {
  TableConfig emb;
  emb.name = "emb";
  emb.dim = 4;
  emb.optimizer.kind = OptimizerKind::kAdaGrad;
  emb.optimizer.lr = 0.1f;
  emb.init.kind = InitKind::kUniform;
  emb.init.scale = 0.5f;
  TableConfig mlp;
  mlp.id = 1;
  mlp.name = "mlp";
  mlp.dense = true;
  mlp.dense_size = 100;
  mlp.optimizer.kind = OptimizerKind::kSgd;
  mlp.optimizer.lr = 1.0f;
  return {emb, mlp};
}

class DeltaTest : public ::testing::Test {
 protected:
  DeltaTest() : one_(ShardMap::Balanced(1), Tables()), two_(ShardMap::Balanced(2), Tables()) {
    std::string pattern = testing::TempDir() + "embark_delta_XXXXXX";
    dir_ = mkdtemp(pattern.data());
  }
  ~DeltaTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Server> Make(const Placement& p, int index, int threads) {
    ServerOptions o;
    o.threads = threads;
    o.seed = 3;
    return std::make_unique<Server>(nullptr, nullptr, p, index, o);
  }
  void Push(Server* s, uint32_t table, const std::vector<uint64_t>& keys, float scale) {
    const uint32_t width = one_.RowWidth(table);
    std::vector<float> grads(keys.size() * width);
    for (size_t i = 0; i < grads.size(); ++i) grads[i] = scale * static_cast<float>(i % 7 + 1) * 0.125f;
    Message m;
    m.header = MakeHeader(MsgType::kPush, 9, ++request_id_);
    m.header.table = table;
    m.header.num_keys = static_cast<uint32_t>(keys.size());
    m.header.val_len = width;
    m.frames.emplace_back(keys.data(), keys.size() * sizeof(uint64_t));
    m.frames.emplace_back(grads.data(), grads.size() * sizeof(float));
    m.header.num_frames = 2;
    m.peer = 9;
    MsgHeader reply;
    std::vector<zmq::message_t> frames;
    ASSERT_TRUE(s->Handle(m, &reply, &frames).ok());
  }
  // Every row of the shard files (later files overwrite earlier rows, as a restore does).
  Rows Read(const std::vector<std::string>& paths, size_t* sparse_rows_of_last = nullptr) {
    Rows rows;
    std::vector<uint32_t> floats = {8, one_.RowWidth(1)};  // AdaGrad: weights + accumulators
    for (const std::string& p : paths) {
      size_t sparse = 0;
      Status st = ReadShardFile(p, {"emb", "mlp"}, floats, [&](const ShardRow& r) {
        rows[{r.table, r.key}] = std::vector<float>(r.row, r.row + r.floats);
        sparse += r.table == 0;
        return Status::OK();
      });
      EXPECT_TRUE(st.ok()) << st.ToString();
      if (sparse_rows_of_last != nullptr) *sparse_rows_of_last = sparse;
    }
    return rows;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  Placement one_, two_;
  std::string dir_;
  uint64_t request_id_ = 0;
};

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t k = from; k < to; ++k) v.push_back(k);
  return v;
}

TEST_F(DeltaTest, BasePlusDeltasRestoresExactlyTheRowsOfAFullSave) {
  auto s = Make(one_, 0, 2);
  uint64_t sum = 0;
  Push(s.get(), 0, Range(0, 200), 1.0f);
  Push(s.get(), 1, {0}, 1.0f);
  ASSERT_TRUE(s->SaveShard(Path("base"), &sum, false).ok());
  Push(s.get(), 0, Range(150, 260), -0.5f);  // 50 changed rows and 60 new ones
  ASSERT_TRUE(s->SaveShard(Path("delta1"), &sum, true).ok());
  size_t sparse = 0;
  Read({Path("delta1")}, &sparse);
  EXPECT_EQ(sparse, 110u) << "a delta holds exactly the rows changed or created since the base";
  Push(s.get(), 0, {3, 7, 255}, 2.0f);
  ASSERT_TRUE(s->SaveShard(Path("delta2"), &sum, true).ok());
  Read({Path("delta2")}, &sparse);
  EXPECT_EQ(sparse, 3u);
  ASSERT_TRUE(s->SaveShard(Path("delta3"), &sum, true).ok());
  Read({Path("delta3")}, &sparse);
  EXPECT_EQ(sparse, 0u) << "nothing changed since the previous save";
  ASSERT_TRUE(s->SaveShard(Path("full"), &sum, false).ok());
  const Rows full = Read({Path("full")});
  EXPECT_EQ(Read({Path("base"), Path("delta1"), Path("delta2"), Path("delta3")}), full);

  // Restored on two servers from the chain: together they hold exactly the full save's rows.
  const std::vector<std::string> chain = {Path("base"), Path("delta1"), Path("delta2"), Path("delta3")};
  Rows restored;
  for (int i = 0; i < 2; ++i) {
    auto r = Make(two_, i, 1 + i);
    ASSERT_TRUE(r->LoadShards(chain).ok());
    const std::string out = Path("restored-" + std::to_string(i));
    ASSERT_TRUE(r->SaveShard(out, &sum, true).ok());
    Read({out}, &sparse);
    EXPECT_EQ(sparse, 0u) << "the first delta after a restore is relative to the restored rows";
    ASSERT_TRUE(r->SaveShard(out, &sum, false).ok());
    const Rows part = Read({out});
    restored.insert(part.begin(), part.end());
  }
  EXPECT_EQ(restored, full);
}

TEST_F(DeltaTest, LoadRefusesAShardWhoseChecksumIsNotTheManifests) {
  auto s = Make(one_, 0, 1);
  Push(s.get(), 0, Range(0, 10), 1.0f);
  uint64_t sum = 0;
  ASSERT_TRUE(s->SaveShard(Path("a"), &sum, false).ok());
  auto r = Make(one_, 0, 1);
  const std::vector<uint64_t> wrong = {sum + 1};
  Status st = r->LoadShards({Path("a")}, &wrong);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find(Path("a") + ": checksum"), std::string::npos) << st.message();
  const std::vector<uint64_t> right = {sum};
  EXPECT_TRUE(r->LoadShards({Path("a")}, &right).ok());
}

TEST_F(DeltaTest, ADenseBlockKeyPastTheLayoutIsRefusedNotDropped) {
  auto s = Make(one_, 0, 1);
  Push(s.get(), 1, {0}, 1.0f);
  uint64_t sum = 0;
  ASSERT_TRUE(s->SaveShard(Path("good"), &sum, false).ok());
  // The same shard with dense block 0 renamed 2^32: a 32-bit block index would make it block 0
  // again, and the layout lookup made it nobody's block, restored by no server.
  std::vector<std::vector<float>> rows;
  std::vector<ShardRow> meta;
  ASSERT_TRUE(ReadShardFile(Path("good"), {"emb", "mlp"}, {8, one_.RowWidth(1)}, [&](const ShardRow& r) {
                rows.emplace_back(r.row, r.row + r.floats);
                meta.push_back({r.table, r.table == 1 ? r.key + (uint64_t{1} << 32) : r.key, nullptr, r.floats});
                return Status::OK();
              }).ok());
  ASSERT_EQ(meta.size(), 1u);
  uint64_t bad_sum = 0;
  ASSERT_TRUE(WriteShardFile(Path("bad"), {"emb", "mlp"}, {false, true}, {8, one_.RowWidth(1)},
                             [&](const std::function<void(const ShardRow&)>& emit) {
                               for (size_t i = 0; i < meta.size(); ++i) {
                                 ShardRow r = meta[i];
                                 r.row = rows[i].data();
                                 emit(r);
                               }
                             }, &bad_sum).ok());
  auto r = Make(one_, 0, 1);
  Status st = r->LoadShards({Path("bad")});
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find(Path("bad") + ": dense block 4294967296 of table mlp is out of range"), std::string::npos)
      << st.message();
  // The shard as written still loads, and gives back the pushed block.
  ASSERT_TRUE(r->LoadShards({Path("good")}).ok());
  uint64_t again = 0;
  ASSERT_TRUE(r->SaveShard(Path("again"), &again, false).ok());
  EXPECT_EQ(Read({Path("again")}), Read({Path("good")}));
}

}  // namespace
}  // namespace embark
