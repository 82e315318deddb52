// Tests of the per-message cap (ServerOptions::max_request_bytes, ZMQ_MAXMSGSIZE on every
// Transport socket): a request over the cap gets an error reply naming the cap and nothing is
// applied; a frame over the socket limit costs the sender its connection, not the server its
// life; the server answers valid requests afterwards; and KVClient splits a request that
// would be over the cap, so legitimate traffic never meets it.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/control_plane.h"
#include "core/transport.h"
#include "ps/row_init.h"
#include "ps/server.h"
#include "worker/kv_client.h"

namespace embark {
namespace {

#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

constexpr uint64_t kSeed = 3;
constexpr uint64_t kCap = 1 << 20;  // 1 MiB per message

const Placement& OneTable() {
  static const Placement* placement = [] {
    TableConfig emb;
    emb.name = "emb";
    emb.dim = 4;
    emb.optimizer.kind = OptimizerKind::kSgd;
    emb.optimizer.lr = 1.0f;
    emb.init.kind = InitKind::kUniform;
    emb.init.scale = 0.5f;
    return new Placement(ShardMap::Balanced(1), {emb});
  }();
  return *placement;
}

std::vector<float> InitialRows(const std::vector<uint64_t>& keys) {
  const TableConfig& cfg = OneTable().table(0);
  std::vector<float> out(keys.size() * cfg.dim);
  for (size_t i = 0; i < keys.size(); ++i) InitRowWeights(kSeed, 0, keys[i], cfg.init, 4, out.data() + i * cfg.dim);
  return out;
}

std::vector<uint64_t> Keys(size_t n, uint64_t from = 1) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = from + i;
  return keys;
}

Message Request(MsgType type, const std::vector<uint64_t>& keys, const std::vector<float>* vals, int from) {
  Message m;
  m.header = MakeHeader(type, from, 77);
  m.header.num_keys = static_cast<uint32_t>(keys.size());
  m.header.val_len = 4;
  m.frames.emplace_back(keys.data(), keys.size() * sizeof(uint64_t));
  if (vals) m.frames.emplace_back(vals->data(), vals->size() * sizeof(float));
  m.header.num_frames = static_cast<uint32_t>(m.frames.size());
  m.peer = from;
  return m;
}

ServerOptions CappedOptions() {
  ServerOptions o;
  o.seed = kSeed;
  o.max_request_bytes = kCap;
  return o;
}

TEST(ServerLimits, RequestsOverTheCapAreRefusedNamingItAndApplyNothing) {
  Server server(nullptr, nullptr, OneTable(), 0, CappedOptions());
  MsgHeader reply;
  std::vector<zmq::message_t> frames;
  // A pull whose request fits (800 KB of keys) but whose reply (1.6 MB of rows) does not.
  const auto many = Keys(100000);
  Status st = server.Handle(Request(MsgType::kPull, many, nullptr, 2), &reply, &frames);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(reply.type, static_cast<uint16_t>(MsgType::kError));
  EXPECT_EQ(reply.request_id, 77u);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_CONTAINS(frames[0].to_string(), "the reply to a pull of 100000 keys of 4 floats is 1600000 bytes");
  EXPECT_CONTAINS(frames[0].to_string(), "over the cap of 1048576 bytes per message (--max_request_mb=1)");
  // A push of 50000 keys: 400 KB of keys plus 800 KB of gradients.
  const auto half = Keys(50000);
  const std::vector<float> grads(half.size() * 4, 1.0f);
  st = server.Handle(Request(MsgType::kPush, half, &grads, 2), &reply, &frames);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "a push of 50000 keys of 4 floats is 1200000 bytes, over the cap");
  // A frame over the cap, whatever the header says.
  Message odd = Request(MsgType::kPull, Keys(10), nullptr, 2);
  odd.frames[0] = zmq::message_t(kCap + 8);
  st = server.Handle(odd, &reply, &frames);
  EXPECT_CONTAINS(st.message(), "a frame of a pull is 1048584 bytes, over the cap");
  // Nothing was applied, and requests within the cap are served.
  const auto some = Keys(1000);
  st = server.Handle(Request(MsgType::kPull, some, nullptr, 2), &reply, &frames);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(frames.size(), 1u);
  const float* got = frames[0].data<float>();
  EXPECT_EQ(std::vector<float>(got, got + some.size() * 4), InitialRows(some));
  EXPECT_EQ(server.stats().rejected, 3u);
}

