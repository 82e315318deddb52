// Input positions: a DataReader snapshot taken mid-epoch (with a shuffle buffer and queued
// batches) plus what was handed out before it covers every line of the epoch exactly once;
// re-split over 1..4 new workers, the remainders are read exactly once; the reader goes on
// unchanged after a snapshot; positions survive (de)serialisation and bad ones are refused.
#include "data/input_position.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/data_reader.h"

namespace embark {
namespace {

constexpr int kLines = 900;

// Two ratings files; line i (1-based over both) has rating i, so labels name lines.
class Files {
 public:
  Files() {
    std::string pattern = testing::TempDir() + "embark_position_XXXXXX";
    dir_ = mkdtemp(pattern.data());
    std::ofstream a(dir_ + "/a.tsv"), b(dir_ + "/b.tsv");
    for (int i = 1; i <= kLines; ++i) (i <= kLines / 3 ? a : b) << (i % 97) << "\t" << (i % 31) << "\t" << i << "\n";
  }
  ~Files() { std::filesystem::remove_all(dir_); }
  std::string spec() const { return dir_ + "/a.tsv," + dir_ + "/b.tsv"; }

 private:
  std::string dir_;
};

DataReaderOptions Options(const Files& f, int workers, int index) {
  DataReaderOptions o;
  o.format = DataFormat::kRatings;
  o.files = f.spec();
  o.num_workers = workers;
  o.worker_index = index;
  o.batch_size = 16;
  o.shuffle_buffer = 50;
  o.seed = 5;
  o.prefetch = 3;
  return o;
}

// Takes `batches` batches (or all if negative), appending their labels.
void Take(DataReader* r, int batches, std::vector<int>* labels) {
  for (int i = 0; batches < 0 || i < batches; ++i) {
    Batch b;
    bool end = false;
    ASSERT_TRUE(r->Next(&b, &end).ok());
    if (end) return;
    ASSERT_EQ(b.origins.size(), b.size());
    for (float l : b.labels) labels->push_back(static_cast<int>(l));
  }
}

void ExpectEachLineOnce(std::vector<int> labels) {
  std::sort(labels.begin(), labels.end());
  ASSERT_EQ(labels.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(labels[i], i + 1) << "line " << i + 1 << " missing or repeated";
}

TEST(InputPositionTest, SnapshotsResplitOverOneToFourWorkersReadEveryLineOnce) {
  Files f;
  // Two old workers cut at different points: early (shuffle buffer still filling), later, and
  // one that had read everything (nothing unread, only queued or held lines).
  for (int taken : {1, 7, 40}) {
    std::vector<int> before;
    std::vector<RemainingInput> old;
    for (int w = 0; w < 2; ++w) {
      DataReader r(Options(f, 2, w));
      ASSERT_TRUE(r.Open().ok());
      ASSERT_TRUE(r.StartEpoch(1).ok());
      Take(&r, taken + w, &before);
      RemainingInput rest;
      ASSERT_TRUE(r.Snapshot(&rest).ok());
      old.push_back(rest);
    }
    for (int workers = 1; workers <= 4; ++workers) {
      std::vector<RemainingInput> shares;
      ASSERT_TRUE(ResplitRemaining(old, workers, &shares).ok());
      ASSERT_EQ(shares.size(), static_cast<size_t>(workers));
      std::vector<int> all = before;
      for (int w = 0; w < workers; ++w) {
        DataReader r(Options(f, workers, w));
        ASSERT_TRUE(r.Open().ok());
        ASSERT_TRUE(r.StartEpoch(2, &shares[w]).ok());
        Take(&r, -1, &all);
      }
      SCOPED_TRACE("cut after " + std::to_string(taken) + " batches, " + std::to_string(workers) + " new workers");
      ExpectEachLineOnce(all);
    }
  }
}

TEST(InputPositionTest, ReaderContinuesUnchangedAfterASnapshot) {
  Files f;
  std::vector<int> uninterrupted, with_snapshot, after;
  {
    DataReader r(Options(f, 1, 0));
    ASSERT_TRUE(r.Open().ok());
    ASSERT_TRUE(r.StartEpoch(1).ok());
    Take(&r, -1, &uninterrupted);
  }
  DataReader r(Options(f, 1, 0));
  ASSERT_TRUE(r.Open().ok());
  ASSERT_TRUE(r.StartEpoch(1).ok());
  Take(&r, 10, &with_snapshot);
  RemainingInput rest;
  ASSERT_TRUE(r.Snapshot(&rest).ok());
  Take(&r, -1, &after);
  with_snapshot.insert(with_snapshot.end(), after.begin(), after.end());
  EXPECT_EQ(with_snapshot, uninterrupted) << "a snapshot changed what the reader hands out";
  // The snapshot describes exactly the lines handed out after it.
  std::vector<int> resumed;
  DataReader again(Options(f, 1, 0));
  ASSERT_TRUE(again.Open().ok());
  ASSERT_TRUE(again.StartEpoch(1, &rest).ok());
  Take(&again, -1, &resumed);
  std::sort(after.begin(), after.end());
  std::sort(resumed.begin(), resumed.end());
  EXPECT_EQ(resumed, after);
  EXPECT_FALSE(rest.pending.empty()) << "with a shuffle buffer some lines are read but not handed out";
}

TEST(InputPositionTest, EncodeDecodeRoundTripAndRefusals) {
  InputPosition p;
  p.epoch = 3;
  p.clock = 17;
  p.examples = 1088;
  p.loss_sum = 12.5;
  p.input.files = {"a", "b"};
  p.input.sizes = {100, 50};
  p.input.ranges = {{0, 40, 100}, {1, 0, 50}};
  p.input.pending = {3, 10, 120};
  InputPosition q;
  ASSERT_TRUE(DecodePosition(EncodePosition(p), "pos", &q).ok());
  EXPECT_EQ(q.epoch, 3);
  EXPECT_EQ(q.clock, 17u);
  EXPECT_EQ(q.examples, 1088u);
  EXPECT_EQ(q.loss_sum, 12.5);
  EXPECT_EQ(q.input.files, p.input.files);
  EXPECT_EQ(q.input.pending, p.input.pending);
  ASSERT_EQ(q.input.ranges.size(), 2u);
  EXPECT_EQ(q.input.ranges[0].begin, 40u);
  EXPECT_EQ(q.input.RangeBytes(), 110u);

  const std::string bytes = EncodePosition(p);
  Status st = DecodePosition(bytes.substr(0, bytes.size() / 2), "worker-0.position", &q);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("worker-0.position"), std::string::npos) << st.message();
  InputPosition bad = p;
  bad.input.ranges[1].end = 51;  // past the end of file b
  EXPECT_FALSE(DecodePosition(EncodePosition(bad), "x", &q).ok());
  bad = p;
  bad.input.pending = {10, 3};
  EXPECT_FALSE(DecodePosition(EncodePosition(bad), "x", &q).ok());
  bad = p;
  bad.input.pending = {150};  // past the end of the stream
  EXPECT_FALSE(DecodePosition(EncodePosition(bad), "x", &q).ok());
}

TEST(InputPositionTest, ResplitBalancesAndRefusesMixedInputs) {
  RemainingInput a, b;
  a.files = b.files = {"f"};
  a.sizes = b.sizes = {1000};
  a.ranges = {{0, 0, 300}};
  b.ranges = {{0, 500, 800}};
  a.pending = {1, 5, 9};
  b.pending = {2, 700};
  std::vector<RemainingInput> out;
  ASSERT_TRUE(ResplitRemaining({a, b}, 3, &out).ok());
  for (const RemainingInput& r : out) EXPECT_EQ(r.RangeBytes(), 200u);  // 600 bytes over 3
  EXPECT_EQ(out[0].pending, (std::vector<uint64_t>{1}));  // 5 lines over 3, in offset order
  EXPECT_EQ(out[1].pending, (std::vector<uint64_t>{2, 5}));
  EXPECT_EQ(out[2].pending, (std::vector<uint64_t>{9, 700}));
  EXPECT_EQ(out[1].ranges.size(), 2u) << "the middle share spans the end of one range and the start of the next";
  b.sizes = {999};
  EXPECT_EQ(ResplitRemaining({a, b}, 2, &out).code(), Status::Code::kInvalidArgument);
}

TEST(InputPositionTest, ResumeRefusesChangedFiles) {
  Files f;
  DataReader r(Options(f, 1, 0));
  ASSERT_TRUE(r.Open().ok());
  RemainingInput rest;
  rest.files = r.files();
  rest.sizes = {1, 2};
  Status st = r.StartEpoch(1, &rest);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("a.tsv has"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace embark
