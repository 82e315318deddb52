// CheckpointStore: MANIFEST round trip and its checksum, checkpoint ordering by name, delta
// chains (a missing base is named), and pruning that never removes a base a kept checkpoint
// needs. Also the checked files that hold positions and the scheduler's state.
#include "checkpoint/checkpoint_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/checked_file.h"
#include "core/crc32.h"

namespace embark {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  StoreTest() {
    std::string pattern = testing::TempDir() + "embark_store_XXXXXX";
    dir_ = mkdtemp(pattern.data());
  }
  ~StoreTest() override { std::filesystem::remove_all(dir_); }

  // A checkpoint with one shard file; `base` empty = full.
  void Add(const CheckpointStore& store, const std::string& name, const std::string& base) {
    ASSERT_TRUE(store.Prepare(name).ok());
    std::ofstream(store.PathOf(name) + "/server-0.shard") << name;
    Manifest m;
    m.model = "mf";
    m.epochs_done = 1;
    m.delta = !base.empty();
    m.base = base;
    m.servers = 1;
    m.workers = 2;
    m.files.push_back({"shard", "server-0.shard", 42});
    ASSERT_TRUE(store.WriteManifest(name, m).ok());
  }
  bool Exists(const std::string& path) const { return std::filesystem::exists(dir_ + "/" + path); }

  std::string dir_;
};

TEST_F(StoreTest, ManifestRoundTripAndChecksum) {
  Manifest m;
  m.model = "deepfm";
  m.epochs_done = 2;
  m.in_epoch = 3;
  m.step = 1234;
  m.delta = true;
  m.base = "epoch-3-step-1000";
  m.servers = 2;
  m.workers = 3;
  m.files = {{"shard", "server-0.shard", 1}, {"shard", "server-1.shard", 2}, {"position", "worker-0.position", 3},
             {"state", "scheduler.state", 18446744073709551615ull}};
  const std::string text = FormatManifest(m);
  Manifest back;
  ASSERT_TRUE(ParseManifest("M", text, &back).ok());
  EXPECT_EQ(back.model, "deepfm");
  EXPECT_EQ(back.epochs_done, 2);
  EXPECT_EQ(back.in_epoch, 3);
  EXPECT_EQ(back.step, 1234u);
  EXPECT_TRUE(back.delta);
  EXPECT_EQ(back.base, "epoch-3-step-1000");
  EXPECT_EQ(back.FilesOf("shard").size(), 2u);
  EXPECT_EQ(back.FilesOf("state")[0].checksum, 18446744073709551615ull);
  std::string flipped = text;
  flipped[text.find("deepfm")] = 'x';
  Status st = ParseManifest("dir/MANIFEST", flipped, &back);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("dir/MANIFEST: checksum mismatch"), std::string::npos) << st.message();
  st = ParseManifest("dir/MANIFEST", text.substr(0, text.size() / 2), &back);
  EXPECT_NE(st.message().find("dir/MANIFEST: truncated"), std::string::npos) << st.message();
}

