// Stream positions in checkpoints: a DataReader on dir:// stamps every batch with where its
// share stands once the batch is trained, and a reader started at a batch's stamp (on another
// worker count) reads exactly the lines after it; stream cuts survive the position encoding
// (and version 1 positions still read), merge across workers and refuse another stream or
// a conflict; the trained log is cut back to a committed length and refuses a short one.
#include "data/stream_position.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tests/test_files.h"
#include "data/data_reader.h"
#include "data/input_position.h"
#include "worker/trained_log.h"

namespace embark {
namespace {

constexpr int kParts = 5;
constexpr int kPerPart = 37;

// kParts complete parts; line n of part p has the label-free libsvm id p * 1000 + n.
std::string MakeParts(const std::string& name) {
  const std::string dir = FreshDir(name);
  for (int p = 0; p < kParts; ++p) {
    std::ofstream f(dir + "/part-" + std::to_string(p));
    for (int n = 1; n <= kPerPart; ++n) f << "1 " << (p * 1000 + n) << ":1\n";
  }
  std::ofstream(dir + "/_SUCCESS").close();
  return dir;
}

DataReaderOptions StreamOptionsFor(const std::string& dir, int workers, int index) {
  DataReaderOptions o;
  o.format = DataFormat::kLibsvm;
  o.files = "dir://" + dir;
  o.num_workers = workers;
  o.worker_index = index;
  o.batch_size = 8;
  o.event_ids = true;
  o.stream_flush_ms = 20;
  return o;
}

// Every batch of one reader, in order; *start: where its share started.
std::vector<Batch> ReadAllBatches(const DataReaderOptions& o, StreamPositions* start = nullptr) {
  DataReader reader(o);
  EXPECT_TRUE(reader.Open().ok());
  EXPECT_TRUE(reader.StartEpoch(1).ok());
  if (start != nullptr) *start = reader.stream_open_positions();
  std::vector<Batch> out;
  for (;;) {
    Batch b;
    bool end = false;
    Status st = reader.Next(&b, &end);
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok() || end) break;
    out.push_back(std::move(b));
  }
  return out;
}

std::string Id(const Batch& b, size_t i) { return b.event_keys[i] + ":" + std::to_string(b.event_numbers[i]); }

TEST(StreamPosition, BatchStampsResumeExactlyOnceOnAnotherWorkerCount) {
  const std::string dir = MakeParts("stamps");
  // Two workers; each "trains" its first 3 batches, then the job stops at that cut.
  std::set<std::string> trained;
  std::vector<StreamCut> cuts;
  for (int w = 0; w < 2; ++w) {
    StreamPositions at;
    std::vector<Batch> batches = ReadAllBatches(StreamOptionsFor(dir, 2, w), &at);
    ASSERT_GT(batches.size(), 3u);
    // Three batches trained: the start moved by their entries, as the trainer keeps it.
    for (int k = 0; k < 3; ++k) {
      for (size_t i = 0; i < batches[k].size(); ++i) EXPECT_TRUE(trained.insert(Id(batches[k], i)).second);
      for (const auto& [key, next] : batches[k].stream_after) at[key] = next;
    }
    StreamCut c;
    c.stream = StreamIdentity("dir://" + dir);
    c.next = at;
    c.trained_logs[w] = 100 + w;
    cuts.push_back(c);
    // A stamp names only the worker's own parts (0, 2, 4 or 1, 3).
    for (const auto& [name, offset] : c.next) EXPECT_EQ((name.back() - '0') % 2, w) << name;
  }
  StreamCut merged;
  ASSERT_TRUE(MergeStreamCuts(cuts, "dir://" + dir + "/", "ck", &merged).ok());
  EXPECT_EQ(merged.next.size(), static_cast<size_t>(kParts));
  // Resumed on three workers from the merged positions: every remaining line exactly once.
  const std::vector<StreamResume> resume = AssignStreamResume(merged, 3);
  ASSERT_EQ(resume.size(), 3u);
  EXPECT_EQ(resume[0].truncate.size(), 1u);
  EXPECT_EQ(resume[1].truncate.at(1), 101u);
  EXPECT_TRUE(resume[2].truncate.empty());
  for (int w = 0; w < 3; ++w) {
    DataReaderOptions o = StreamOptionsFor(dir, 3, w);
    o.stream_start = resume[w].start;
    for (const Batch& b : ReadAllBatches(o))
      for (size_t i = 0; i < b.size(); ++i) EXPECT_TRUE(trained.insert(Id(b, i)).second) << "twice: " << Id(b, i);
  }
  EXPECT_EQ(trained.size(), static_cast<size_t>(kParts * kPerPart));
}

TEST(StreamPosition, EncodesWithThePositionAndReadsVersionOne) {
  InputPosition pos;
  pos.epoch = 1;
  pos.clock = 7;
  pos.has_stream = true;
  pos.stream.stream = StreamIdentity("kafka://127.0.0.1:9/clicks");
  pos.stream.next = {{"0", 12}, {"2", 40}};
  pos.stream.trained_logs = {{0, 333}};
  InputPosition back;
  ASSERT_TRUE(DecodePosition(EncodePosition(pos), "p", &back).ok());
  EXPECT_TRUE(back.has_stream);
  EXPECT_EQ(back.stream.stream, "kafka clicks");
  EXPECT_EQ(back.stream.next, pos.stream.next);
  EXPECT_EQ(back.stream.trained_logs, pos.stream.trained_logs);
  EXPECT_EQ(back.clock, 7u);
  // Version 1 (no stream section) reads as before.
  InputPosition files;
  files.epoch = 2;
  files.input.files = {"a"};
  files.input.sizes = {10};
  files.input.ranges = {{0, 3, 10}};
  ASSERT_TRUE(DecodePosition(EncodePosition(files), "p", &back).ok());
  EXPECT_FALSE(back.has_stream);
  EXPECT_EQ(back.input.ranges.size(), 1u);
  // An unknown section is refused, naming the file.
  std::string bytes = EncodePosition(files);
  bytes += std::string("\x07\x00\x00\x00", 4);
  Status st = DecodePosition(bytes, "ck/worker-0.position", &back);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ck/worker-0.position: unknown section 7"), std::string::npos) << st.message();
  // A truncated stream section is refused too.
  bytes = EncodePosition(pos);
  bytes.resize(bytes.size() - 3);
  EXPECT_FALSE(DecodePosition(bytes, "p", &back).ok());
}

TEST(StreamPosition, MergeRefusesAnotherStreamAndConflicts) {
  StreamCut a, b;
  a.stream = b.stream = StreamIdentity("kafka://h:1/clicks");
  a.next = {{"0", 5}};
  b.next = {{"1", 9}};
  StreamCut merged;
  // The brokers may move: the identity is the topic.
  ASSERT_TRUE(MergeStreamCuts({a, b}, "kafka://other:2,other:3/clicks", "ck", &merged).ok());
  EXPECT_EQ(merged.next.size(), 2u);
  Status st = MergeStreamCuts({a, b}, "kafka://h:1/views", "ck", &merged);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("kafka clicks"), std::string::npos) << st.message();
  b.next = {{"0", 6}};
  st = MergeStreamCuts({a, b}, "kafka://h:1/clicks", "ck", &merged);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("'0'"), std::string::npos) << st.message();
}

