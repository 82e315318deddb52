// Tests of the shared-memory data path on both ends without sockets: core/shm_segment.h
// (create/open/unlink, token and size checks, names a server accepts, removal of segments
// whose creator died) and the server side of ps/server.h (the kShmOffer handshake; requests
// whose arrays lie in the worker's segment give exactly the rows and replies of the same
// requests sent as frames; bad slots are kError replies naming the worker and change no row).
#include "core/shm_segment.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/shm_slot.h"
#include "ps/server.h"

namespace embark {
namespace {

#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

int g_seq = 0;
// A name no other test (or test run) uses: our pid, a worker rank, a fresh "server rank".
std::string FreshName() { return ShmSegmentName(static_cast<int>(getpid()), 9, 1000 + g_seq++); }

bool NameExists(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

TEST(ShmSegmentTest, CreatedSegmentIsSharedWithItsOpener) {
  const std::string name = FreshName();
  std::unique_ptr<ShmSegment> mine, theirs;
  ASSERT_TRUE(ShmSegment::Create(name, 10000, 0x1234, &mine).ok());
  EXPECT_EQ(mine->payload_bytes(), 12288u);  // rounded up to pages
  EXPECT_EQ(mine->total_bytes(), 12288u + ShmSegment::kHeaderBytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mine->payload()) % 4096, 0u);
  ASSERT_TRUE(ShmSegment::Open(name, mine->total_bytes(), 0x1234, &theirs).ok());
  std::memcpy(mine->payload() + 5000, "hello", 6);
  EXPECT_STREQ(reinterpret_cast<const char*>(theirs->payload() + 5000), "hello");
  theirs->payload()[12287] = 42;
  EXPECT_EQ(mine->payload()[12287], 42);
  // Unlinking removes the name only: both mappings keep working.
  mine->Unlink();
  EXPECT_FALSE(NameExists(name));
  theirs->payload()[0] = 7;
  EXPECT_EQ(mine->payload()[0], 7);
  std::unique_ptr<ShmSegment> late;
  Status st = ShmSegment::Open(name, mine->total_bytes(), 0x1234, &late);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), name);
}

TEST(ShmSegmentTest, OpenChecksSizeAndToken) {
  const std::string name = FreshName();
  std::unique_ptr<ShmSegment> mine, other;
  ASSERT_TRUE(ShmSegment::Create(name, 4096, 77, &mine).ok());
  Status st = ShmSegment::Open(name, mine->total_bytes(), 78, &other);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "token");
  st = ShmSegment::Open(name, mine->total_bytes() + 4096, 77, &other);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "bytes");
  EXPECT_EQ(other, nullptr);
}

TEST(ShmSegmentTest, OpenRefusesObjectsOfOtherUsersOrWritableByOthers) {
  const std::string name = FreshName();
  std::unique_ptr<ShmSegment> mine, other;
  ASSERT_TRUE(ShmSegment::Create(name, 4096, 77, &mine).ok());
  const int fd = shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fchmod(fd, 0622), 0);  // writable by everyone
  Status st = ShmSegment::Open(name, mine->total_bytes(), 77, &other);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "mode 622");
  ASSERT_EQ(fchmod(fd, 0600), 0);
  EXPECT_TRUE(ShmSegment::Open(name, mine->total_bytes(), 77, &other).ok());
  other.reset();
  if (geteuid() == 0) {  // only root can give an object away
    ASSERT_EQ(fchown(fd, 4321, 4321), 0);
    st = ShmSegment::Open(name, mine->total_bytes(), 77, &other);
    EXPECT_FALSE(st.ok());
    EXPECT_CONTAINS(st.message(), "belongs to uid 4321");
  }
  close(fd);
  EXPECT_EQ(other, nullptr);
}

