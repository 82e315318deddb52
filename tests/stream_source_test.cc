// Stream sources (data/stream_source.h): dir:// reads parts in name order once their marker
// is there, splits them over workers, resumes from saved positions on any worker count, and
// refuses parts that shrink, are replaced or appear out of order; kafka:// (against
// librdkafka's mock cluster on loopback) splits partitions over workers, resumes exactly at
// saved offsets, and fails in bounded time on an unreachable broker, an unknown topic or a
// deleted offset.
#include "data/stream_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tools/kafka_mock.h"
#include "data/kafka_stream.h"

namespace embark {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "embark_stream_XXXXXX";
    dir_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return dir_; }
  void Write(const std::string& name, const std::vector<std::string>& lines, bool marker = true) const {
    std::ofstream out(dir_ + "/" + name);
    for (const std::string& l : lines) out << l << "\n";
    out.close();
    if (marker) Touch(name + ".done");
  }
  void Touch(const std::string& name) const { std::ofstream(dir_ + "/" + name).close(); }

 private:
  std::string dir_;
};

std::vector<std::string> Lines(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

std::unique_ptr<StreamSource> OpenStream(const std::string& spec, int index, int workers,
                                         StreamPositions start = {}, double startup_timeout_s = 10) {
  StreamOptions o;
  o.worker_index = index;
  o.num_workers = workers;
  o.poll_ms = 20;
  o.startup_timeout_s = startup_timeout_s;
  o.start = std::move(start);
  std::unique_ptr<StreamSource> s;
  Status st = MakeStreamSource(spec, o, &s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return nullptr;
  st = s->Open();
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return nullptr;
  return s;
}

// Reads up to `max` lines (stopping at the end of the stream or after `idle_ms` without one).
std::vector<std::string> Drain(StreamSource* s, size_t max, int idle_ms = 300, bool* finished_out = nullptr) {
  std::vector<std::string> out;
  while (out.size() < max) {
    StreamEvent e;
    bool got = false, finished = false;
    Status st = s->Next(&e, idle_ms, &got, &finished);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok() || finished || !got) {
      if (finished_out != nullptr) *finished_out = finished;
      break;
    }
    out.push_back(e.line);
  }
  return out;
}

TEST(DirStream, ReadsPartsInNameOrderOnceMarked) {
  TempDir d;
  d.Write("part-001", Lines("a", 3), /*marker=*/false);
  d.Write("part-002", Lines("b", 2));
  auto s = OpenStream("dir://" + d.path(), 0, 1);
  ASSERT_NE(s, nullptr);
  // part-001 has no marker yet: nothing is read, not even the marked part-002 after it.
  bool finished = true;
  EXPECT_TRUE(Drain(s.get(), 100, 100, &finished).empty());
  EXPECT_FALSE(finished);
  d.Touch("part-001.done");
  EXPECT_EQ(Drain(s.get(), 100, 200, &finished), (std::vector<std::string>{"a0", "a1", "a2", "b0", "b1"}));
  EXPECT_FALSE(finished);  // no _SUCCESS: more parts may come
  d.Write("part-003", Lines("c", 1));
  EXPECT_EQ(Drain(s.get(), 100, 200), (std::vector<std::string>{"c0"}));
  d.Touch("_SUCCESS");
  Drain(s.get(), 100, 200, &finished);
  EXPECT_TRUE(finished);
  EXPECT_EQ(s->Positions().at("part-002"), 6u);  // "b0\nb1\n"
}

TEST(DirStream, EventsNameFileAndLine) {
  TempDir d;
  d.Write("p1", {"x", "y"});
  auto s = OpenStream("dir://" + d.path(), 0, 1);
  ASSERT_NE(s, nullptr);
  StreamEvent e;
  bool got = false, finished = false;
  ASSERT_TRUE(s->Next(&e, 200, &got, &finished).ok());
  ASSERT_TRUE(s->Next(&e, 200, &got, &finished).ok());
  ASSERT_TRUE(got);
  EXPECT_EQ(e.line, "y");
  EXPECT_EQ(e.offset, 2u);
  EXPECT_EQ(e.Where(s->spec()), "dir://" + d.path() + "/p1:2");
}

TEST(DirStream, WorkersSharePartsAndResumeOnAnotherCountExactlyOnce) {
  TempDir d;
  std::multiset<std::string> all;
  for (int f = 0; f < 5; ++f) {
    auto lines = Lines("f" + std::to_string(f) + "-", 7 + f);
    all.insert(lines.begin(), lines.end());
    d.Write("part-" + std::to_string(f), lines);
  }
  d.Touch("_SUCCESS");
  const std::string spec = "dir://" + d.path();
  // Two workers read 4 lines each, then stop; their positions are saved.
  std::multiset<std::string> seen;
  StreamPositions saved;
  for (int w = 0; w < 2; ++w) {
    auto s = OpenStream(spec, w, 2);
    ASSERT_NE(s, nullptr);
    for (const std::string& l : Drain(s.get(), 4)) seen.insert(l);
    for (const auto& [k, v] : s->Positions()) EXPECT_TRUE(saved.emplace(k, v).second) << k << " in two shares";
  }
  EXPECT_EQ(seen.size(), 8u);
  // Three workers resume from the union and read the rest: every line exactly once.
  for (int w = 0; w < 3; ++w) {
    auto s = OpenStream(spec, w, 3, saved);
    ASSERT_NE(s, nullptr);
    bool finished = false;
    for (const std::string& l : Drain(s.get(), 1000, 300, &finished)) seen.insert(l);
    EXPECT_TRUE(finished);
  }
  EXPECT_EQ(seen, all);
  // Negative control: without the positions, the first lines are read again.
  auto again = OpenStream(spec, 0, 1);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(Drain(again.get(), 1), std::vector<std::string>{"f0-0"});
}

Status NextError(StreamSource* s) {
  for (int i = 0; i < 100; ++i) {
    StreamEvent e;
    bool got = false, finished = false;
    Status st = s->Next(&e, 100, &got, &finished);
    if (!st.ok()) return st;
    if (finished) break;
  }
  return Status::OK();
}

TEST(DirStream, RefusesShrunkReplacedAndOutOfOrderParts) {
  {
    TempDir d;
    d.Write("p1", Lines("a", 50));
    d.Write("p2", Lines("b", 5));
    auto s = OpenStream("dir://" + d.path(), 0, 1);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(Drain(s.get(), 2).size(), 2u);
    std::filesystem::resize_file(d.path() + "/p2", 3);
    Status st = NextError(s.get());
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("/p2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("shrank"), std::string::npos) << st.message();
  }
  {
    TempDir d;
    d.Write("p1", Lines("a", 3));
    d.Write("p2", Lines("b", 3));
    auto s = OpenStream("dir://" + d.path(), 0, 1);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(Drain(s.get(), 1).size(), 1u);
    d.Write("p2.new.tmp", Lines("c", 3), false);
    std::filesystem::rename(d.path() + "/p2.new.tmp", d.path() + "/p2");
    Status st = NextError(s.get());
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("/p2 was replaced"), std::string::npos) << st.message();
  }
  {
    TempDir d;
    d.Write("p2", Lines("b", 3));
    auto s = OpenStream("dir://" + d.path(), 0, 1);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(Drain(s.get(), 10).size(), 3u);
    d.Write("p1", Lines("a", 3));
    Status st = NextError(s.get());
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("/p1 appeared after p2"), std::string::npos) << st.message();
  }
  {  // negative control: a part that only gains a later sibling is fine
    TempDir d;
    d.Write("p1", Lines("a", 3));
    auto s = OpenStream("dir://" + d.path(), 0, 1);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(Drain(s.get(), 10).size(), 3u);
    d.Write("p2", Lines("b", 3));
    d.Touch("_SUCCESS");
    EXPECT_TRUE(NextError(s.get()).ok());
  }
}

