// Regression tests for what the fuzz targets (fuzz/*_fuzz.cc) found: each test feeds the input
// that crashed (or reached undefined behaviour) to the same entry point, through the normal
// API, and checks the fixed behaviour. The undefined behaviour ones fail under the
// AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/) without their fix.
#include <cstdint>
#include <limits>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/cluster.h"
#include "ps/checkpoint_shard.h"
#include "serving/requests.h"

namespace embark {
namespace {

#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

// fuzz_checkpoint_shard: a row holding 0 floats made the loader memcpy from the row's empty
// vector (data() == nullptr), undefined behaviour UBSan reports. The row is legal (a row may
// hold fewer floats than the table's width) and loads as an empty row.
TEST(FuzzRegression, ShardRowOfZeroFloatsLoads) {
  const std::string path = ::testing::TempDir() + "/fuzz_zero_floats.shard";
  const float one[2] = {1, 2};
  uint64_t checksum = 0;
  ASSERT_TRUE(WriteShardFile(path, {"t"}, {false}, {2}, [&](const std::function<void(const ShardRow&)>& emit) {
                emit({0, 5, one, 0});
                emit({0, 6, one, 2});
              }, &checksum).ok());
  std::vector<std::pair<uint64_t, uint32_t>> rows;
  const Status st = ReadShardFile(path, {"t"}, {2}, [&](const ShardRow& r) {
    rows.emplace_back(r.key, r.floats);
    return Status::OK();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows, (std::vector<std::pair<uint64_t, uint32_t>>{{5, 0}, {6, 2}}));
  std::remove(path.c_str());
}

// fuzz_requests: {"user_features": [[6, "u1i"]]} with max_k 1 was accepted with k = 10: the
// default k was not held to max_k, so a client could get more results than the server allows
// by leaving k out. The default is now min(10, max_k); an explicit k is checked as before.
TEST(FuzzRegression, TopKDefaultKStaysWithinMaxK) {
  TopKRequest r;
  ASSERT_TRUE(ParseTopKRequest(R"({"user_features": [[6, "u1i"]]})", 1, &r).ok());
  EXPECT_EQ(r.k, 1u);
  ASSERT_TRUE(ParseTopKRequest(R"({"user": "u1"})", 5, &r).ok());
  EXPECT_EQ(r.k, 5u);
  ASSERT_TRUE(ParseTopKRequest(R"({"user": "u1"})", 1000, &r).ok());
  EXPECT_EQ(r.k, 10u);
  const Status st = ParseTopKRequest(R"({"user": "u1", "k": 6})", 5, &r);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "out of range [1, 5]");
}

// fuzz_wire: a node table (kNodeTable payload) with num_servers and num_workers near INT_MAX
// overflowed `1 + num_servers + num_workers` (signed overflow, undefined). Where the sum
// wrapped around to the number of nodes it even passed the size check: a table of 2 nodes
// claiming INT_MAX servers and INT_MIN + 2 workers was accepted. Negative counts are refused
// and the sum is taken in 64 bits.
TEST(FuzzRegression, NodeTableCountsCannotOverflowIntoAValidSize) {
  ClusterTable wrapped;
  wrapped.num_servers = std::numeric_limits<int>::max();
  wrapped.num_workers = std::numeric_limits<int>::min() + 2;  // 1 + max + (min + 2) wraps to 2
  wrapped.nodes.resize(2);
  ClusterTable out;
  Status st = DeserializeTable(SerializeTable(wrapped), &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "does not match its server and worker counts");
  ClusterTable huge = wrapped;
  huge.num_workers = std::numeric_limits<int>::max();
  EXPECT_EQ(DeserializeTable(SerializeTable(huge), &out).code(), Status::Code::kCorruption);
  ClusterTable good;
  good.num_servers = 1;
  good.num_workers = 1;
  good.nodes.resize(3);
  EXPECT_TRUE(DeserializeTable(SerializeTable(good), &out).ok());
}

}  // namespace
}  // namespace embark
