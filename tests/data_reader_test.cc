// Tests for data/data_reader.h and data/shuffle_buffer.h: bad-line policies, sharding over
// workers, batching, shuffling determinism, and clean shutdown.
#include "data/data_reader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "data/shuffle_buffer.h"

namespace embark {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "embark_reader_XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::string path_;
};

DataReaderOptions Options(DataFormat format, const std::string& files) {
  DataReaderOptions o;
  o.format = format;
  o.files = files;
  o.batch_size = 4;
  o.read_buffer_bytes = 64;  // small, so reads cross buffer boundaries
  return o;
}

// Reads one whole epoch; returns the status of the last Next().
Status ReadEpoch(DataReader* reader, int epoch, std::vector<Batch>* batches) {
  batches->clear();
  EMBARK_RETURN_IF_ERROR(reader->StartEpoch(epoch));
  for (;;) {
    Batch b;
    bool end = false;
    EMBARK_RETURN_IF_ERROR(reader->Next(&b, &end));
    if (end) return Status::OK();
    batches->push_back(std::move(b));
  }
}

std::vector<float> Labels(const std::vector<Batch>& batches) {
  std::vector<float> out;
  for (const Batch& b : batches) out.insert(out.end(), b.labels.begin(), b.labels.end());
  return out;
}

// A ratings file whose line i is "u<i>,i<i>,<i>", so the label identifies the line.
std::string NumberedRatings(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += "u" + std::to_string(i) + ",i" + std::to_string(i) + "," + std::to_string(i) + "\n";
  }
  return s;
}

// Fail mode: the bad line at line 3 stops the reader with PATH:3: reason.
// `detail` is what field_out_of_range adds after the reason, "" for the others.
void ExpectFailsAtLine3(DataFormat format, const std::string& good, const std::string& bad,
                        BadLineReason reason, const std::string& detail = "",
                        uint32_t num_fields = 0) {
  TempDir dir;
  std::string path = dir.Write("data", good + "\n" + good + "\n" + bad + "\n" + good + "\n");
  std::vector<Batch> batches;
  DataReaderOptions options = Options(format, path);
  options.parser.num_fields = num_fields;
  Status s = ReadAll(options, &batches);
  EXPECT_EQ(s.code(), Status::Code::kCorruption) << bad;
  const std::string want = path + ":3: " + BadLineReasonName(reason) + detail + ": " + bad;
  EXPECT_EQ(s.message(), want);
}

TEST(DataReaderTest, FailModeNamesPathLineAndReason) {
  const DataFormat svm = DataFormat::kLibsvm;
  ExpectFailsAtLine3(svm, "1 a:1", "2:1 3:1", BadLineReason::kWrongFieldCount);
  ExpectFailsAtLine3(svm, "1 a:1", "1 a", BadLineReason::kBadFeature);
  ExpectFailsAtLine3(svm, "1 a:1", "1 a:b", BadLineReason::kNonNumeric);
  ExpectFailsAtLine3(svm, "1 a:1", "nan a:1", BadLineReason::kNonFinite);
  ExpectFailsAtLine3(svm, "1 a:1", "3 a:1", BadLineReason::kLabelOutOfRange);
  ExpectFailsAtLine3(DataFormat::kLibffm, "1 1:a:1", "1 99999:a:1",
                     BadLineReason::kFieldOutOfRange, " (field 99999 is not in 0..65535)");
  // A field the model has no room for (ParserOptions::num_fields) names the field.
  ExpectFailsAtLine3(DataFormat::kLibffm, "1 0:a:1 9:b:1", "1 0:a:1 10:b:1 11:c:1",
                     BadLineReason::kFieldOutOfRange,
                     " (field 10 but the model has num_fields 10 (fields 0..9))", 10);
  ExpectFailsAtLine3(DataFormat::kRatings, "1,2,3", "1,2,3,4,5", BadLineReason::kWrongFieldCount);
}

