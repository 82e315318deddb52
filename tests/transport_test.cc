// Tests of core/transport.h: several Transport objects in one process talking over TCP on
// 127.0.0.1 (inbox ROUTER + per-peer DEALER outboxes), zero-copy frames, rejection of
// malformed or spoofed messages from raw ZeroMQ sockets, Poll timeouts, disconnect detection
// and errors for unknown peers.
#include "core/transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

// Checks that `text` contains `part`, printing both on failure.
#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

using Event = Transport::Event;
using Clock = std::chrono::steady_clock;

const char* EventName(Event e) {
  switch (e) {
    case Event::kMessage: return "message";
    case Event::kTimeout: return "timeout";
    case Event::kBadMessage: return "bad message";
    case Event::kPeerDisconnected: return "peer disconnected";
  }
  return "?";
}

// Polls `t` until something other than a timeout happens or `seconds` pass. Message delivery
// over loopback TCP is asynchronous, so a single short Poll may legitimately time out.
Transport::PollResult PollUntilEvent(Transport& t, Message* msg, double seconds = 5.0) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  Transport::PollResult r;
  while (Clock::now() < deadline) {
    r = t.Poll(100, msg);
    if (r.event != Event::kTimeout) return r;
  }
  return r;
}

std::unique_ptr<Transport> BoundTransport(int rank, std::string* endpoint) {
  auto t = std::make_unique<Transport>(rank, 2000);
  Status st = t->Bind("127.0.0.1", 0, endpoint);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return t;
}

zmq::message_t Frame(const std::string& bytes) { return zmq::message_t(bytes.data(), bytes.size()); }

std::vector<uint64_t> SomeKeys(size_t n, uint64_t salt) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = (i + 1) * 0x9e3779b97f4a7c15ULL ^ salt;
  return keys;
}

TEST(TransportTest, RoutingIds) {
  EXPECT_EQ(RoutingIdOf(0), "r0");
  EXPECT_EQ(RoutingIdOf(17), "r17");
  EXPECT_EQ(RankOfRoutingId(Frame("r0")), 0);
  EXPECT_EQ(RankOfRoutingId(Frame("r17")), 17);
  EXPECT_EQ(RankOfRoutingId(Frame("r2147483647")), 2147483647);
  EXPECT_EQ(RankOfRoutingId(Frame("r2147483648")), -1);  // beyond int
  EXPECT_EQ(RankOfRoutingId(Frame("r")), -1);
  EXPECT_EQ(RankOfRoutingId(Frame("")), -1);
  EXPECT_EQ(RankOfRoutingId(Frame("x5")), -1);
  EXPECT_EQ(RankOfRoutingId(Frame("r5a")), -1);
  EXPECT_EQ(RankOfRoutingId(Frame("r-5")), -1);
  EXPECT_EQ(RankOfRoutingId(Frame("r123456789012")), -1);
}

TEST(TransportTest, BindReportsTheEndpoint) {
  std::string endpoint;
  auto t = BoundTransport(3, &endpoint);
  EXPECT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << endpoint;
  const int port = std::stoi(endpoint.substr(std::strlen("tcp://127.0.0.1:")));
  EXPECT_GT(port, 0);
  EXPECT_EQ(t->rank(), 3);
  // The port is now taken: binding it again reports an error naming it, not an exception.
  Transport other(4);
  std::string unused;
  Status st = other.Bind("127.0.0.1", port, &unused);
  EXPECT_EQ(st.code(), Status::Code::kIoError);
  EXPECT_CONTAINS(st.message(), std::to_string(port));
}