TEST(ShmSegmentTest, CreatorRemovesTheNameWhenDestroyed) {
  const std::string name = FreshName();
  {
    std::unique_ptr<ShmSegment> mine;
    ASSERT_TRUE(ShmSegment::Create(name, 4096, 1, &mine).ok());
    EXPECT_TRUE(NameExists(name));
  }
  EXPECT_FALSE(NameExists(name));
}

TEST(ShmSegmentTest, ServerAcceptsOnlyEmbarkNames) {
  EXPECT_TRUE(IsShmSegmentName(ShmSegmentName(4242, 3, 1)));
  EXPECT_EQ(ShmSegmentName(4242, 3, 1), "/embark-shm-4242-3-1");
  for (const char* bad : {"/etc/passwd", "/embark-shm-1-2", "/embark-shm-1-2-3-4", "/embark-shm-1-2-3/x",
                          "/embark-shm-1--3", "/embark-shm--1-2", "/embark-shm-1-2-", "embark-shm-1-2-3",
                          "/embark-shm-1-2-3/../../etc/passwd", "/embark-shm-a-2-3", ""}) {
    EXPECT_FALSE(IsShmSegmentName(bad)) << bad;
  }
}

TEST(ShmSegmentTest, StaleSegmentsOfDeadProcessesAreRemoved) {
  // A pid that certainly belongs to no running process: a child that has exited and was reaped.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const std::string dead = ShmSegmentName(static_cast<int>(child), 5, 1);
  const std::string alive = ShmSegmentName(static_cast<int>(getppid()), 5, 2);  // our parent runs
  std::unique_ptr<ShmSegment> a, b;
  ASSERT_TRUE(ShmSegment::Create(dead, 4096, 1, &a).ok());
  ASSERT_TRUE(ShmSegment::Create(alive, 4096, 1, &b).ok());
  EXPECT_GE(RemoveStaleShmSegments(), 1);
  EXPECT_FALSE(NameExists(dead));
  EXPECT_TRUE(NameExists(alive));
  b->Unlink();
}

// Ranks tell simulated hosts apart by their network namespace: the id is stable within one
// namespace and differs in a new one (checked in a child that unshares its network namespace;
// skipped where the kernel refuses, e.g. without CAP_SYS_ADMIN).
TEST(ShmSegmentTest, NetworkNamespaceIdTellsNamespacesApart) {
  const std::string mine = ReadNetNamespace();
  ASSERT_FALSE(mine.empty());
  EXPECT_EQ(mine.rfind("net:[", 0), 0u) << mine;
  EXPECT_EQ(ReadNetNamespace(), mine);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    std::string id = unshare(CLONE_NEWNET) == 0 ? ReadNetNamespace() : std::string("refused");
    if (write(fds[1], id.data(), id.size()) < 0) _exit(2);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  close(fds[1]);
  char buf[128];
  const ssize_t n = read(fds[0], buf, sizeof(buf));
  close(fds[0]);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  ASSERT_GT(n, 0);
  const std::string theirs(buf, static_cast<size_t>(n));
  if (theirs == "refused") GTEST_SKIP() << "unshare(CLONE_NEWNET) refused";
  EXPECT_EQ(theirs.rfind("net:[", 0), 0u) << theirs;
  EXPECT_NE(theirs, mine);
}

// ----- the server's side -----

constexpr int kWorker = 9;
constexpr uint32_t kEmb = 0;  // dim 4, SGD lr 1, uniform init
constexpr uint32_t kMlp = 1;  // dense, 20000 floats in blocks

const Placement& TestPlacement() {
  static const Placement* placement = [] {
    TableConfig emb;
    emb.name = "emb";
    emb.dim = 4;
    emb.optimizer.kind = OptimizerKind::kSgd;
    emb.optimizer.lr = 1.0f;
    emb.init.kind = InitKind::kUniform;
    emb.init.scale = 0.5f;
    TableConfig mlp;
    mlp.name = "mlp";
    mlp.dense = true;
    mlp.dense_size = 20000;
    mlp.optimizer.kind = OptimizerKind::kSgd;
    mlp.optimizer.lr = 1.0f;
    mlp.init.kind = InitKind::kUniform;
    mlp.init.scale = 0.1f;
    return new Placement(ShardMap::Balanced(1), {emb, mlp});
  }();
  return *placement;
}