// A running server (its own sockets, loop and control plane) with two clients.
struct LiveServer {
  ClusterTable table;
  Transport scheduler{0, 5000, kCap};
  Transport server_transport{1, 5000, kCap};
  std::unique_ptr<ControlPlane> control;
  std::unique_ptr<Server> server;
  std::thread loop;
  std::string server_endpoint;

  LiveServer() {
    table.num_servers = 1;
    table.num_workers = 2;
    for (int r = 0; r < 4; ++r) {
      NodeInfo n;
      n.rank = r;
      n.role = RoleOfRank(r, 1, &n.role_index);
      table.nodes.push_back(n);
    }
    std::string sched_endpoint;
    EXPECT_TRUE(scheduler.Bind("127.0.0.1", 0, &sched_endpoint).ok());
    EXPECT_TRUE(server_transport.Bind("127.0.0.1", 0, &server_endpoint).ok());
    EXPECT_TRUE(server_transport.Connect(0, sched_endpoint).ok());
    EXPECT_TRUE(scheduler.Connect(1, server_endpoint).ok());
    control = std::make_unique<ControlPlane>(&server_transport, table, 1, LivenessOptions{});
    server = std::make_unique<Server>(&server_transport, control.get(), OneTable(), 0, CappedOptions());
  }
  // Connects the server to a worker's inbox (before Start: Connect is the loop thread's).
  void AddWorker(int rank, const std::string& endpoint) { EXPECT_TRUE(server_transport.Connect(rank, endpoint).ok()); }
  void Start() {
    loop = std::thread([this] { EXPECT_TRUE(server->Run().ok()); });
  }
  // Shuts the server down and waits for its loop: only then may the test read server->stats()
  // (the loop thread writes them; ThreadSanitizer reported the read of a running server's).
  void Stop() {
    if (stopped) return;
    stopped = true;
    EXPECT_TRUE(scheduler.Send(1, MakeHeader(MsgType::kShutdown, 0)).ok());
    if (loop.joinable()) loop.join();
  }
  ~LiveServer() { Stop(); }
  bool stopped = false;
};

// Waits up to 10 s for the next message on `t`, skipping other events; false on timeout.
bool Receive(Transport& t, Message* msg) {
  for (int i = 0; i < 100; ++i) {
    if (t.Poll(100, msg).event == Transport::Event::kMessage) return true;
  }
  return false;
}

Status SendRequest(Transport& t, const Message& m) {
  std::vector<zmq::message_t> frames;
  for (const auto& f : m.frames) frames.emplace_back(f.data(), f.size());
  return t.Send(1, m.header, &frames);
}