TEST(TransportTest, SendDeliversHeaderAndFramesIntact) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  ASSERT_TRUE(a->Connect(2, eb).ok());
  EXPECT_TRUE(a->IsConnected(2));
  EXPECT_FALSE(a->IsConnected(1));
  EXPECT_FALSE(b->IsConnected(1));

  const std::vector<uint64_t> keys = SomeKeys(100, 7);
  std::vector<float> vals(100 * 3);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = 0.25f * static_cast<float>(i) - 11.0f;
  MsgHeader h = MakeHeader(MsgType::kPush, /*sender=*/99, /*request_id=*/4242);
  h.table = 5;
  h.num_keys = 100;
  h.val_len = 3;
  h.aux = 31;
  std::vector<zmq::message_t> frames;
  frames.emplace_back(keys.data(), keys.size() * 8);
  frames.emplace_back(vals.data(), vals.size() * 4);
  Status st = a->Send(2, h, &frames);
  ASSERT_TRUE(st.ok()) << st.ToString();

  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kMessage) << EventName(r.event) << " " << r.status.ToString();
  EXPECT_EQ(r.peer, 1);
  EXPECT_EQ(msg.peer, 1);
  EXPECT_EQ(msg.type(), MsgType::kPush);
  // Send stamps the real sender and the frame count over whatever the caller put there.
  EXPECT_EQ(msg.header.sender, 1u);
  EXPECT_EQ(msg.header.num_frames, 2u);
  EXPECT_EQ(msg.header.request_id, 4242u);
  EXPECT_EQ(msg.header.table, 5u);
  EXPECT_EQ(msg.header.num_keys, 100u);
  EXPECT_EQ(msg.header.val_len, 3u);
  EXPECT_EQ(msg.header.aux, 31u);
  ASSERT_EQ(msg.frames.size(), 2u);
  ASSERT_EQ(msg.frames[0].size(), keys.size() * 8);
  ASSERT_EQ(msg.frames[1].size(), vals.size() * 4);
  EXPECT_EQ(std::memcmp(msg.keys(0), keys.data(), keys.size() * 8), 0);
  EXPECT_EQ(std::memcmp(msg.values(1), vals.data(), vals.size() * 4), 0);
  EXPECT_TRUE(ValidateDataMessage(msg, 3).ok());

  // Nothing else is queued.
  Message none;
  EXPECT_EQ(b->Poll(20, &none).event, Event::kTimeout);
}

TEST(TransportTest, SendWithoutFramesAndSendString) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  ASSERT_TRUE(a->Connect(2, eb).ok());
  MsgHeader hb = MakeHeader(MsgType::kHeartbeat, 1);
  hb.aux = 8;
  ASSERT_TRUE(a->Send(2, hb).ok());
  ASSERT_TRUE(a->SendString(2, MakeHeader(MsgType::kAbort, 1), std::string("bad\0stuff", 9)).ok());

  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kMessage) << r.status.ToString();
  EXPECT_EQ(msg.type(), MsgType::kHeartbeat);
  EXPECT_EQ(msg.header.aux, 8u);
  EXPECT_EQ(msg.header.num_frames, 0u);
  EXPECT_TRUE(msg.frames.empty());
  // The same Message object is reused: frames of the previous message must not linger.
  r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kMessage) << r.status.ToString();
  EXPECT_EQ(msg.type(), MsgType::kAbort);
  ASSERT_EQ(msg.frames.size(), 1u);
  EXPECT_EQ(msg.FrameString(0), std::string("bad\0stuff", 9));
}

// Counts how often ZeroMQ released a caller-owned buffer.
std::atomic<int> g_released{0};
void CountRelease(void*, void*) { g_released.fetch_add(1); }

TEST(TransportTest, ZeroCopyFramesAreSentFromTheCallersBuffer) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  ASSERT_TRUE(a->Connect(2, eb).ok());

  const size_t n = 1 << 16;  // 256 KiB of floats: large enough to be a real wire transfer
  std::vector<float> vals(n);
  for (size_t i = 0; i < n; ++i) vals[i] = static_cast<float>(i) * 0.5f;
  const std::vector<uint64_t> keys = SomeKeys(n, 3);
  g_released = 0;
  std::vector<zmq::message_t> frames;
  frames.emplace_back(const_cast<uint64_t*>(keys.data()), n * 8, CountRelease, nullptr);
  frames.emplace_back(vals.data(), n * 4, CountRelease, nullptr);
  // ZeroMQ really points at our buffer (no copy was made when building the frame).
  EXPECT_EQ(frames[1].data(), static_cast<void*>(vals.data()));
  MsgHeader h = MakeHeader(MsgType::kPush, 1, 1);
  h.num_keys = static_cast<uint32_t>(n);
  h.val_len = 1;
  ASSERT_TRUE(a->Send(2, h, &frames).ok());
  // Send moved the frames out.
  EXPECT_EQ(frames[0].size(), 0u);
  EXPECT_EQ(frames[1].size(), 0u);

  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kMessage) << r.status.ToString();
  ASSERT_EQ(msg.frames.size(), 2u);
  ASSERT_EQ(msg.frames[1].size(), n * 4);
  EXPECT_EQ(std::memcmp(msg.values(1), vals.data(), n * 4), 0);
  EXPECT_EQ(std::memcmp(msg.keys(0), keys.data(), n * 8), 0);
  // Both caller buffers are released exactly once, after they were sent.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (g_released.load() < 2 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(g_released.load(), 2);
}

