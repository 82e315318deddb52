// Tests of the checkpoint files' checksums: new files carry zlib's CRC-32 under a new version
// (shard format 2, checked-file footer EMBKSUM2, MANIFEST "crc32" line) and files written the
// old way (FNV-1a: tests/fixtures/old_format, made by the previous code) still read, while a
// flipped byte is refused in either version.
#include <gtest/gtest.h>

#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/checked_file.h"
#include "core/crc32.h"
#include "core/file_env.h"
#include "core/hash.h"
#include "ps/checkpoint_shard.h"
#include "checkpoint/checkpoint_store.h"
#include "tests/test_files.h"

namespace embark {
namespace {

std::string OldCheckpoint() { return std::string(EMBARK_TEST_FIXTURES) + "/old_format/ck_mf/epoch-1"; }

TEST(ChecksumFormat, Crc32IsZlibsOnLargeAndSplitInputs) {
  std::string data(3 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + (i >> 9));
  const uint32_t want = static_cast<uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
  EXPECT_EQ(Crc32(data), want);
  EXPECT_EQ(Crc32(Crc32(0, data.data(), 1000), data.data() + 1000, data.size() - 1000), want);
}

// Three tables' rows for WriteShardFile.
void WriteShard(const std::string& path, uint64_t* checksum) {
  const float row[3] = {1.5f, -2, 0.25f};
  ASSERT_TRUE(WriteShardFile(path, {"user", "item", "global"}, {false, false, true}, {3, 3, 1},
                             [&](const std::function<void(const ShardRow&)>& emit) {
                               emit({0, 7, row, 3});
                               emit({1, 9, row, 3});
                               emit({2, 0, row, 1});
                             },
                             checksum)
                  .ok());
}

TEST(ChecksumFormat, NewShardsAreVersion2WithTheCrcOfTheirBytes) {
  const std::string dir = FreshDir("shard");
  uint64_t checksum = 0;
  WriteShard(dir + "/s.shard", &checksum);
  const std::string bytes = Slurp(dir + "/s.shard");
  uint32_t version = 0;
  std::memcpy(&version, bytes.data() + 8, 4);
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(checksum, uint64_t{Crc32(std::string_view(bytes.data(), bytes.size() - 8))});
  size_t rows = 0;
  auto count = [&](const ShardRow&) {
    ++rows;
    return Status::OK();
  };
  ASSERT_TRUE(ReadShardFile(dir + "/s.shard", {"user", "item", "global"}, {3, 3, 1}, count, &checksum).ok());
  EXPECT_EQ(rows, 3u);
  std::string bad = bytes;
  bad[bytes.size() / 2] ^= 0x10;
  Spit(dir + "/bad.shard", bad);
  Status st = ReadShardFile(dir + "/bad.shard", {"user", "item", "global"}, {3, 3, 1}, count);
  EXPECT_NE(st.message().find("checksum mismatch"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("bad.shard"), std::string::npos);
  std::string future = bytes;
  future[8] = 9;
  Spit(dir + "/future.shard", future);
  st = ReadShardFile(dir + "/future.shard", {"user", "item", "global"}, {3, 3, 1}, count);
  EXPECT_NE(st.message().find("version 9"), std::string::npos) << st.ToString();
}

// The fixture checkpoint was written with FNV-1a everywhere: its MANIFEST, shard and state read.
TEST(ChecksumFormat, CheckpointsWrittenWithFnvStillRead) {
  CheckpointStore store(std::string(EMBARK_TEST_FIXTURES) + "/old_format/ck_mf");
  Manifest m;
  Status st = store.ReadManifest("epoch-1", &m);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(m.model, "mf");
  const std::string manifest_text = Slurp(OldCheckpoint() + "/MANIFEST");
  EXPECT_NE(manifest_text.find("\nchecksum "), std::string::npos) << "the fixture is not an old MANIFEST";
  ASSERT_EQ(m.FilesOf("shard").size(), 1u);
  const std::string shard = Slurp(OldCheckpoint() + "/server-0.shard");
  uint32_t version = 0;
  std::memcpy(&version, shard.data() + 8, 4);
  EXPECT_EQ(version, 1u);
  const uint64_t want = m.FilesOf("shard")[0].checksum;
  EXPECT_EQ(want, HashBytes(std::string_view(shard.data(), shard.size() - 8)));
  size_t rows = 0;
  // The shard's tables as MF (K = 2) with AdaGrad wrote them: 3 weights + 3 state floats.
  st = ReadShardFile(OldCheckpoint() + "/server-0.shard", {"user", "item", "global"}, {6, 6, 2},
                     [&](const ShardRow&) {
                       ++rows;
                       return Status::OK();
                     },
                     &want);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_GT(rows, 20u);
  std::string payload;
  ASSERT_EQ(m.FilesOf("state").size(), 1u);
  const uint64_t state_sum = m.FilesOf("state")[0].checksum;
  st = ReadCheckedFile(OldCheckpoint() + "/scheduler.state", &payload, &state_sum);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(payload.empty());

  // A modified old file is still refused.
  const std::string dir = FreshDir("old_bad");
  std::string bad = shard;
  bad[40] ^= 1;
  Spit(dir + "/server-0.shard", bad);
  st = ReadShardFile(dir + "/server-0.shard", {"user", "item", "global"}, {6, 6, 2},
                     [](const ShardRow&) { return Status::OK(); });
  EXPECT_NE(st.message().find("checksum mismatch"), std::string::npos) << st.ToString();
  std::string bad_manifest = manifest_text;
  bad_manifest[manifest_text.find("epoch 1") + 6] = '2';
  Spit(dir + "/MANIFEST", bad_manifest);
  Manifest parsed;
  st = ParseManifest(dir + "/MANIFEST", bad_manifest, &parsed);
  EXPECT_NE(st.message().find("checksum mismatch"), std::string::npos) << st.ToString();
}

TEST(ChecksumFormat, NewManifestsAndCheckedFilesCarryACrc) {
  Manifest m;
  m.model = "fm";
  m.epochs_done = 3;
  m.servers = 1;
  m.workers = 1;
  m.files.push_back({"shard", "server-0.shard", 12345});
  const std::string text = FormatManifest(m);
  const size_t last = text.rfind("crc32 ");
  ASSERT_NE(last, std::string::npos) << text;
  EXPECT_EQ(std::strtoull(text.c_str() + last + 6, nullptr, 10), Crc32(std::string_view(text.data(), last)));
  Manifest back;
  Status st = ParseManifest("MANIFEST", text, &back);
  ASSERT_TRUE(st.ok()) << st.ToString() << "\n" << text;
  EXPECT_EQ(back.epochs_done, 3);
  std::string cut = text.substr(0, last);
  EXPECT_NE(ParseManifest("MANIFEST", cut, &back).message().find("no checksum line"), std::string::npos);
  std::string flipped = text;
  flipped[text.find("fm")] = 'g';
  EXPECT_NE(ParseManifest("MANIFEST", flipped, &back).message().find("checksum mismatch"), std::string::npos);

  const std::string dir = FreshDir("checked");
  uint64_t sum = 0;
  ASSERT_TRUE(WriteCheckedFile(dir + "/state", "payload bytes", &sum).ok());
  const std::string bytes = Slurp(dir + "/state");
  EXPECT_EQ(bytes.substr(bytes.size() - 16, 8), "EMBKSUM2");
  EXPECT_EQ(sum, uint64_t{Crc32("payload bytes")});
  std::string payload;
  ASSERT_TRUE(ReadCheckedFile(dir + "/state", &payload, &sum).ok());
  EXPECT_EQ(payload, "payload bytes");
  std::string bad = bytes;
  bad[2] ^= 4;
  Spit(dir + "/bad", bad);
  EXPECT_NE(ReadCheckedFile(dir + "/bad", &payload).message().find("checksum mismatch"), std::string::npos);
}

}  // namespace
}  // namespace embark