TEST(DataReaderTest, FailModeTrueLineNumberForLaterWorker) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 40; ++i) content += "1 a:1\n";
  content += "1 a:oops\n";  // line 41, in the last worker's range
  std::string path = dir.Write("data", content);
  DataReaderOptions o = Options(DataFormat::kLibsvm, path);
  o.num_workers = 3;
  o.worker_index = 2;
  std::vector<Batch> batches;
  Status s = ReadAll(o, &batches);
  EXPECT_EQ(s.message(), path + ":41: non_numeric: 1 a:oops");
  o.worker_index = 0;  // the other workers never see it
  EXPECT_TRUE(ReadAll(o, &batches).ok());
}

TEST(DataReaderTest, LongBadLineIsCut) {
  TempDir dir;
  std::string bad = "1 a:x" + std::string(200, ' ') + "b:1";
  std::string path = dir.Write("data", bad + "\n");
  std::vector<Batch> batches;
  Status s = ReadAll(Options(DataFormat::kLibsvm, path), &batches);
  EXPECT_FALSE(s.ok());
  EXPECT_LT(s.message().size(), path.size() + 120);
  EXPECT_NE(s.message().find("..."), std::string::npos);
}

TEST(DataReaderTest, SkipModeCountsEveryReason) {
  TempDir dir;
  std::string svm = dir.Write("a.svm",
                              "1 a:1\n"
                              "2:1\n"          // wrong_field_count
                              "0 x\n"          // bad_feature
                              "1 :1\n"         // bad_feature
                              "-1 b:zz\n"      // non_numeric
                              "inf a:1\n"      // non_finite
                              "1 a:nan\n"      // non_finite
                              "1 a:1e99\n"     // non_finite
                              "5 a:1\n"        // label_out_of_range
                              "\n   \n"        // blank: not counted
                              "-1 c:2\n");
  dir.Write("b.svm", "");  // empty file
  DataReaderOptions o = Options(DataFormat::kLibsvm, dir.path());
  o.bad_lines = BadLinePolicy::kSkip;
  std::vector<Batch> batches;
  BadLineCounts counts;
  ASSERT_TRUE(ReadAll(o, &batches, &counts).ok());
  EXPECT_EQ(Labels(batches), (std::vector<float>{1, 0}));
  const BadLineCounts want = {{BadLineReason::kWrongFieldCount, 1},
                              {BadLineReason::kBadFeature, 2},
                              {BadLineReason::kNonNumeric, 1},
                              {BadLineReason::kNonFinite, 3},
                              {BadLineReason::kLabelOutOfRange, 1},
                              {BadLineReason::kEmptyFile, 1}};
  EXPECT_EQ(counts, want) << FormatBadLineCounts(counts);

  std::string ffm = dir.Write("c.ffm", "1 1:a:1\n1 70000:a:1\n0 2:b:1\n");
  DataReaderOptions f = Options(DataFormat::kLibffm, ffm);
  f.bad_lines = BadLinePolicy::kSkip;
  ASSERT_TRUE(ReadAll(f, &batches, &counts).ok());
  EXPECT_EQ(counts, (BadLineCounts{{BadLineReason::kFieldOutOfRange, 1}}));
  EXPECT_EQ(Labels(batches), (std::vector<float>{1, 0}));
}