std::unique_ptr<Server> MakeServer(int threads) {
  ServerOptions opts;
  opts.threads = threads;
  opts.seed = 3;
  return std::make_unique<Server>(nullptr, nullptr, TestPlacement(), 0, opts);
}

struct Reply {
  Status status;
  MsgHeader header;
  std::vector<zmq::message_t> frames;
  std::string Text() const { return frames.empty() ? std::string() : frames[0].to_string(); }
};

Reply Call(Server& server, const Message& m) {
  Reply r;
  r.status = server.Handle(m, &r.header, &r.frames);
  return r;
}

// A worker's end of the path: its segment, and requests built both ways.
class FakeWorker {
 public:
  FakeWorker() { EXPECT_TRUE(ShmSegment::Create(FreshName(), 1 << 20, 0xfeed, &segment_).ok()); }

  Message Offer(const std::string& name, uint64_t token) const {
    Message m;
    m.header = MakeHeader(MsgType::kShmOffer, kWorker);
    m.header.aux = token;
    m.header.shm_bytes = segment_->total_bytes();
    m.frames.emplace_back(name.data(), name.size());
    m.header.num_frames = 1;
    m.peer = kWorker;
    return m;
  }
  Message Offer() const { return Offer(segment_->name(), segment_->token()); }

  Message Frames(MsgType type, uint32_t table, const std::vector<uint64_t>& keys, const std::vector<float>* vals) const {
    Message m = Header(type, table, keys.size());
    m.frames.emplace_back(keys.data(), keys.size() * 8);
    if (vals) m.frames.emplace_back(vals->data(), vals->size() * 4);
    m.header.num_frames = static_cast<uint32_t>(m.frames.size());
    return m;
  }
  // The same request with its arrays in the slot at `offset`.
  Message Shm(MsgType type, uint32_t table, const std::vector<uint64_t>& keys, const std::vector<float>* vals,
              uint64_t offset) const {
    Message m = Header(type, table, keys.size());
    const ShmSlotLayout l = ShmSlotLayout::For(type, keys.size(), m.header.val_len);
    std::memcpy(segment_->payload() + offset + l.keys, keys.data(), keys.size() * 8);
    if (vals) std::memcpy(segment_->payload() + offset + l.values, vals->data(), vals->size() * 4);
    m.header.shm_offset = offset;
    m.header.shm_bytes = l.bytes;
    return m;
  }
  std::vector<float> Floats(uint64_t offset, uint64_t bytes) const {
    const float* p = reinterpret_cast<const float*>(segment_->payload() + offset);
    return std::vector<float>(p, p + bytes / 4);
  }
  ShmSegment& segment() { return *segment_; }

 private:
  Message Header(MsgType type, uint32_t table, size_t n) const {
    Message m;
    m.header = MakeHeader(type, kWorker, ++id_);
    m.header.table = table;
    m.header.num_keys = static_cast<uint32_t>(n);
    m.header.val_len = TestPlacement().RowWidth(table);
    m.header.aux = table == kEmb ? 77 : 0;  // one key set: the server's key-set cache is used too
    m.peer = kWorker;
    return m;
  }
  std::unique_ptr<ShmSegment> segment_;
  mutable uint64_t id_ = 0;
};

std::vector<float> Values(const zmq::message_t& f) {
  const float* p = f.data<float>();
  return std::vector<float>(p, p + f.size() / 4);
}

class ShmServerTest : public ::testing::TestWithParam<int> {};  // parameter: server threads

