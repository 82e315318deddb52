#include "core/control_plane.h"

#include <gtest/gtest.h>

namespace embark {
namespace {

ClusterTable ThreeRanks() {
  ClusterTable t;
  t.num_servers = 1;
  t.num_workers = 1;
  for (int r = 0; r < 3; ++r) {
    NodeInfo n;
    n.rank = r;
    n.role = RoleOfRank(r, 1, &n.role_index);
    t.nodes.push_back(n);
  }
  return t;
}

Message Control(MsgType type, int from, uint64_t aux = 0, const std::string& payload = "") {
  Message m;
  m.header = MakeHeader(type, from);
  m.header.aux = aux;
  m.peer = from;
  if (!payload.empty()) {
    m.frames.emplace_back(payload.data(), payload.size());
    m.header.num_frames = 1;
  }
  return m;
}

TEST(ControlPlaneTest, OnlyTheSchedulerSteersARank) {
  ControlPlane cp(nullptr, ThreeRanks(), 2, LivenessOptions{});
  // A worker or a stray peer cannot shut a rank down, release its barriers or abort it.
  EXPECT_TRUE(cp.Handle(Control(MsgType::kShutdown, 1)));
  EXPECT_FALSE(cp.shutdown_requested());
  EXPECT_TRUE(cp.Handle(Control(MsgType::kAbort, 1, 3, "forged")));  // must not exit the test
  EXPECT_TRUE(cp.Handle(Control(MsgType::kApp, 1, 7, "forged")));
  std::string payload;
  EXPECT_EQ(cp.WaitApp(7, &payload, 0).code(), Status::Code::kTimeout);
  // The scheduler can.
  EXPECT_TRUE(cp.Handle(Control(MsgType::kApp, 0, 7, "real")));
  ASSERT_TRUE(cp.WaitApp(7, &payload, 0).ok());
  EXPECT_EQ(payload, "real");
  EXPECT_TRUE(cp.Handle(Control(MsgType::kShutdown, 0)));
  EXPECT_TRUE(cp.shutdown_requested());
}

TEST(ControlPlaneTest, DataMessagesAreNotControl) {
  ControlPlane cp(nullptr, ThreeRanks(), 2, LivenessOptions{});
  EXPECT_FALSE(cp.Handle(Control(MsgType::kPullReply, 1)));
  EXPECT_FALSE(cp.Handle(Control(MsgType::kPushAck, 1)));
  EXPECT_FALSE(cp.Handle(Control(MsgType::kError, 1)));
}

TEST(ControlPlaneTest, AppMessagesQueuePerSubtypeInOrder) {
  ControlPlane cp(nullptr, ThreeRanks(), 2, LivenessOptions{});
  cp.Handle(Control(MsgType::kApp, 0, 1, "a"));
  cp.Handle(Control(MsgType::kApp, 0, 2, "x"));
  cp.Handle(Control(MsgType::kApp, 0, 1, "b"));
  std::string p;
  ASSERT_TRUE(cp.WaitApp(1, &p, 0).ok());
  EXPECT_EQ(p, "a");
  ASSERT_TRUE(cp.WaitApp(1, &p, 0).ok());
  EXPECT_EQ(p, "b");
  ASSERT_TRUE(cp.WaitApp(2, &p, 0).ok());
  EXPECT_EQ(p, "x");
  EXPECT_FALSE(cp.WaitApp(1, &p, 0.05).ok());
}

}  // namespace
}  // namespace embark