TEST(TransportTest, ThreeTransportsAllToAll) {
  constexpr int kN = 3;
  std::string endpoints[kN];
  std::unique_ptr<Transport> t[kN];
  for (int r = 0; r < kN; ++r) t[r] = BoundTransport(r, &endpoints[r]);
  for (int r = 0; r < kN; ++r) {
    for (int p = 0; p < kN; ++p) {
      if (p != r) {
        ASSERT_TRUE(t[r]->Connect(p, endpoints[p]).ok());
      }
    }
  }
  // Every rank sends each other rank a message whose payload names both.
  for (int r = 0; r < kN; ++r) {
    for (int p = 0; p < kN; ++p) {
      if (p == r) continue;
      MsgHeader h = MakeHeader(MsgType::kApp, r, static_cast<uint64_t>(10 * r + p));
      ASSERT_TRUE(t[r]->SendString(p, h, "from " + std::to_string(r) + " to " + std::to_string(p)).ok());
    }
  }
  for (int p = 0; p < kN; ++p) {
    std::vector<int> seen(kN, 0);
    for (int i = 0; i < kN - 1; ++i) {
      Message msg;
      auto res = PollUntilEvent(*t[p], &msg);
      ASSERT_EQ(res.event, Event::kMessage) << "rank " << p << ": " << EventName(res.event) << " "
                                            << res.status.ToString();
      ASSERT_GE(res.peer, 0);
      ASSERT_LT(res.peer, kN);
      ++seen[res.peer];
      EXPECT_EQ(msg.header.request_id, static_cast<uint64_t>(10 * res.peer + p));
      EXPECT_EQ(msg.FrameString(0), "from " + std::to_string(res.peer) + " to " + std::to_string(p));
    }
    for (int r = 0; r < kN; ++r) EXPECT_EQ(seen[r], r == p ? 0 : 1) << "rank " << p << " from " << r;
  }
}

TEST(TransportTest, ConnectChecks) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  EXPECT_FALSE(a->Connect(-1, eb).ok());
  ASSERT_TRUE(a->Connect(2, eb).ok());
  EXPECT_TRUE(a->Connect(2, eb).ok());  // idempotent
  Status st = a->Connect(2, ea);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_CONTAINS(st.message(), "rank 2");
  EXPECT_CONTAINS(st.message(), eb);
  EXPECT_CONTAINS(st.message(), ea);
  // A malformed endpoint is an error, and the rank can still be connected afterwards.
  st = a->Connect(3, "tcp://no-port-here");
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "rank 3");
  EXPECT_FALSE(a->IsConnected(3));
  std::string ec;
  auto c = BoundTransport(3, &ec);
  st = a->Connect(3, ec);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE(a->Send(3, MakeHeader(MsgType::kHeartbeat, 1)).ok());
  Message msg;
  auto r = PollUntilEvent(*c, &msg);
  EXPECT_EQ(r.event, Event::kMessage) << r.status.ToString();
  EXPECT_EQ(r.peer, 1);
}

TEST(TransportTest, SendToUnknownRankIsAnError) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  ASSERT_TRUE(a->Connect(2, eb).ok());
  for (int rank : {0, 1, 3, 9, 100000, -1}) {
    Status st = a->Send(rank, MakeHeader(MsgType::kHeartbeat, 1));
    EXPECT_FALSE(st.ok()) << rank;
    EXPECT_CONTAINS(st.message(), "rank " + std::to_string(rank));
  }
  std::vector<zmq::message_t> frames;
  frames.emplace_back(8);
  EXPECT_FALSE(a->Send(7, MakeHeader(MsgType::kPull, 1), &frames).ok());
  EXPECT_FALSE(a->SendString(7, MakeHeader(MsgType::kApp, 1), "x").ok());
}

TEST(TransportTest, PollTimesOutWhenNothingArrives) {
  std::string ea;
  auto a = BoundTransport(1, &ea);
  Message msg;
  auto r = a->Poll(0, &msg);
  EXPECT_EQ(r.event, Event::kTimeout);
  const auto start = Clock::now();
  r = a->Poll(50, &msg);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  EXPECT_EQ(r.event, Event::kTimeout);
  EXPECT_EQ(r.peer, -1);
  // Only a sanity bound (the timeout is in milliseconds, not seconds), far above any scheduling
  // noise; the lower bound says Poll did wait instead of spinning back immediately.
  EXPECT_GE(ms, 40.0);
  EXPECT_LT(ms, 10000.0);
}