// Numbers in a MANIFEST are whole and non-negative: a negative count (which `>>` would wrap to
// a huge unsigned value or keep as a negative epoch), trailing junk or a second number is
// refused naming the file and the line, even when the checksum line matches.
TEST_F(StoreTest, ManifestRefusesNegativeAndMalformedNumbers) {
  Manifest m;
  m.model = "mf";
  m.epochs_done = 2;
  m.step = 40;
  m.servers = 1;
  m.workers = 2;
  m.seed = 7;
  m.files = {{"shard", "server-0.shard", 99}};
  const std::string good = FormatManifest(m);
  Manifest back;
  ASSERT_TRUE(ParseManifest("M", good, &back).ok());
  // Rewrites line `key ...` to `replacement` and re-signs the file (crc32 of the body).
  auto with = [&](const std::string& key, const std::string& replacement) {
    std::string body = good.substr(0, good.rfind("crc32 "));
    const size_t at = body.find("\n" + key + " ") + 1;
    EXPECT_NE(at, std::string::npos + 1) << key;
    body.replace(at, body.find('\n', at) - at, replacement);
    return body + "crc32 " + std::to_string(Crc32(body)) + "\n";
  };
  ASSERT_TRUE(ParseManifest("M", with("epoch", "epoch 2"), &back).ok());  // the control: re-signing works
  for (const auto& [key, bad] : std::vector<std::pair<std::string, std::string>>{
           {"epoch", "epoch -1"}, {"step", "step -40"}, {"workers", "workers -2"}, {"servers", "servers 1x"},
           {"seed", "seed -7"}, {"shard", "shard server-0.shard -99"}, {"step", "step 40 41"},
           {"epoch", "epoch 99999999999"}}) {
    Status st = ParseManifest("dir/MANIFEST", with(key, bad), &back);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << bad;
    EXPECT_NE(st.message().find("dir/MANIFEST:"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("malformed line '" + bad + "'"), std::string::npos) << st.message();
  }
}

TEST_F(StoreTest, NamesOrderMidEpochCutsBetweenEpochBoundaries) {
  EXPECT_EQ(CheckpointStore::Name(2, 0, 500), "epoch-2");
  EXPECT_EQ(CheckpointStore::Name(2, 3, 700), "epoch-3-step-700");
  CheckpointStore store(dir_);
  for (const char* n : {"epoch-3", "epoch-3-step-700", "epoch-2", "epoch-3-step-90", "epoch-10-step-5", "epoch-9"}) Add(store, n, "");
  std::filesystem::create_directory(dir_ + "/epoch-11");  // incomplete: no MANIFEST
  EXPECT_EQ(store.Complete(), (std::vector<std::string>{"epoch-2", "epoch-3-step-90", "epoch-3-step-700", "epoch-3", "epoch-9",
                                                        "epoch-10-step-5"}));
}

TEST_F(StoreTest, ChainsAndPruningKeepEveryBaseAKeptCheckpointNeeds) {
  CheckpointStore store(dir_);
  Add(store, "epoch-1", "");
  Add(store, "epoch-2", "epoch-1");
  Add(store, "epoch-3", "epoch-2");
  Add(store, "epoch-4", "");
  Add(store, "epoch-5", "epoch-4");
  std::vector<std::string> names;
  std::vector<Manifest> manifests;
  ASSERT_TRUE(store.Chain("epoch-3", &names, &manifests).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"epoch-1", "epoch-2", "epoch-3"}));
  EXPECT_FALSE(manifests[0].delta);

  store.Prune(3);  // keeps 3, 4, 5 and 3's bases 1 and 2
  EXPECT_EQ(store.Complete().size(), 5u);
  store.Prune(1);  // keeps 5 and its base 4
  EXPECT_EQ(store.Complete(), (std::vector<std::string>{"epoch-4", "epoch-5"}));
  EXPECT_FALSE(Exists("epoch-1/server-0.shard"));
  EXPECT_FALSE(Exists("epoch-2"));

  std::filesystem::remove(dir_ + "/epoch-4/MANIFEST");
  Status st = store.Chain("epoch-5", &names, &manifests);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("epoch-4/MANIFEST: missing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("epoch-5 is a delta that needs it"), std::string::npos) << st.message();
}

TEST_F(StoreTest, PruningKeepsAlsoKeepAndItsChain) {
  // Early stopping's best epoch (epoch-3, a delta of 2 of 1) survives --keep_checkpoints=1.
  CheckpointStore store(dir_);
  Add(store, "epoch-1", "");
  Add(store, "epoch-2", "epoch-1");
  Add(store, "epoch-3", "epoch-2");
  Add(store, "epoch-4", "");
  Add(store, "epoch-5", "epoch-4");
  Add(store, "epoch-6", "");
  store.Prune(1, "epoch-3");
  EXPECT_EQ(store.Complete(), (std::vector<std::string>{"epoch-1", "epoch-2", "epoch-3", "epoch-6"}));
  store.Prune(1, "epoch-missing");  // a name that is not there protects nothing
  EXPECT_EQ(store.Complete(), (std::vector<std::string>{"epoch-6"}));
}

TEST_F(StoreTest, ALoopingDeltaChainIsRefusedNamingIt) {
  const CheckpointStore store(dir_);
  Add(store, "epoch-1", "epoch-2");  // a corrupt pair naming each other as base
  Add(store, "epoch-2", "epoch-1");
  std::vector<std::string> names;
  std::vector<Manifest> manifests;
  Status st = store.Chain("epoch-2", &names, &manifests);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("epoch-2/MANIFEST: its delta chain loops back to"), std::string::npos) << st.message();
}

TEST_F(StoreTest, CheckedFilesDetectTruncationFlipsAndForeignFiles) {
  const std::string path = dir_ + "/worker-0.position";
  uint64_t sum = 0;
  ASSERT_TRUE(WriteCheckedFile(path, "some position bytes", &sum).ok());
  EXPECT_FALSE(Exists("worker-0.position.tmp"));
  std::string back;
  ASSERT_TRUE(ReadCheckedFile(path, &back, &sum).ok());
  EXPECT_EQ(back, "some position bytes");
  const uint64_t other = sum + 1;
  EXPECT_NE(ReadCheckedFile(path, &back, &other).message().find("differs from the MANIFEST"), std::string::npos);
  std::filesystem::resize_file(path, 10);
  EXPECT_NE(ReadCheckedFile(path, &back).message().find(path + ": truncated"), std::string::npos);
  ASSERT_TRUE(WriteCheckedFile(path, "some position bytes", &sum).ok());
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  EXPECT_NE(ReadCheckedFile(path, &back).message().find(path + ": checksum mismatch"), std::string::npos);
  EXPECT_NE(ReadCheckedFile(dir_ + "/none", &back).message().find("none: missing"), std::string::npos);
}

}  // namespace
}  // namespace embark
