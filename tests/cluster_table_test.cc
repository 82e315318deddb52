// Tests of core/cluster.h: the positional rank -> role rule, the cluster shape check, the
// human-readable rank descriptions used in every error message, and the Cereal encoding of
// the node table and of a registration (round trip; garbage and truncation give Corruption).
#include "core/cluster.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

// Checks that `text` contains `part`, printing both on failure.
#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

// A table of 1 scheduler, 2 servers and 3 workers on host "vm", pids 4240 + rank.
ClusterTable SampleTable() {
  ClusterTable t;
  t.num_servers = 2;
  t.num_workers = 3;
  for (int rank = 0; rank < 6; ++rank) {
    NodeInfo n;
    n.rank = rank;
    n.role = RoleOfRank(rank, t.num_servers, &n.role_index);
    n.endpoint = "tcp://127.0.0.1:" + std::to_string(40000 + rank);
    n.host = "vm";
    n.pid = 4240 + rank;
    n.config_hash = 0xfedcba9876543210ULL;
    n.boot_id = "0b4e1c2a-5d6f-4a3b-9c8d-7e6f5a4b3c2d";
    n.net_ns = rank < 3 ? "net:[4026531840]" : "net:[4026532301]";
    t.nodes.push_back(n);
  }
  t.shard_map = std::string("EMBSHMAP\0\x01\xff binary", 19);
  return t;
}

TEST(ClusterTableTest, RoleOfRankFollowsPositions) {
  int index = -1;
  EXPECT_EQ(RoleOfRank(0, 2, &index), Role::kScheduler);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(RoleOfRank(1, 2, &index), Role::kServer);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(RoleOfRank(2, 2, &index), Role::kServer);
  EXPECT_EQ(index, 1);
  EXPECT_EQ(RoleOfRank(3, 2, &index), Role::kWorker);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(RoleOfRank(7, 2, &index), Role::kWorker);
  EXPECT_EQ(index, 4);
  EXPECT_EQ(RoleOfRank(1, 1, &index), Role::kServer);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(RoleOfRank(2, 1, &index), Role::kWorker);
  EXPECT_EQ(index, 0);
  EXPECT_EQ(RoleOfRank(5, 3), Role::kWorker);  // role_index is optional
}

TEST(ClusterTableTest, ServerAndWorkerRanksInvertRoleOfRank) {
  ClusterTable t = SampleTable();
  for (int s = 0; s < t.num_servers; ++s) {
    int index = -1;
    EXPECT_EQ(RoleOfRank(t.ServerRank(s), t.num_servers, &index), Role::kServer);
    EXPECT_EQ(index, s);
  }
  for (int w = 0; w < t.num_workers; ++w) {
    int index = -1;
    EXPECT_EQ(RoleOfRank(t.WorkerRank(w), t.num_servers, &index), Role::kWorker);
    EXPECT_EQ(index, w);
  }
  EXPECT_EQ(t.ServerRank(0), 1);
  EXPECT_EQ(t.WorkerRank(0), 3);
  EXPECT_EQ(t.WorkerRank(2), 5);
}

TEST(ClusterTableTest, CheckClusterShapeNamesTheNumbers) {
  EXPECT_TRUE(CheckClusterShape(3, 1).ok());
  EXPECT_TRUE(CheckClusterShape(4, 2).ok());
  EXPECT_TRUE(CheckClusterShape(100, 10).ok());

  Status st = CheckClusterShape(3, 2);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_CONTAINS(st.message(), "3 ranks");
  EXPECT_CONTAINS(st.message(), "at least 4");
  EXPECT_CONTAINS(st.message(), "2 servers");

  st = CheckClusterShape(2, 1);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "2 ranks");
  EXPECT_CONTAINS(st.message(), "at least 3");

  st = CheckClusterShape(5, 0);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "--num_servers");
  EXPECT_CONTAINS(st.message(), "got 0");
  st = CheckClusterShape(5, -2);
  EXPECT_CONTAINS(st.message(), "got -2");
}

TEST(ClusterTableTest, DescribeNamesRoleHostPidAndEndpoint) {
  const ClusterTable t = SampleTable();
  EXPECT_EQ(t.size(), 6);
  EXPECT_EQ(t.Describe(0), "rank 0 (scheduler, vm pid 4240, tcp://127.0.0.1:40000)");
  EXPECT_EQ(t.Describe(2), "rank 2 (server 1, vm pid 4242, tcp://127.0.0.1:40002)");
  EXPECT_EQ(t.Describe(4), "rank 4 (worker 1, vm pid 4244, tcp://127.0.0.1:40004)");
  EXPECT_EQ(t.Describe(6), "rank 6 (not in the job)");
  EXPECT_EQ(t.Describe(-1), "rank -1 (not in the job)");
  EXPECT_EQ(ClusterTable().Describe(0), "rank 0 (not in the job)");
}