// A raw ZeroMQ DEALER that is not a Transport: it can present any routing id and send any bytes.
class RawPeer {
 public:
  RawPeer(const std::string& routing_id, const std::string& endpoint)
      : ctx_(1), socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::routing_id, routing_id);
    socket_.connect(endpoint);
  }
  void Send(std::vector<std::string> parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const bool last = i + 1 == parts.size();
      socket_.send(zmq::buffer(parts[i]), last ? zmq::send_flags::none : zmq::send_flags::sndmore);
    }
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t socket_;
};

std::string RawHeader(MsgHeader h) { return std::string(reinterpret_cast<const char*>(&h), sizeof(h)); }

TEST(TransportTest, GarbageFrameIsABadMessageFromThatPeer) {
  std::string eb;
  auto b = BoundTransport(2, &eb);
  RawPeer raw("r5", eb);
  raw.Send({"hello"});
  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  EXPECT_EQ(r.peer, 5);
  EXPECT_EQ(r.status.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(r.status.message(), "header frame is 5 bytes, expected 64");
}

TEST(TransportTest, SpoofedSenderIsRejected) {
  std::string eb;
  auto b = BoundTransport(2, &eb);
  RawPeer raw("r5", eb);
  raw.Send({RawHeader(MakeHeader(MsgType::kHeartbeat, 7))});
  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  EXPECT_EQ(r.peer, 5);
  EXPECT_CONTAINS(r.status.message(), "sender rank 7");
  EXPECT_CONTAINS(r.status.message(), "rank 5");
}

TEST(TransportTest, MissingFramesAreRejected) {
  std::string eb;
  auto b = BoundTransport(2, &eb);
  RawPeer raw("r5", eb);
  MsgHeader h = MakeHeader(MsgType::kPush, 5);
  h.num_frames = 3;
  raw.Send({RawHeader(h), std::string(8, 'k')});
  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  EXPECT_EQ(r.peer, 5);
  EXPECT_CONTAINS(r.status.message(), "announces 3 frames but 1 arrived");
}

TEST(TransportTest, HeaderErrorsCarryTheirReason) {
  std::string eb;
  auto b = BoundTransport(2, &eb);
  RawPeer raw("r5", eb);
  MsgHeader h = MakeHeader(MsgType::kPull, 5);
  h.version = kWireVersion + 1;
  raw.Send({RawHeader(h)});
  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  EXPECT_EQ(r.peer, 5);
  EXPECT_CONTAINS(r.status.message(), "version " + std::to_string(kWireVersion + 1));
  // An empty frame instead of a header.
  raw.Send({std::string()});
  r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  EXPECT_CONTAINS(r.status.message(), "header frame is 0 bytes");
}

TEST(TransportTest, UnknownRoutingIdIsRejected) {
  std::string eb;
  auto b = BoundTransport(2, &eb);
  RawPeer raw("xyz", eb);
  raw.Send({RawHeader(MakeHeader(MsgType::kHeartbeat, 5))});
  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  EXPECT_EQ(r.peer, -1);
  EXPECT_CONTAINS(r.status.message(), "unknown peer");
  EXPECT_CONTAINS(r.status.message(), "'xyz'");
}

TEST(TransportTest, GoodMessagesStillArriveAfterBadOnes) {
  std::string eb;
  auto b = BoundTransport(2, &eb);
  RawPeer raw("r5", eb);
  raw.Send({"junk"});
  MsgHeader h = MakeHeader(MsgType::kApp, 5, 66);
  h.num_frames = 1;
  raw.Send({RawHeader(h), "payload"});
  Message msg;
  auto r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kBadMessage) << EventName(r.event);
  r = PollUntilEvent(*b, &msg);
  ASSERT_EQ(r.event, Event::kMessage) << EventName(r.event) << " " << r.status.ToString();
  EXPECT_EQ(r.peer, 5);
  EXPECT_EQ(msg.header.request_id, 66u);
  EXPECT_EQ(msg.FrameString(0), "payload");
}