TEST(StreamSpec, RecognisesAndRejectsSpecs) {
  EXPECT_TRUE(IsStreamSpec("dir://x"));
  EXPECT_TRUE(IsStreamSpec("kafka://h:1/t"));
  EXPECT_FALSE(IsStreamSpec("data/x.libffm"));
  KafkaAddress a;
  ASSERT_TRUE(ParseKafkaSpec("kafka://h1:9092,h2:9093/clicks", &a).ok());
  EXPECT_EQ(a.brokers, "h1:9092,h2:9093");
  EXPECT_EQ(a.topic, "clicks");
  for (const char* bad : {"kafka://h1/clicks", "kafka://h1:9092", "kafka://h1:9092/", "kafka://:1/t",
                          "kafka://h:1,h2/t", "kafka://h:x/t", "kafka://h:1/a/b"}) {
    EXPECT_FALSE(ParseKafkaSpec(bad, &a).ok()) << bad;
  }
  std::unique_ptr<StreamSource> s;
  EXPECT_FALSE(MakeStreamSource("ftp://x", StreamOptions{}, &s).ok());
  StreamOptions bad_index;
  bad_index.worker_index = 2;
  bad_index.num_workers = 2;
  EXPECT_FALSE(MakeStreamSource("dir://x", bad_index, &s).ok());
  ASSERT_TRUE(MakeStreamSource("dir://" + testing::TempDir() + "/no_such_embark_dir", StreamOptions{}, &s).ok());
  Status st = s->Open();
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("no_such_embark_dir is not a directory"), std::string::npos) << st.message();
}

class KafkaStreamTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.Start(1).ok());
    ASSERT_TRUE(cluster_.CreateTopic("events", 3).ok());
    spec_ = "kafka://" + cluster_.bootstraps() + "/events";
  }
  // Partition p gets "p<p>-<i>" for i in [from, from + n).
  void Produce(int from, int n) {
    for (int p = 0; p < 3; ++p) {
      ASSERT_TRUE(cluster_.Produce("events", p, Slice(p, from, n)).ok());
    }
  }
  static std::vector<std::string> Slice(int p, int from, int n) {
    std::vector<std::string> out;
    for (int i = from; i < from + n; ++i) out.push_back("p" + std::to_string(p) + "-" + std::to_string(i));
    return out;
  }
  KafkaMockCluster cluster_;
  std::string spec_;
};

TEST_F(KafkaStreamTest, WorkersSharePartitionsAndResumeAtSavedOffsets) {
  Produce(0, 10);
  std::multiset<std::string> seen;
  StreamPositions saved;
  for (int w = 0; w < 2; ++w) {
    auto s = OpenStream(spec_, w, 2);
    ASSERT_NE(s, nullptr);
    const auto& parts = static_cast<KafkaStream*>(s.get())->partitions();
    EXPECT_EQ(parts, w == 0 ? (std::vector<int32_t>{0, 2}) : (std::vector<int32_t>{1}));
    const size_t want = w == 0 ? 13 : 4;  // of 20 and 10 messages
    std::vector<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      for (const std::string& l : Drain(s.get(), want - got.size(), 500)) got.push_back(l);
    }
    ASSERT_EQ(got.size(), want);
    for (const std::string& l : got) {
      const int p = l[1] - '0';
      EXPECT_EQ(p % 2, w) << l << " read by worker " << w;
      seen.insert(l);
    }
    for (const auto& [k, v] : s->Positions()) saved[k] = v;
  }
  int64_t total = 0;
  for (const auto& [k, v] : saved) total += static_cast<int64_t>(v);
  EXPECT_EQ(total, 17);
  Produce(10, 5);
  // One worker resumes everything: exactly the 30 + 15 - 17 messages not read yet.
  auto s = OpenStream(spec_, 0, 1, saved);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> rest;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (rest.size() < 28 && std::chrono::steady_clock::now() < deadline) {
    for (const std::string& l : Drain(s.get(), 28 - rest.size(), 500)) rest.push_back(l);
  }
  EXPECT_EQ(rest.size(), 28u);
  EXPECT_TRUE(Drain(s.get(), 10, 700).empty());  // and nothing more
  for (const std::string& l : rest) seen.insert(l);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), 45u);
  EXPECT_EQ(seen.size(), 45u);
  EXPECT_EQ(s->Lag(), 0);
}