TEST(TrainedLog, CommitsCutsBackAndRefusesAShortLog) {
  const std::string dir = FreshDir("log");
  const std::string path = dir + "/tl";
  Batch b;
  for (int i = 0; i < 3; ++i) {
    b.AddFeature(1, 1, 0);
    b.EndExample(1);
    b.event_keys.push_back("part-0");
    b.event_numbers.push_back(i + 1);
  }
  uint64_t committed = 0;
  {
    TrainedLog log;
    ASSERT_TRUE(log.Open(path, 0, {}, /*fresh=*/true).ok());
    ASSERT_TRUE(log.Append(b).ok());
    ASSERT_TRUE(log.Commit(&committed).ok());
    ASSERT_TRUE(log.Append(b).ok());  // after the "cut": a killed run's tail
    uint64_t all = 0;
    ASSERT_TRUE(log.Commit(&all).ok());
    EXPECT_EQ(all, 2 * committed);
  }
  EXPECT_EQ(Slurp(path + ".0"), "part-0\t1\npart-0\t2\npart-0\t3\npart-0\t1\npart-0\t2\npart-0\t3\n");
  {
    // Resumed as worker 1 of a smaller job: it cuts log 0 back, then appends to log 1.
    TrainedLog log;
    ASSERT_TRUE(log.Open(path, 1, {{0, committed}}, /*fresh=*/false).ok());
    ASSERT_TRUE(log.Commit(nullptr).ok());
  }
  EXPECT_EQ(Slurp(path + ".0"), "part-0\t1\npart-0\t2\npart-0\t3\n");
  TrainedLog log;
  Status st = log.Open(path, 0, {{0, committed + 1}}, false);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find(path + ".0"), std::string::npos) << st.message();
  // A batch without ids is an internal error, not a silent gap.
  TrainedLog other;
  ASSERT_TRUE(other.Open(path, 2, {}, true).ok());
  Batch bare;
  bare.AddFeature(1, 1, 0);
  bare.EndExample(0);
  EXPECT_FALSE(other.Append(bare).ok());
}

}  // namespace
}  // namespace embark