TEST(TransportTest, ClosedPeerIsReportedDisconnected) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  ASSERT_TRUE(a->Connect(2, eb).ok());
  // A round trip first, so the TCP connection certainly exists before it is closed.
  ASSERT_TRUE(a->Send(2, MakeHeader(MsgType::kHeartbeat, 1)).ok());
  Message msg;
  ASSERT_EQ(PollUntilEvent(*b, &msg).event, Event::kMessage);

  b->Close();
  // Once closed, b refuses to work instead of crashing.
  auto closed = b->Poll(10, &msg);
  EXPECT_EQ(closed.event, Event::kBadMessage);
  EXPECT_EQ(closed.status.code(), Status::Code::kAborted);
  b->Close();  // idempotent

  const auto deadline = Clock::now() + std::chrono::seconds(5);
  Transport::PollResult r;
  while (Clock::now() < deadline) {
    r = a->Poll(100, &msg);
    if (r.event != Event::kTimeout) break;
  }
  ASSERT_EQ(r.event, Event::kPeerDisconnected) << EventName(r.event) << " " << r.status.ToString();
  EXPECT_EQ(r.peer, 2);
}

TEST(TransportTest, SendAfterCloseIsAnError) {
  std::string ea, eb;
  auto a = BoundTransport(1, &ea);
  auto b = BoundTransport(2, &eb);
  ASSERT_TRUE(a->Connect(2, eb).ok());
  a->Close();
  Status st = a->Send(2, MakeHeader(MsgType::kHeartbeat, 1));
  EXPECT_EQ(st.code(), Status::Code::kAborted);
}

}  // namespace
}  // namespace embark