TEST_P(ShmServerTest, OfferIsAcceptedOrRefusedWithAReason) {
  auto server = MakeServer(GetParam());
  FakeWorker w;
  Reply bad = Call(*server, w.Offer(w.segment().name(), w.segment().token() + 1));
  EXPECT_FALSE(bad.status.ok());
  EXPECT_EQ(bad.header.type, static_cast<uint16_t>(MsgType::kShmAccept));
  EXPECT_NE(bad.header.status, 0u);
  EXPECT_CONTAINS(bad.Text(), "token");
  Reply foreign = Call(*server, w.Offer("/etc/passwd", 1));
  EXPECT_NE(foreign.header.status, 0u);
  EXPECT_CONTAINS(foreign.Text(), "not an embark segment");
  Reply ok = Call(*server, w.Offer());
  ASSERT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.header.type, static_cast<uint16_t>(MsgType::kShmAccept));
  EXPECT_EQ(ok.header.status, 0u);
}

TEST_P(ShmServerTest, SharedMemoryRequestsMatchFrameRequestsExactly) {
  // Two servers with the same seed get the same request stream, one as frames, one through
  // the slots; every reply and the rows they return must be identical.
  auto by_frames = MakeServer(GetParam());
  auto by_shm = MakeServer(GetParam());
  FakeWorker w;
  ASSERT_TRUE(Call(*by_shm, w.Offer()).status.ok());
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 300; ++k) keys.push_back(k * 0x9e3779b97f4a7c15ULL + 11);
  keys.push_back(keys[17]);  // a duplicate inside one request
  std::vector<float> grads(keys.size() * 4);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = static_cast<float>(static_cast<int>(i % 11) - 5) * 0.25f;
  const std::vector<uint64_t> blocks = {1, 0};
  std::vector<float> dense_grads(2 * kDenseBlockFloats);
  for (size_t i = 0; i < dense_grads.size(); ++i) dense_grads[i] = static_cast<float>(i % 7) * 0.5f;

  struct Step { MsgType type; uint32_t table; const std::vector<uint64_t>* keys; const std::vector<float>* vals; };
  const Step steps[] = {
      {MsgType::kPull, kEmb, &keys, nullptr},       {MsgType::kPush, kEmb, &keys, &grads},
      {MsgType::kPull, kEmb, &keys, nullptr},       {MsgType::kPushPull, kEmb, &keys, &grads},
      {MsgType::kPushPull, kMlp, &blocks, &dense_grads}, {MsgType::kPull, kMlp, &blocks, nullptr},
  };
  uint64_t offset = 0;
  int pulls = 0;
  for (const Step& s : steps) {
    Reply a = Call(*by_frames, w.Frames(s.type, s.table, *s.keys, s.vals));
    Message m = w.Shm(s.type, s.table, *s.keys, s.vals, offset);
    const ShmSlotLayout l = ShmSlotLayout::For(s.type, s.keys->size(), m.header.val_len);
    Reply b = Call(*by_shm, m);
    ASSERT_TRUE(a.status.ok()) << a.status.ToString();
    ASSERT_TRUE(b.status.ok()) << b.status.ToString();
    EXPECT_EQ(a.header.type, b.header.type);
    EXPECT_EQ(a.header.num_keys, b.header.num_keys);
    EXPECT_EQ(b.header.request_id, m.header.request_id);
    EXPECT_TRUE(b.frames.empty());  // the rows stay in the slot
    if (s.type != MsgType::kPush) {
      ++pulls;
      EXPECT_EQ(b.header.shm_offset, offset + l.out);
      EXPECT_EQ(b.header.shm_bytes, s.keys->size() * m.header.val_len * 4);
      ASSERT_EQ(a.frames.size(), 1u);
      const std::vector<float> rows = Values(a.frames[0]);
      EXPECT_EQ(w.Floats(b.header.shm_offset, b.header.shm_bytes), rows) << MsgTypeName(s.type);
      EXPECT_NE(std::count(rows.begin(), rows.end(), 0.0f), static_cast<long>(rows.size()));
    } else {
      EXPECT_EQ(b.header.shm_bytes, 0u);
    }
    offset += l.bytes;  // the next request in the next slot, as a ring would
  }
  EXPECT_EQ(pulls, 5);
  EXPECT_EQ(by_shm->stats().cache_hits, by_frames->stats().cache_hits);
  EXPECT_GE(by_shm->stats().cache_hits, 3u);
  EXPECT_EQ(by_shm->stats().shm_requests, 6u);
  EXPECT_EQ(by_frames->stats().shm_requests, 0u);
}