TEST(DataReaderTest, SkipModeCountsOverWorkersAddUp) {
  TempDir dir;
  std::string content;
  int bad = 0;
  for (int i = 0; i < 60; ++i) {
    if (i % 7 == 3) {
      content += "1 a:x\n";
      ++bad;
    } else {
      content += "1 a:1\n";
    }
  }
  std::string path = dir.Write("data", content);
  dir.Write("empty", "");
  for (int w = 1; w <= 4; ++w) {
    uint64_t skipped = 0, empty = 0, examples = 0;
    for (int k = 0; k < w; ++k) {
      DataReaderOptions o = Options(DataFormat::kLibsvm, dir.path());
      o.bad_lines = BadLinePolicy::kSkip;
      o.num_workers = w;
      o.worker_index = k;
      std::vector<Batch> batches;
      BadLineCounts counts;
      ASSERT_TRUE(ReadAll(o, &batches, &counts).ok());
      skipped += counts[BadLineReason::kNonNumeric];
      empty += counts[BadLineReason::kEmptyFile];
      examples += Labels(batches).size();
    }
    EXPECT_EQ(skipped, static_cast<uint64_t>(bad)) << w;
    EXPECT_EQ(empty, 1u) << w;
    EXPECT_EQ(examples, static_cast<uint64_t>(60 - bad)) << w;
  }
}

TEST(DataReaderTest, MissingAndEmptyFiles) {
  TempDir dir;
  std::string good = dir.Write("good", "1 a:1\n");
  std::string missing = dir.path() + "/missing";
  DataReader r1(Options(DataFormat::kLibsvm, good + "," + missing));
  Status s = r1.Open();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find(missing), std::string::npos) << s.ToString();

  std::string empty = dir.Write("empty", "");
  DataReader r2(Options(DataFormat::kLibsvm, good + "," + empty));
  s = r2.Open();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(empty), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("empty_file"), std::string::npos) << s.ToString();

  // Only empty files: an error even when skipping.
  DataReaderOptions o = Options(DataFormat::kLibsvm, empty);
  o.bad_lines = BadLinePolicy::kSkip;
  DataReader r3(o);
  EXPECT_FALSE(r3.Open().ok());

  DataReader r4(Options(DataFormat::kLibsvm, good));
  Batch b;
  bool end;
  EXPECT_FALSE(r4.Next(&b, &end).ok());  // before StartEpoch
  EXPECT_FALSE(r4.StartEpoch(0).ok());   // before Open
}