namespace embark {
namespace {

// CURVE: ranks holding the job's key pair talk; a peer without it -- plain TCP, or its own key
// pair even if it learnt the job's public key -- cannot deliver a single message to the inbox
// (so it can neither push, pull nor register), and the job's own traffic still flows.
TEST(TransportCurveTest, OnlyHoldersOfTheJobKeysAreHeard) {
  CurveKeys job, stranger_keys;
  ASSERT_TRUE(Transport::GenerateCurveKeys(&job).ok());
  ASSERT_TRUE(Transport::GenerateCurveKeys(&stranger_keys).ok());
  ASSERT_EQ(job.public_key.size(), 40u);
  ASSERT_NE(job.public_key, stranger_keys.public_key);

  Transport server(1, 2000);
  ASSERT_TRUE(server.EnableCurve(job.public_key, job).ok());
  std::string endpoint;
  ASSERT_TRUE(server.Bind("127.0.0.1", 0, &endpoint).ok());
  auto send_from = [&](Transport& t, uint64_t id) {
    MsgHeader h = MakeHeader(MsgType::kApp, t.rank(), id);
    return t.SendString(1, h, "hello " + std::to_string(id));
  };

  Transport plain(2, 2000);  // no keys at all
  ASSERT_TRUE(plain.Connect(1, endpoint).ok());
  ASSERT_TRUE(send_from(plain, 10).ok());  // queued: the handshake never completes
  Transport impostor(3, 2000);  // its own keys, and the job's public key
  ASSERT_TRUE(impostor.EnableCurve(job.public_key, stranger_keys).ok());
  ASSERT_TRUE(impostor.Connect(1, endpoint).ok());
  ASSERT_TRUE(send_from(impostor, 11).ok());

  Transport member(4, 2000);
  ASSERT_TRUE(member.EnableCurve(job.public_key, job).ok());
  ASSERT_TRUE(member.Connect(1, endpoint).ok());
  ASSERT_TRUE(send_from(member, 12).ok());

  // Only the member's message arrives, however long we wait for the others.
  Message msg;
  auto r = PollUntilEvent(server, &msg);
  ASSERT_EQ(r.event, Event::kMessage) << EventName(r.event) << " " << r.status.ToString();
  EXPECT_EQ(r.peer, 4);
  EXPECT_EQ(msg.FrameString(0), "hello 12");
  r = PollUntilEvent(server, &msg, 1.5);
  EXPECT_EQ(r.event, Event::kTimeout) << "a message from peer " << r.peer << " got through: " << EventName(r.event);
  ASSERT_TRUE(send_from(member, 13).ok());
  r = PollUntilEvent(server, &msg);
  ASSERT_EQ(r.event, Event::kMessage);
  EXPECT_EQ(msg.FrameString(0), "hello 13");

  // Without CURVE on the server (--insecure) the plain peer is heard, as before.
  Transport open_server(5, 2000);
  std::string open_endpoint;
  ASSERT_TRUE(open_server.Bind("127.0.0.1", 0, &open_endpoint).ok());
  Transport plain2(6, 2000);
  ASSERT_TRUE(plain2.Connect(5, open_endpoint).ok());
  ASSERT_TRUE(plain2.SendString(5, MakeHeader(MsgType::kApp, 6, 14), "plain").ok());
  r = PollUntilEvent(open_server, &msg);
  ASSERT_EQ(r.event, Event::kMessage);
  EXPECT_EQ(msg.FrameString(0), "plain");
}

TEST(TransportCurveTest, MalformedKeysAreRefused) {
  Transport t(1, 1000);
  CurveKeys bad{"short", "short"};
  EXPECT_EQ(t.EnableCurve("short", bad).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace embark

namespace embark {
namespace {

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "' does not contain '" << (part) << "'"

std::string KeyFilePath(const std::string& name) {
  const std::string path = ::testing::TempDir() + "/" + name + "-" + std::to_string(getpid());
  unlink(path.c_str());
  return path;
}

void WriteText(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// --curve_key_file: a pair written by WriteCurveKeyFile (mode 0600) reads back; the file is
// refused when group or others may read it, when it is not a regular file, when someone else
// owns it, and when its keys are malformed or not one pair; each refusal names the path.
TEST(CurveKeyFileTest, RoundTripsWithMode0600) {
  CurveKeys keys, read;
  ASSERT_TRUE(Transport::GenerateCurveKeys(&keys).ok());
  const std::string path = KeyFilePath("keys");
  ASSERT_TRUE(WriteCurveKeyFile(path, keys).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Status s = ReadCurveKeyFile(path, &read);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(read.public_key, keys.public_key);
  EXPECT_EQ(read.secret_key, keys.secret_key);
  // A second write never replaces the job's keys.
  EXPECT_FALSE(WriteCurveKeyFile(path, keys).ok());
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(ReadCurveKeyFile(path, &read).ok());
  unlink(path.c_str());
}

TEST(CurveKeyFileTest, ReadableByOthersOrForeignFilesAreRefused) {
  CurveKeys keys, read;
  ASSERT_TRUE(Transport::GenerateCurveKeys(&keys).ok());
  const std::string path = KeyFilePath("open-keys");
  ASSERT_TRUE(WriteCurveKeyFile(path, keys).ok());
  for (mode_t mode : {0640, 0604, 0660, 0644, 0610}) {
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
    Status s = ReadCurveKeyFile(path, &read);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << std::oct << mode;
    EXPECT_HAS(s.message(), path);
    EXPECT_HAS(s.message(), "group or others");
  }
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  if (geteuid() == 0) {  // only root can give a file away
    ASSERT_EQ(chown(path.c_str(), 4321, 4321), 0);
    Status s = ReadCurveKeyFile(path, &read);
    EXPECT_FALSE(s.ok());
    EXPECT_HAS(s.message(), "belongs to uid 4321");
  }
  unlink(path.c_str());
  const std::string dir = KeyFilePath("key-dir");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  EXPECT_HAS(ReadCurveKeyFile(dir, &read).message(), "not a regular file");
  rmdir(dir.c_str());
  Status missing = ReadCurveKeyFile(dir + "-none", &read);
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_HAS(missing.message(), dir + "-none");
}

TEST(CurveKeyFileTest, MalformedOrMismatchedKeysAreRefused) {
  CurveKeys a, b, read;
  ASSERT_TRUE(Transport::GenerateCurveKeys(&a).ok());
  ASSERT_TRUE(Transport::GenerateCurveKeys(&b).ok());
  const std::string path = KeyFilePath("bad-keys");
  WriteText(path, a.public_key + " " + b.secret_key + "\n", 0600);  // two halves of different pairs
  EXPECT_HAS(ReadCurveKeyFile(path, &read).message(), "not the secret key's");
  WriteText(path, a.public_key + a.secret_key + "\n", 0600);
  EXPECT_HAS(ReadCurveKeyFile(path, &read).message(), "no space");
  WriteText(path, "short " + a.secret_key + "\n", 0600);
  EXPECT_HAS(ReadCurveKeyFile(path, &read).message(), "malformed keys");
  WriteText(path, a.public_key + " " + a.secret_key + "\n", 0600);
  EXPECT_TRUE(ReadCurveKeyFile(path, &read).ok());
  EXPECT_EQ(read.secret_key, a.secret_key);
  unlink(path.c_str());
}

}  // namespace
}  // namespace embark