TEST(ClusterTableTest, DescribeRankByPosition) {
  EXPECT_EQ(DescribeRankByPosition(0, 2), "rank 0 (scheduler)");
  EXPECT_EQ(DescribeRankByPosition(1, 2), "rank 1 (server 0)");
  EXPECT_EQ(DescribeRankByPosition(2, 2), "rank 2 (server 1)");
  EXPECT_EQ(DescribeRankByPosition(3, 2), "rank 3 (worker 0)");
  EXPECT_EQ(DescribeRankByPosition(9, 2), "rank 9 (worker 6)");
  EXPECT_STREQ(RoleName(Role::kScheduler), "scheduler");
  EXPECT_STREQ(RoleName(Role::kServer), "server");
  EXPECT_STREQ(RoleName(Role::kWorker), "worker");
}

void ExpectSameNode(const NodeInfo& a, const NodeInfo& b) {
  EXPECT_EQ(a.rank, b.rank);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.role_index, b.role_index);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.config_hash, b.config_hash);
  EXPECT_EQ(a.boot_id, b.boot_id);
  EXPECT_EQ(a.net_ns, b.net_ns);
}

// Shared memory needs one host name, one boot and one network namespace: the multi-host
// harness runs its simulated hosts in network namespaces of one kernel (same name, same boot
// id), and those must talk over TCP.
TEST(ClusterTableTest, SameHostNeedsHostBootIdAndNetworkNamespace) {
  const ClusterTable t = SampleTable();  // ranks 0-2 in one namespace, 3-5 in another
  EXPECT_TRUE(SameHost(t.nodes[1], t.nodes[2]));
  EXPECT_TRUE(SameHost(t.nodes[3], t.nodes[5]));
  EXPECT_FALSE(SameHost(t.nodes[1], t.nodes[3]));
  EXPECT_FALSE(SameHost(t.nodes[5], t.nodes[2]));

  NodeInfo a = t.nodes[1], b = t.nodes[2];
  b.host = "other";
  EXPECT_FALSE(SameHost(a, b));
  b = t.nodes[2];
  b.boot_id = "1b4e1c2a-5d6f-4a3b-9c8d-7e6f5a4b3c2d";
  EXPECT_FALSE(SameHost(a, b));
  a.boot_id = b.boot_id = "";  // unknown boot id: never shared memory
  EXPECT_FALSE(SameHost(a, b));
}

TEST(ClusterTableTest, TableRoundTrip) {
  const ClusterTable t = SampleTable();
  const std::string bytes = SerializeTable(t);
  ClusterTable back;
  Status st = DeserializeTable(bytes, &back);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(back.num_servers, 2);
  EXPECT_EQ(back.num_workers, 3);
  EXPECT_EQ(back.shard_map, t.shard_map);
  ASSERT_EQ(back.nodes.size(), t.nodes.size());
  for (size_t i = 0; i < t.nodes.size(); ++i) ExpectSameNode(back.nodes[i], t.nodes[i]);
  EXPECT_EQ(back.Describe(5), t.Describe(5));
  // Encoding is deterministic.
  EXPECT_EQ(SerializeTable(back), bytes);
}

TEST(ClusterTableTest, NodeInfoRoundTrip) {
  NodeInfo n;
  n.rank = 12;
  n.role = Role::kServer;
  n.role_index = 11;
  n.endpoint = "tcp://10.0.0.7:5555";
  n.host = "node-7";
  n.pid = 99999;
  n.config_hash = 0x8000000000000001ULL;
  NodeInfo back;
  Status st = DeserializeNodeInfo(SerializeNodeInfo(n), &back);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ExpectSameNode(back, n);
}

TEST(ClusterTableTest, CountsThatDoNotMatchTheNodesAreCorruption) {
  ClusterTable t = SampleTable();
  t.nodes.pop_back();
  ClusterTable back;
  Status st = DeserializeTable(SerializeTable(t), &back);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "node table");
}

TEST(ClusterTableTest, EveryTruncationIsCorruption) {
  const std::string bytes = SerializeTable(SampleTable());
  for (size_t len = 0; len < bytes.size(); ++len) {
    ClusterTable back;
    Status st = DeserializeTable(bytes.substr(0, len), &back);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << "prefix of " << len << " bytes";
  }
  const std::string node = SerializeNodeInfo(SampleTable().nodes[3]);
  for (size_t len = 0; len < node.size(); ++len) {
    NodeInfo back;
    Status st = DeserializeNodeInfo(node.substr(0, len), &back);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << "prefix of " << len << " bytes";
    EXPECT_CONTAINS(st.message(), "registration");
  }
}

TEST(ClusterTableTest, GarbageBytesAreCorruptionNotACrash) {
  std::mt19937_64 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    ClusterTable table;
    Status st = DeserializeTable(junk, &table);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << "trial " << trial;
    EXPECT_CONTAINS(st.message(), "node table");
  }
  // Text that happens to reach the port (an HTTP probe).
  ClusterTable table;
  EXPECT_EQ(DeserializeTable("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &table).code(), Status::Code::kCorruption);
}

TEST(ClusterTableTest, AbsurdNodeCountIsCorruption) {
  // The node vector's length prefix (after two int32 counts) claims 2^64 - 1 entries.
  std::string bytes = SerializeTable(SampleTable());
  ASSERT_GT(bytes.size(), 16u);
  const uint64_t absurd = ~uint64_t{0};
  std::memcpy(&bytes[8], &absurd, sizeof(absurd));
  ClusterTable back;
  Status st = DeserializeTable(bytes, &back);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace embark