TEST(DataReaderTest, BatchSizesAndContents) {
  TempDir dir;
  std::string path = dir.Write("r.csv", NumberedRatings(10));
  DataReaderOptions o = Options(DataFormat::kRatings, path);
  o.batch_size = 4;
  DataReader reader(o);
  ASSERT_TRUE(reader.Open().ok());
  std::vector<Batch> batches;
  ASSERT_TRUE(ReadEpoch(&reader, 0, &batches).ok());
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 4u);
  EXPECT_EQ(batches[1].size(), 4u);
  EXPECT_EQ(batches[2].size(), 2u);
  EXPECT_EQ(reader.examples_read(), 10u);
  EXPECT_EQ(Labels(batches), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  // Batch 1, example 1 is line 5: user u5, item i5.
  const Batch& b = batches[1];
  EXPECT_EQ(b.offsets, (std::vector<uint32_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(b.keys[2], FeatureKey(0, "u5"));
  EXPECT_EQ(b.keys[3], FeatureKey(1, "i5"));
  EXPECT_EQ(b.fields[3], 1);
  // Next after the end keeps saying end of epoch.
  Batch extra;
  bool end = false;
  ASSERT_TRUE(reader.Next(&extra, &end).ok());
  EXPECT_TRUE(end);
  EXPECT_TRUE(extra.empty());
}

TEST(DataReaderTest, WorkersTogetherReadEveryLineOnce) {
  TempDir dir;
  // Three files of odd sizes, one without a trailing newline; labels 0..N-1 identify lines.
  std::string all = NumberedRatings(57);
  size_t cut1 = all.find("u13,"), cut2 = all.find("u40,");
  dir.Write("p1", all.substr(0, cut1));
  dir.Write("p2", all.substr(cut1, cut2 - cut1));
  dir.Write("p3", all.substr(cut2, all.size() - cut2 - 1));  // drop the last '\n'
  for (int w = 1; w <= 4; ++w) {
    std::vector<float> labels;
    for (int k = 0; k < w; ++k) {
      DataReaderOptions o = Options(DataFormat::kRatings, dir.path() + "/p*");
      o.num_workers = w;
      o.worker_index = k;
      o.shuffle_buffer = 5;
      std::vector<Batch> batches;
      ASSERT_TRUE(ReadAll(o, &batches).ok());
      std::vector<float> mine = Labels(batches);
      labels.insert(labels.end(), mine.begin(), mine.end());
    }
    std::sort(labels.begin(), labels.end());
    std::vector<float> want(57);
    std::iota(want.begin(), want.end(), 0.0f);
    EXPECT_EQ(labels, want) << "W=" << w;
  }
}

// The held-out slice (validation) and the rest (training) split the lines exactly, choose the
// same lines for any number of workers, with or without shuffling, and follow IsHeldOut.
TEST(DataReaderTest, HoldoutSplitsTheLinesTheSameWayForAnyNumberOfWorkers) {
  TempDir dir;
  const int n = 400;
  const std::string all = NumberedRatings(n);
  dir.Write("p1", all.substr(0, all.find("u150,")));
  dir.Write("p2", all.substr(all.find("u150,")));
  std::vector<float> expected_held;
  for (int i = 0; i < n; ++i) {
    const std::string line = "u" + std::to_string(i) + ",i" + std::to_string(i) + "," + std::to_string(i);
    if (IsHeldOut(line, 0.2, 9)) expected_held.push_back(static_cast<float>(i));
  }
  // About a fifth (a binomial(400, 0.2) count is within 40..120 with overwhelming odds).
  EXPECT_GT(expected_held.size(), 40u);
  EXPECT_LT(expected_held.size(), 120u);
  for (int w = 1; w <= 3; ++w) {
    std::vector<float> held, rest;
    uint64_t left_out = 0;
    for (int k = 0; k < w; ++k) {
      for (auto side : {DataReaderOptions::Holdout::kOnly, DataReaderOptions::Holdout::kSkip}) {
        DataReaderOptions o = Options(DataFormat::kRatings, dir.path() + "/p*");
        o.num_workers = w;
        o.worker_index = k;
        o.shuffle_buffer = side == DataReaderOptions::Holdout::kSkip ? 7 : 0;
        o.holdout = side;
        o.holdout_fraction = 0.2;
        o.holdout_seed = 9;
        DataReader reader(o);
        ASSERT_TRUE(reader.Open().ok());
        std::vector<Batch> batches;
        ASSERT_TRUE(ReadEpoch(&reader, 1, &batches).ok());
        left_out += reader.lines_left_out();
        std::vector<float> mine = Labels(batches);
        auto& into = side == DataReaderOptions::Holdout::kOnly ? held : rest;
        into.insert(into.end(), mine.begin(), mine.end());
      }
    }
    std::sort(held.begin(), held.end());
    EXPECT_EQ(held, expected_held) << "W=" << w;
    EXPECT_EQ(held.size() + rest.size(), static_cast<size_t>(n)) << "W=" << w;
    EXPECT_EQ(left_out, static_cast<uint64_t>(n)) << "every line is left out by exactly one side";
    std::vector<float> both = held;
    both.insert(both.end(), rest.begin(), rest.end());
    std::sort(both.begin(), both.end());
    std::vector<float> want(n);
    std::iota(want.begin(), want.end(), 0.0f);
    EXPECT_EQ(both, want) << "W=" << w;
  }
  // Another seed holds out other lines.
  int same = 0;
  for (int i = 0; i < n; ++i) {
    const std::string line = "u" + std::to_string(i) + ",i" + std::to_string(i) + "," + std::to_string(i);
    same += IsHeldOut(line, 0.2, 9) == IsHeldOut(line, 0.2, 10);
  }
  EXPECT_LT(same, n - 20);
}

TEST(DataReaderTest, HoldoutIsRefusedOnStreamsAndOutsideZeroToOne) {
  DataReaderOptions o = Options(DataFormat::kRatings, "/nonexistent");
  o.holdout = DataReaderOptions::Holdout::kSkip;
  o.holdout_fraction = 1;
  EXPECT_EQ(DataReader(o).Open().code(), Status::Code::kInvalidArgument);
  o.holdout_fraction = 0.1;
  o.files = "dir:///nonexistent";
  Status st = DataReader(o).Open();
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("a stream cannot hold lines out"), std::string::npos) << st.message();
}

TEST(DataReaderTest, ShuffleKeepsExamplesChangesOrderDeterministically) {
  TempDir dir;
  std::string path = dir.Write("r.csv", NumberedRatings(100));
  DataReaderOptions o = Options(DataFormat::kRatings, path);
  o.shuffle_buffer = 10;
  o.batch_size = 7;
  o.seed = 99;
  DataReader reader(o);
  ASSERT_TRUE(reader.Open().ok());
  std::vector<Batch> e0, e0_again, e1;
  ASSERT_TRUE(ReadEpoch(&reader, 0, &e0).ok());
  ASSERT_TRUE(ReadEpoch(&reader, 1, &e1).ok());
  DataReader twin(o);
  ASSERT_TRUE(twin.Open().ok());
  ASSERT_TRUE(ReadEpoch(&twin, 0, &e0_again).ok());

  ASSERT_EQ(e0.size(), 15u);  // 14 full batches of 7, one of 2
  for (size_t i = 0; i + 1 < e0.size(); ++i) EXPECT_EQ(e0[i].size(), 7u);
  EXPECT_EQ(e0.back().size(), 2u);

  std::vector<float> order0 = Labels(e0), order1 = Labels(e1);
  std::vector<float> identity(100);
  std::iota(identity.begin(), identity.end(), 0.0f);
  EXPECT_NE(order0, identity);
  EXPECT_NE(order0, order1);                 // a new epoch shuffles differently
  EXPECT_EQ(order0, Labels(e0_again));       // same seed and epoch: same order
  // Features travel with their example: example with label L has user uL, item iL.
  for (const Batch& b : e0) {
    for (size_t e = 0; e < b.size(); ++e) {
      const std::string n = std::to_string(static_cast<int>(b.labels[e]));
      EXPECT_EQ(b.keys[b.offsets[e]], FeatureKey(0, "u" + n));
      EXPECT_EQ(b.keys[b.offsets[e] + 1], FeatureKey(1, "i" + n));
    }
  }
  std::sort(order0.begin(), order0.end());
  std::sort(order1.begin(), order1.end());
  EXPECT_EQ(order0, identity);
  EXPECT_EQ(order1, identity);
}

TEST(DataReaderTest, ShuffleBufferBoundsDisplacement) {
  // The k-th example out was emitted when input k+capacity arrived (or during the drain), so
  // its input index is at most k + capacity.
  Batch input;
  for (int i = 0; i < 50; ++i) {
    input.AddFeature(static_cast<uint64_t>(i), 1.0f, 0);
    input.EndExample(static_cast<float>(i));
  }
  ShuffleBuffer buf(8, 7);
  Batch out;
  for (size_t i = 0; i < input.size(); ++i) {
    EXPECT_EQ(buf.Add(input, i, &out), i >= 8);
    EXPECT_EQ(buf.size(), std::min<size_t>(i + 1, 8));
  }
  while (buf.PopRandom(&out)) {
  }
  ASSERT_EQ(out.size(), 50u);
  for (size_t k = 0; k < out.size(); ++k) {
    EXPECT_LE(out.labels[k], static_cast<float>(k + 8));  // emitted after it arrived
    EXPECT_EQ(out.keys[k], static_cast<uint64_t>(out.labels[k]));
  }
  ShuffleBuffer pass(0, 7);
  Batch same;
  for (size_t i = 0; i < input.size(); ++i) EXPECT_TRUE(pass.Add(input, i, &same));
  EXPECT_EQ(same.labels, input.labels);
}

TEST(DataReaderTest, ClickLabelsAndLibffmFields) {
  TempDir dir;
  std::string svm = dir.Write("a.svm", "-1 a:1\n+1 b:1\n0 c:1\n1 d:1\n");
  std::vector<Batch> batches;
  ASSERT_TRUE(ReadAll(Options(DataFormat::kLibsvm, svm), &batches).ok());
  EXPECT_EQ(Labels(batches), (std::vector<float>{0, 1, 0, 1}));

  std::string ffm = dir.Write("a.ffm", "1 0:x:1 5:x:0.5\n-1 65535:y:2\n");
  ASSERT_TRUE(ReadAll(Options(DataFormat::kLibffm, ffm), &batches).ok());
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  EXPECT_EQ(b.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(b.fields, (std::vector<uint16_t>{0, 5, 65535}));
  EXPECT_EQ(b.keys, (std::vector<uint64_t>{FeatureKey(0, "x"), FeatureKey(5, "x"),
                                           FeatureKey(65535, "y")}));
  EXPECT_EQ(b.values, (std::vector<float>{1, 0.5f, 2}));
}

TEST(DataReaderTest, RatingsSeparatorsAndHeaderPerFile) {
  TempDir dir;
  dir.Write("1_tab", "1\t10\t1\t978300760\n2\t20\t2\n");
  dir.Write("2_comma", "userId,movieId,rating,timestamp\r\n3,30,3,1\r\n4,40,4,1\r\n");
  dir.Write("3_colons", "5::50::5::97\n6::60::1.5::97");
  dir.Write("4_spaces", "user item rating\n7  70  2.5\n");
  std::vector<Batch> batches;
  DataReaderOptions o = Options(DataFormat::kRatings, dir.path());
  o.batch_size = 100;
  ASSERT_TRUE(ReadAll(o, &batches).ok());
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].labels, (std::vector<float>{1, 2, 3, 4, 5, 1.5f, 2.5f}));
  EXPECT_EQ(batches[0].keys[8], FeatureKey(0, "5"));
  EXPECT_EQ(batches[0].keys[9], FeatureKey(1, "50"));
  // Split over 3 workers the headers are still recognised only on line 1 of each file.
  std::vector<float> labels;
  for (int k = 0; k < 3; ++k) {
    o.num_workers = 3;
    o.worker_index = k;
    ASSERT_TRUE(ReadAll(o, &batches).ok()) << k;
    for (float l : Labels(batches)) labels.push_back(l);
  }
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<float>{1, 1.5f, 2, 2.5f, 3, 4, 5}));
}