TEST_P(ShmServerTest, BadSlotsAreRejectedNamingTheWorkerAndChangeNothing) {
  auto server = MakeServer(GetParam());
  FakeWorker w;
  std::vector<uint64_t> keys = {5, 6, 7};
  std::vector<float> grads(12, 1.0f);
  // Before any offer, a shared-memory request has no segment to refer to.
  Reply none = Call(*server, w.Shm(MsgType::kPush, kEmb, keys, &grads, 0));
  EXPECT_EQ(none.header.type, static_cast<uint16_t>(MsgType::kError));
  EXPECT_CONTAINS(none.Text(), "rank 9");
  EXPECT_CONTAINS(none.Text(), "offered no segment");
  ASSERT_TRUE(Call(*server, w.Offer()).status.ok());
  const uint64_t cap = w.segment().payload_bytes();
  const uint64_t slot = ShmSlotLayout::For(MsgType::kPush, 3, 4).bytes;

  auto expect_rejected = [&](const Message& m, const std::string& part) {
    Reply r = Call(*server, m);
    EXPECT_FALSE(r.status.ok()) << part;
    EXPECT_EQ(r.header.type, static_cast<uint16_t>(MsgType::kError)) << part;
    EXPECT_EQ(r.header.request_id, m.header.request_id);
    EXPECT_CONTAINS(r.Text(), part);
  };
  Message m = w.Shm(MsgType::kPush, kEmb, keys, &grads, 0);
  m.header.shm_offset = 8;  // not aligned
  expect_rejected(m, "rank 9");
  m.header.shm_offset = cap;  // starts at the end
  expect_rejected(m, "inside its " + std::to_string(cap) + "-byte segment");
  m.header.shm_offset = cap - 64;  // starts inside, ends outside
  expect_rejected(m, "rank 9");
  m.header.shm_offset = ~uint64_t{0} - 63;  // offset + bytes would overflow
  expect_rejected(m, "rank 9");
  m = w.Shm(MsgType::kPush, kEmb, keys, &grads, 0);
  m.header.shm_bytes = slot - 64;  // smaller than 3 keys of 4 floats need
  expect_rejected(m, "need " + std::to_string(slot));
  m.header.shm_bytes = ~uint64_t{0};
  expect_rejected(m, "rank 9");
  m = w.Shm(MsgType::kPush, kEmb, keys, &grads, 0);
  m.frames.emplace_back(8);  // both a slot and frames
  m.header.num_frames = 1;
  expect_rejected(m, "frames");
  // A slot with a non-finite gradient is validated like frames are.
  std::vector<float> nan_grads = grads;
  nan_grads[5] = std::nanf("");
  expect_rejected(w.Shm(MsgType::kPush, kEmb, keys, &nan_grads, 0), "non-finite");
  // Another rank cannot use this worker's segment.
  m = w.Shm(MsgType::kPull, kEmb, keys, nullptr, 0);
  m.peer = m.header.sender = 4;
  expect_rejected(m, "rank 4");

  EXPECT_EQ(server->RowsHeld(kEmb), 0u);  // nothing was applied
  EXPECT_EQ(server->stats().rejected, 10u);
  // The good request still works afterwards.
  Reply ok = Call(*server, w.Shm(MsgType::kPush, kEmb, keys, &grads, 0));
  EXPECT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(server->RowsHeld(kEmb), 3u);
}

INSTANTIATE_TEST_SUITE_P(Threads, ShmServerTest, ::testing::Values(1, 3));

}  // namespace
}  // namespace embark