TEST(ServerLimits, ALiveServerAnswersOversizedRequestsWithErrorsAndKeepsServing) {
  LiveServer live;
  Transport worker(2, 5000, kCap);
  std::string worker_endpoint;
  ASSERT_TRUE(worker.Bind("127.0.0.1", 0, &worker_endpoint).ok());
  ASSERT_TRUE(worker.Connect(1, live.server_endpoint).ok());
  live.AddWorker(2, worker_endpoint);
  live.Start();

  // An oversized pull: an error reply naming the cap.
  const auto many = Keys(100000);
  ASSERT_TRUE(SendRequest(worker, Request(MsgType::kPull, many, nullptr, 2)).ok());
  Message reply;
  ASSERT_TRUE(Receive(worker, &reply)) << "no reply to the oversized pull within 10 s";
  ASSERT_EQ(reply.type(), MsgType::kError);
  ASSERT_EQ(reply.frames.size(), 1u);
  EXPECT_CONTAINS(reply.FrameString(0), "over the cap of 1048576 bytes per message");

  // A frame just over the cap still arrives and is refused with the reason.
  const std::vector<float> grads(kCap / 4 + 2, 0.5f);  // 1 MiB + 8 bytes
  Message push = Request(MsgType::kPush, Keys(grads.size() / 4), &grads, 2);
  ASSERT_TRUE(SendRequest(worker, push).ok());
  ASSERT_TRUE(Receive(worker, &reply));
  ASSERT_EQ(reply.type(), MsgType::kError);
  EXPECT_CONTAINS(reply.FrameString(0), "over the cap of 1048576 bytes");

  // A frame over the socket limit (cap + 1 MiB): ZeroMQ drops the connection before buffering
  // it, so no reply comes; the worker sees the disconnect.
  const std::vector<float> huge(3 * kCap / 4, 0.5f);  // 3 MiB
  ASSERT_TRUE(SendRequest(worker, Request(MsgType::kPush, Keys(huge.size() / 4), &huge, 2)).ok());
  bool disconnected = false;
  for (int i = 0; i < 100 && !disconnected; ++i) {
    auto r = worker.Poll(100, &reply);
    ASSERT_NE(r.event, Transport::Event::kMessage) << "a reply to a frame over the socket limit";
    disconnected = r.event == Transport::Event::kPeerDisconnected;
  }
  ASSERT_TRUE(disconnected) << "the oversized frame did not cost the sender its connection within 10 s";
  // Then a valid pull: the DEALER reconnects, and the server (still running) answers it.
  const auto some = Keys(500, 7);
  ASSERT_TRUE(SendRequest(worker, Request(MsgType::kPull, some, nullptr, 2)).ok());
  ASSERT_TRUE(Receive(worker, &reply)) << "the server did not answer after the oversized frame";
  ASSERT_EQ(reply.type(), MsgType::kPullReply) << (reply.frames.empty() ? "" : reply.FrameString(0));
  ASSERT_EQ(reply.frames.size(), 1u);
  const float* got = reply.frames[0].data<float>();
  EXPECT_EQ(std::vector<float>(got, got + some.size() * 4), InitialRows(some));
  live.Stop();
  EXPECT_EQ(live.server->stats().rejected, 2u);
}

TEST(ServerLimits, KVClientSplitsRequestsBelowTheCap) {
  LiveServer live;
  Transport worker(3, 5000, kCap);
  std::string worker_endpoint;
  ASSERT_TRUE(worker.Bind("127.0.0.1", 0, &worker_endpoint).ok());
  ASSERT_TRUE(worker.Connect(1, live.server_endpoint).ok());
  live.AddWorker(3, worker_endpoint);
  live.Start();
  ControlPlane control(&worker, live.table, 3, LivenessOptions{});
  // max_message_bytes 0 ("one message per server"), but 200000 rows are 3.2 MB of reply.
  KVClient kv(&worker, &control, OneTable(), 10, 0, kCap);
  kv.Start();
  const auto keys = Keys(200000, 5);
  PreparedKeys prepared;
  kv.Prepare(0, keys.data(), keys.size(), &prepared);
  std::vector<float> rows(prepared.size() * 4);
  const int ts = kv.Pull(prepared, rows.data());
  Status st = kv.Wait(ts);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows, InitialRows(prepared.keys));
  kv.Stop();
  live.Stop();
  EXPECT_EQ(live.server->stats().rejected, 0u);
  EXPECT_GE(live.server->stats().requests, 7u);  // 3.2 MB in chunks of at most 512 KiB
}

}  // namespace
}  // namespace embark
