// Tests of core/bounded_archive.h: it reads what cereal::BinaryOutputArchive writes, and a
// length prefix larger than the bytes left is an error before anything is allocated (the
// plain BinaryInputArchive resizes to it first: under AddressSanitizer that is a fatal
// "requested allocation size exceeds maximum supported size").
#include "core/bounded_archive.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <gtest/gtest.h>

#include "core/cluster.h"
#include "worker/train_protocol.h"

namespace embark {
namespace {

TEST(BoundedArchive, RoundTripsWhatCerealWrites) {
  EpochDone done;
  done.epoch = 3;
  done.clock = 77;
  done.examples = 1234;
  done.loss_sum = 0.5;
  done.bad_lines = {{"bad_label", 2}, {"too_long", 9}};
  done.seconds = 1.25;
  EpochDone back;
  ASSERT_TRUE(DecodeMsg(EncodeMsg(done), &back));
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.clock, 77u);
  EXPECT_EQ(back.examples, 1234u);
  EXPECT_EQ(back.bad_lines, done.bad_lines);
  EXPECT_EQ(back.seconds, 1.25);

  EvalReport eval;
  eval.epoch = 1;
  eval.accumulator = std::string("acc\0bytes", 9);
  eval.predictions = {0.25f, -1.5f, 3.0f};
  EvalReport eval_back;
  ASSERT_TRUE(DecodeMsg(EncodeMsg(eval), &eval_back));
  EXPECT_EQ(eval_back.accumulator, eval.accumulator);
  EXPECT_EQ(eval_back.predictions, eval.predictions);
}

// Overwrites the 8 bytes at `at` with `value`.
std::string WithU64At(std::string bytes, size_t at, uint64_t value) {
  std::memcpy(&bytes[at], &value, sizeof(value));
  return bytes;
}

TEST(BoundedArchive, AHugeVectorLengthIsRefusedNamingThePrefix) {
  EvalReport eval;
  eval.accumulator = "abc";
  eval.predictions = {1.0f, 2.0f};
  const std::string bytes = EncodeMsg(eval);
  // int32 epoch, then the string's uint64 length and 3 bytes, then the vector's length.
  const size_t vector_length_at = 4 + 8 + 3;
  for (uint64_t absurd : {uint64_t{1} << 40, uint64_t{0x264cdd0521b23300}, ~uint64_t{0}}) {
    EvalReport back;
    std::string error;
    EXPECT_FALSE(DecodeBounded(WithU64At(bytes, vector_length_at, absurd), &back, &error));
    EXPECT_NE(error.find("length prefix " + std::to_string(absurd) + " exceeds the 8 bytes left"), std::string::npos) << error;
  }
}

TEST(BoundedArchive, AHugeStringLengthIsRefused) {
  EvalReport eval;
  eval.accumulator = "abc";
  std::string error;
  EvalReport back;
  EXPECT_FALSE(DecodeBounded(WithU64At(EncodeMsg(eval), 4, uint64_t{1} << 50), &back, &error));
  EXPECT_NE(error.find("length prefix"), std::string::npos) << error;
}

TEST(BoundedArchive, ShortInputIsAnErrorNotARead) {
  ClockReport report;
  report.clock = 5;
  const std::string bytes = EncodeMsg(report);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    ClockReport back;
    std::string error;
    EXPECT_FALSE(DecodeBounded(bytes.substr(0, cut), &back, &error)) << "cut at " << cut;
    EXPECT_NE(error.find("input ends early"), std::string::npos) << error;
  }
}

// Every 8-byte window of a node table set to a huge value: a clean Corruption each time
// (under AddressSanitizer the unbounded decoder aborts on the first length prefix it meets).
TEST(BoundedArchive, EveryWindowOfANodeTableSetHugeIsCorruption) {
  ClusterTable t;
  t.num_servers = 1;
  t.num_workers = 1;
  for (int rank = 0; rank < 3; ++rank) {
    NodeInfo n;
    n.rank = rank;
    n.role = RoleOfRank(rank, 1, &n.role_index);
    n.endpoint = "tcp://127.0.0.1:" + std::to_string(41000 + rank);
    n.host = "vm";
    n.boot_id = "boot";
    n.net_ns = "net:[1]";
    t.nodes.push_back(n);
  }
  const std::string bytes = SerializeTable(t);
  int refused_by_prefix = 0;
  for (size_t at = 0; at + 8 <= bytes.size(); ++at) {
    ClusterTable back;
    Status st = DeserializeTable(WithU64At(bytes, at, uint64_t{0x264cdd0521b23300}), &back);
    if (st.ok()) continue;  // a window inside a pid or hash can still decode to a valid table
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << "window at " << at;
    refused_by_prefix += st.message().find("length prefix") != std::string::npos;
  }
  // The node vector and its 3 x 4 strings plus the shard map: each prefix is hit by a window.
  EXPECT_GT(refused_by_prefix, 13);
}

}  // namespace
}  // namespace embark
