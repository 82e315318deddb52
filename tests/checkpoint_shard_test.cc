#include "ps/checkpoint_shard.h"
#include "tests/test_files.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace embark {
namespace {

const std::vector<std::string> kNames = {"user", "bias"};
const std::vector<bool> kDense = {false, true};
const std::vector<uint32_t> kFloats = {3, 2};

std::string Write(const std::string& name, uint64_t* checksum) {
  const std::string path = ::testing::TempDir() + "/" + name;
  const float a[3] = {1, 2, 3}, b[3] = {-1, 0.5f, 7}, bias[2] = {0.25f, 9};
  EXPECT_TRUE(WriteShardFile(path, kNames, kDense, kFloats, [&](const std::function<void(const ShardRow&)>& emit) {
                emit({0, 42, a, 3});
                emit({0, ~uint64_t{0}, b, 3});
                emit({1, 0, bias, 2});
              }, checksum).ok());
  return path;
}

std::map<std::pair<uint32_t, uint64_t>, std::vector<float>> ReadAll(const std::string& path, Status* st) {
  std::map<std::pair<uint32_t, uint64_t>, std::vector<float>> rows;
  *st = ReadShardFile(path, kNames, kFloats, [&](const ShardRow& r) {
    rows[{r.table, r.key}] = std::vector<float>(r.row, r.row + r.floats);
    return Status::OK();
  });
  return rows;
}

TEST(CheckpointShardTest, RoundTripKeepsEveryRowExactly) {
  uint64_t checksum = 0;
  const std::string path = Write("round.shard", &checksum);
  EXPECT_NE(checksum, 0u);
  std::ifstream tmp(path + ".tmp");
  EXPECT_FALSE(tmp.good()) << "the temp file must be renamed away";
  Status st;
  auto rows = ReadAll(path, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ((rows[{0, 42}]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ((rows[{0, ~uint64_t{0}}]), (std::vector<float>{-1, 0.5f, 7}));
  EXPECT_EQ((rows[{1, 0}]), (std::vector<float>{0.25f, 9}));
}

TEST(CheckpointShardTest, FlippedByteIsRefusedNamingTheFile) {
  uint64_t checksum;
  const std::string path = Write("flip.shard", &checksum);
  std::string bytes = Slurp(path);
  bytes[bytes.size() / 2] ^= 0x10;
  Spit(path, bytes);
  Status st;
  ReadAll(path, &st);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("flip.shard: checksum mismatch"), std::string::npos) << st.message();
}

TEST(CheckpointShardTest, TruncatedFilesAreRefused) {
  uint64_t checksum;
  const std::string path = Write("trunc.shard", &checksum);
  const std::string bytes = Slurp(path);
  for (size_t keep : {size_t{0}, size_t{5}, size_t{20}, bytes.size() - 9, bytes.size() - 1}) {
    Spit(path, bytes.substr(0, keep));
    Status st;
    ReadAll(path, &st);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << "kept " << keep << " bytes";
    EXPECT_NE(st.message().find("trunc.shard"), std::string::npos);
  }
}

TEST(CheckpointShardTest, MissingFileAndOtherModelAreRefused) {
  Status st;
  ReadAll(::testing::TempDir() + "/no-such.shard", &st);
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  uint64_t checksum;
  const std::string path = Write("other.shard", &checksum);
  st = ReadShardFile(path, {"item", "bias"}, kFloats, [](const ShardRow&) { return Status::OK(); });
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("another model"), std::string::npos) << st.message();
  st = ReadShardFile(path, kNames, {5, 2}, [](const ShardRow&) { return Status::OK(); });
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  st = ReadShardFile(path, {"user"}, {3}, [](const ShardRow&) { return Status::OK(); });
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace embark