TEST(DataReaderTest, StopsCleanlyMidEpoch) {
  TempDir dir;
  std::string path = dir.Write("r.csv", NumberedRatings(2000));
  DataReaderOptions o = Options(DataFormat::kRatings, path);
  o.batch_size = 1;
  o.prefetch = 1;
  o.next_timeout_ms = 10000;
  {
    DataReader reader(o);
    ASSERT_TRUE(reader.Open().ok());
    ASSERT_TRUE(reader.StartEpoch(0).ok());
    Batch b;
    bool end = false;
    ASSERT_TRUE(reader.Next(&b, &end).ok());
    EXPECT_EQ(b.labels, (std::vector<float>{0}));
    // Restarting mid-epoch discards the rest and begins again from the first line.
    ASSERT_TRUE(reader.StartEpoch(1).ok());
    ASSERT_TRUE(reader.Next(&b, &end).ok());
    EXPECT_EQ(b.labels, (std::vector<float>{0}));
    ASSERT_TRUE(reader.Next(&b, &end).ok());
    EXPECT_EQ(b.labels, (std::vector<float>{1}));
  }  // destroyed while the reader thread waits for queue space: must join, not hang
  {
    DataReader never_started(o);
    ASSERT_TRUE(never_started.Open().ok());
  }
}

}  // namespace
}  // namespace embark