TEST_F(KafkaStreamTest, EventsNameTopicPartitionOffset) {
  Produce(0, 2);
  auto s = OpenStream(spec_, 1, 2);  // partition 1 only
  ASSERT_NE(s, nullptr);
  StreamEvent e;
  bool got = false, finished = false;
  for (int i = 0; i < 40 && !got; ++i) ASSERT_TRUE(s->Next(&e, 250, &got, &finished).ok());
  ASSERT_TRUE(got);
  EXPECT_EQ(e.line, "p1-0");
  EXPECT_EQ(e.Where(s->spec()), spec_ + " partition 1 offset 0");
  EXPECT_FALSE(finished);
}

TEST_F(KafkaStreamTest, AWorkerWithoutPartitionsIsFinished) {
  Produce(0, 2);
  auto idle = OpenStream(spec_, 3, 4);  // partitions 0..2 go to workers 0..2
  ASSERT_NE(idle, nullptr);
  StreamEvent e;
  bool got = true, finished = false;
  ASSERT_TRUE(idle->Next(&e, 100, &got, &finished).ok());
  EXPECT_FALSE(got);
  EXPECT_TRUE(finished);
  // Negative control: a worker with a partition is not finished, and gets its events.
  auto busy = OpenStream(spec_, 2, 4);
  ASSERT_NE(busy, nullptr);
  got = false;
  for (int i = 0; i < 40 && !got; ++i) {
    ASSERT_TRUE(busy->Next(&e, 250, &got, &finished).ok());
    EXPECT_FALSE(finished);
  }
  EXPECT_EQ(e.line, "p2-0");
}

TEST_F(KafkaStreamTest, DeletedOffsetAndUnknownTopicAreClearErrors) {
  Produce(0, 3);
  StreamPositions beyond{{"0", 1000}};
  auto s = OpenStream(spec_, 0, 1, beyond);
  ASSERT_NE(s, nullptr);
  Status st;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (st.ok() && std::chrono::steady_clock::now() < deadline) {
    StreamEvent e;
    bool got = false, finished = false;
    st = s->Next(&e, 250, &got, &finished);
  }
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("partition 0: offset 1000"), std::string::npos) << st.message();

  StreamOptions o;
  o.startup_timeout_s = 10;
  std::unique_ptr<StreamSource> unknown;
  ASSERT_TRUE(MakeStreamSource("kafka://" + cluster_.bootstraps() + "/no_such_topic", o, &unknown).ok());
  st = unknown->Open();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no_such_topic"), std::string::npos) << st.message();

  std::unique_ptr<StreamSource> bad_partition;
  o.start = {{"7", 0}};
  ASSERT_TRUE(MakeStreamSource(spec_, o, &bad_partition).ok());
  st = bad_partition->Open();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("partition '7'"), std::string::npos) << st.message();
}

TEST(KafkaStream, UnreachableBrokerFailsWithinTheStartupTimeout) {
  StreamOptions o;
  o.startup_timeout_s = 1.5;
  std::unique_ptr<StreamSource> s;
  // Port 1 on loopback: nothing listens there.
  ASSERT_TRUE(MakeStreamSource("kafka://127.0.0.1:1/events", o, &s).ok());
  const auto start = std::chrono::steady_clock::now();
  Status st = s->Open();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(st.code(), Status::Code::kTimeout) << st.ToString();
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.message();
  EXPECT_GE(seconds, 1.4);
  EXPECT_LT(seconds, 6);
}

}  // namespace
}  // namespace embark
