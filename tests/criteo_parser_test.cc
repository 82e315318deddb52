// Tests for the criteo format of data/line_parser.h: separators, header and layout detection,
// log-binning, missing values, field numbering, keys, every bad-line reason with rollback, and
// (when present) the public Criteo samples in ../shared/data/criteo-samples.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "data/data_reader.h"
#include "data/line_parser.h"

namespace embark {
namespace {

using Outcome = LineParser::Outcome;

// One Criteo record as column texts; Join() spells it with a separator and an optional id.
struct Record {
  std::string label = "0";
  std::vector<std::string> ints = std::vector<std::string>(kCriteoIntegerFields, "1");
  std::vector<std::string> cats = std::vector<std::string>(kCriteoCategoricalFields, "68fd1e64");

  std::string Join(char sep, const std::string& id = "") const {
    std::string line;
    if (!id.empty()) line += id + sep;
    line += label;
    for (const auto& c : ints) line += sep + c;
    for (const auto& c : cats) line += sep + c;
    return line;
  }
};

// "label,I1,...,I13,C1,...,C26" with the given label name; a non-empty `id_name` prepends an id
// column.
std::string HeaderLine(char sep, const std::string& label_name, const std::string& id_name = "") {
  std::string line;
  if (!id_name.empty()) line += id_name + sep;
  line += label_name;
  for (int i = 1; i <= 13; ++i) line += sep + ("I" + std::to_string(i));
  for (int i = 1; i <= 26; ++i) line += sep + ("C" + std::to_string(i));
  return line;
}

// A fresh parser that has been told a file starts.
std::unique_ptr<LineParser> NewParser() {
  auto p = LineParser::Create(DataFormat::kCriteo);
  p->StartFile();
  return p;
}

// Parses `line` as line 1 of a fresh file and returns the single example's keys.
std::vector<uint64_t> KeysOf(const std::string& line) {
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  EXPECT_EQ(p->Parse(line, true, &batch, &r), Outcome::kExample) << line;
  return batch.keys;
}

// Expects `line` to be rejected for `want` by `parser`, leaving the batch exactly as it was.
void ExpectBad(LineParser* parser, const std::string& line, BadLineReason want,
               bool first_line = false) {
  Batch batch;
  batch.AddFeature(42, 1.0f, 0);
  batch.EndExample(1.0f);
  BadLineReason reason = BadLineReason::kNumReasons;
  EXPECT_EQ(parser->Parse(line, first_line, &batch, &reason), Outcome::kBad) << line;
  EXPECT_EQ(reason, want) << line << " gave " << BadLineReasonName(reason);
  EXPECT_EQ(batch.size(), 1u) << line;
  EXPECT_EQ(batch.keys, (std::vector<uint64_t>{42})) << line;
  EXPECT_EQ(batch.values.size(), 1u) << line;
  EXPECT_EQ(batch.fields.size(), 1u) << line;
  EXPECT_EQ(batch.offsets, (std::vector<uint32_t>{0, 1})) << line;
}

// A record with one of every binning case, and the bucket strings worked out by hand:
// ln(3)^2 = 1.21, ln(10)^2 = 5.30, ln(1000)^2 = 47.7, ln(4)^2 = 1.92, ln(5)^2 = 2.59,
// ln(6)^2 = 3.21, ln(23000000)^2 = 287.3, ln(7)^2 = 3.79.
Record MixedRecord() {
  Record r;
  r.label = "1";
  r.ints = {"0", "1", "2", "3", "10", "1000", "-1", "", "4", "5", "6", "23000000", "7"};
  for (int j = 0; j < kCriteoCategoricalFields; ++j) {
    r.cats[j] = "c" + std::to_string(j) + "ab12ef";
  }
  r.cats[3] = "";   // missing categorical
  r.cats[25] = "";  // missing last column: a tab line then ends with a separator
  return r;
}
const std::vector<std::string> kMixedBuckets = {"0",  "1",  "2",  "b1", "b5",   "b47", "neg",
                                                "",   "b1", "b2", "b3", "b287", "b3"};

void ExpectMixedExample(const Batch& batch, size_t e) {
  const Record r = MixedRecord();
  ASSERT_GT(batch.size(), e);
  EXPECT_EQ(batch.labels[e], 1.0f);
  const uint32_t begin = batch.offsets[e];
  ASSERT_EQ(batch.offsets[e + 1] - begin, static_cast<uint32_t>(kCriteoFields));
  for (int f = 0; f < kCriteoFields; ++f) {
    EXPECT_EQ(batch.fields[begin + f], f);
    EXPECT_EQ(batch.values[begin + f], 1.0f);
    const std::string want = f < 13 ? kMixedBuckets[f] : r.cats[f - 13];
    EXPECT_EQ(batch.keys[begin + f], FeatureKey(static_cast<uint16_t>(f), want))
        << "field " << f << " want '" << want << "'";
  }
  // Spot-check against core/hash.h directly, so a change to FeatureKey cannot hide here.
  EXPECT_EQ(batch.keys[begin + 4], HashBytes("b5", FieldSalt(4)));
  EXPECT_EQ(batch.keys[begin + 13], HashBytes("c0ab12ef", FieldSalt(13)));
}

TEST(CriteoParserTest, TabLineFieldsAndKeys) {
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  const std::string line = MixedRecord().Join('\t');
  ASSERT_EQ(line.back(), '\t');  // C26 is missing
  ASSERT_EQ(p->Parse(line, true, &batch, &r), Outcome::kExample);
  ASSERT_EQ(batch.size(), 1u);
  ExpectMixedExample(batch, 0);
  // 39 features, all distinct keys (the two missing categoricals are in different fields).
  std::set<uint64_t> distinct(batch.keys.begin(), batch.keys.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kCriteoFields));
}

TEST(CriteoParserTest, CommaAndIdLayoutsGiveTheSameKeys) {
  const std::vector<uint64_t> tab = KeysOf(MixedRecord().Join('\t'));
  ASSERT_EQ(tab.size(), static_cast<size_t>(kCriteoFields));
  EXPECT_EQ(KeysOf(MixedRecord().Join(',')), tab);
  EXPECT_EQ(KeysOf(MixedRecord().Join(',', "10000000")), tab);  // 41 columns: id first
  EXPECT_EQ(KeysOf(MixedRecord().Join('\t', "abc")), tab);       // the id is never parsed

  // A comma file keeps its separator: later lines are split at ','.
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(p->Parse(MixedRecord().Join(','), true, &batch, &r), Outcome::kExample);
  ASSERT_EQ(p->Parse(MixedRecord().Join(','), false, &batch, &r), Outcome::kExample);
  ExpectMixedExample(batch, 1);
}

TEST(CriteoParserTest, LogBinningByHand) {
  struct Case {
    const char* text;
    const char* bucket;
  };
  const Case cases[] = {
      {"0", "0"},      {"1", "1"},       {"2", "2"},       {"3", "b1"},    {"4", "b1"},
      {"5", "b2"},     {"10", "b5"},     {"1000", "b47"},  {"-1", "neg"},  {"-2", "neg"},
      {"-1000", "neg"}, {"-0", "0"},     {"+7", "b3"},     {"007", "b3"},  {"260.0", "b30"},
      {"17668.0", "b95"}, {"2.", "2"},   {"3.000", "b1"},  {"-1.0", "neg"},
      {"9223372036854775807", "b1906"},    // int64 max: ln^2 = 1906.9
      {"99999999999999999999", "b2120"},   // beyond int64: ln(1e20)^2 = 2120.8
      {"-99999999999999999999", "neg"},
  };
  for (const Case& c : cases) {
    for (int f : {0, 12}) {
      Record rec;
      rec.ints[f] = c.text;
      const std::vector<uint64_t> keys = KeysOf(rec.Join('\t'));
      ASSERT_EQ(keys.size(), static_cast<size_t>(kCriteoFields)) << c.text;
      EXPECT_EQ(keys[f], FeatureKey(static_cast<uint16_t>(f), c.bucket))
          << c.text << " should be bucket " << c.bucket << " in field " << f;
    }
  }
  // The "b" prefix keeps v = 3 (ln^2 = 1.2) apart from v = 1, unlike a bare floor(ln(v)^2).
  Record one, three;
  one.ints[0] = "1";
  three.ints[0] = "3";
  EXPECT_NE(KeysOf(one.Join(','))[0], KeysOf(three.Join(','))[0]);
}

TEST(CriteoParserTest, MissingValuesGetAMissingIdPerField) {
  Record rec;
  rec.label = "0";
  for (auto& c : rec.ints) c = "";
  for (auto& c : rec.cats) c = "";
  for (char sep : {'\t', ','}) {
    const std::vector<uint64_t> keys = KeysOf(rec.Join(sep));
    ASSERT_EQ(keys.size(), static_cast<size_t>(kCriteoFields));
    for (int f = 0; f < kCriteoFields; ++f) {
      EXPECT_EQ(keys[f], FeatureKey(static_cast<uint16_t>(f), "")) << f;
    }
    std::set<uint64_t> distinct(keys.begin(), keys.end());
    EXPECT_EQ(distinct.size(), static_cast<size_t>(kCriteoFields));  // one missing id per field
  }
  // Missing is its own id: not the key of 0, nor of any bucket string.
  Record zero;
  zero.ints[0] = "0";
  Record missing;
  missing.ints[0] = "";
  EXPECT_NE(KeysOf(zero.Join('\t'))[0], KeysOf(missing.Join('\t'))[0]);
}

TEST(CriteoParserTest, HeaderWithoutId) {
  for (char sep : {',', '\t'}) {
    for (const char* name : {"label", "Label", "LABEL", "click"}) {
      auto p = NewParser();
      Batch batch;
      BadLineReason r;
      EXPECT_EQ(p->Parse(HeaderLine(sep, name), true, &batch, &r), Outcome::kBlank) << name;
      ASSERT_EQ(p->Parse(MixedRecord().Join(sep), false, &batch, &r), Outcome::kExample);
      ExpectMixedExample(batch, 0);
      // The header fixed the 40-column layout: a 41-column line is now a bad line.
      ExpectBad(p.get(), MixedRecord().Join(sep, "7"), BadLineReason::kWrongFieldCount);
    }
  }
  // The header text on a later line is a bad line: its label is not a number.
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(p->Parse(MixedRecord().Join(','), true, &batch, &r), Outcome::kExample);
  ExpectBad(p.get(), HeaderLine(',', "label"), BadLineReason::kNonNumeric);
}

TEST(CriteoParserTest, HeaderWithIdColumn) {
  for (const char* id : {"Id", "id", "row"}) {
    auto p = NewParser();
    Batch batch;
    BadLineReason r;
    EXPECT_EQ(p->Parse(HeaderLine(',', "Label", id), true, &batch, &r), Outcome::kBlank) << id;
    ASSERT_EQ(p->Parse(MixedRecord().Join(',', "10000000"), false, &batch, &r),
              Outcome::kExample);
    ASSERT_EQ(p->Parse(MixedRecord().Join(',', "10000001"), false, &batch, &r),
              Outcome::kExample);
    ExpectMixedExample(batch, 0);
    ExpectMixedExample(batch, 1);  // the id changes nothing
    ExpectBad(p.get(), MixedRecord().Join(','), BadLineReason::kWrongFieldCount);  // 40 columns
    ExpectBad(p.get(), HeaderLine(',', "Label", "Id"), BadLineReason::kNonNumeric);
  }
  // Without a header, line 1 decides the layout the same way.
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(p->Parse(MixedRecord().Join('\t', "5"), true, &batch, &r), Outcome::kExample);
  ExpectMixedExample(batch, 0);
  ExpectBad(p.get(), MixedRecord().Join('\t'), BadLineReason::kWrongFieldCount);
  // StartFile() forgets the layout (and the separator).
  p->StartFile();
  ASSERT_EQ(p->Parse(MixedRecord().Join(','), true, &batch, &r), Outcome::kExample);
  ExpectMixedExample(batch, 1);
}

TEST(CriteoParserTest, HeaderWithoutLabelAndBadHeaders) {
  // Kaggle's test.csv header: id and features, no label. Nothing in the file can be trained on.
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  std::string unlabeled = "Id";
  for (int i = 1; i <= 13; ++i) unlabeled += ",I" + std::to_string(i);
  for (int i = 1; i <= 26; ++i) unlabeled += ",C" + std::to_string(i);
  EXPECT_EQ(p->Parse(unlabeled, true, &batch, &r), Outcome::kBlank);
  Record rec;
  std::string unlabeled_line = "60000000";
  for (const auto& c : rec.ints) unlabeled_line += "," + c;
  for (const auto& c : rec.cats) unlabeled_line += "," + c;
  ExpectBad(p.get(), unlabeled_line, BadLineReason::kWrongFieldCount);
  ExpectBad(p.get(), MixedRecord().Join(','), BadLineReason::kWrongFieldCount);

  // Headers that disagree with the headerless rule, or have the wrong width.
  const std::string bad_headers[] = {
      HeaderLine(',', "Id", "Label"),              // 41 columns, label and id swapped
      HeaderLine(',', "Label", "Label"),           // repeated name
      HeaderLine(',', "x", "Label"),               // Label where the id belongs
      "Id,Label,I1,I2",                            // too few columns
      HeaderLine(',', "label") + ",extra,more",    // too many columns
      "label",                                     // one column
  };
  for (const std::string& h : bad_headers) {
    auto q = NewParser();
    ExpectBad(q.get(), h, BadLineReason::kWrongFieldCount, /*first_line=*/true);
    // The file's layout is still open: a data line decides it.
    Batch b;
    EXPECT_EQ(q->Parse(MixedRecord().Join(','), false, &b, &r), Outcome::kExample) << h;
  }
  // The 40-column "Id,I1,..." header above is fine (no label); with a Label column too, it is
  // not: the Id is where the headerless rule expects the label.
  std::string id_and_label_40 = "Id,Label";
  for (int i = 1; i <= 13; ++i) id_and_label_40 += ",I" + std::to_string(i);
  for (int i = 1; i <= 25; ++i) id_and_label_40 += ",C" + std::to_string(i);
  auto q = NewParser();
  ExpectBad(q.get(), id_and_label_40, BadLineReason::kWrongFieldCount, /*first_line=*/true);
}

TEST(CriteoParserTest, BlankLinesAndLineEndings) {
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  EXPECT_EQ(p->Parse("", true, &batch, &r), Outcome::kBlank);
  EXPECT_EQ(p->Parse("   ", false, &batch, &r), Outcome::kBlank);
  EXPECT_EQ(p->Parse("\r", false, &batch, &r), Outcome::kBlank);
  EXPECT_TRUE(batch.empty());
  // CRLF: the '\r' is not part of C26's id.
  Record rec = MixedRecord();
  rec.cats[25] = "9727dd16";
  ASSERT_EQ(p->Parse(rec.Join(',') + "\r", false, &batch, &r), Outcome::kExample);
  EXPECT_EQ(batch.keys.back(), FeatureKey(38, "9727dd16"));
  // A line of separators is a record whose columns are all empty -- including the label.
  ExpectBad(p.get(), std::string(kCriteoFields, ','), BadLineReason::kNonNumeric);
}

TEST(CriteoParserTest, EveryBadReasonRollsBack) {
  auto p = NewParser();
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(p->Parse(MixedRecord().Join('\t'), true, &batch, &r), Outcome::kExample);
  LineParser* t = p.get();  // a tab file with the 40-column layout from here on

  // wrong_field_count
  Record rec;
  std::string line39 = rec.Join('\t');
  line39.erase(line39.rfind('\t'));
  ExpectBad(t, line39, BadLineReason::kWrongFieldCount);
  ExpectBad(t, rec.Join('\t') + "\textra", BadLineReason::kWrongFieldCount);
  ExpectBad(t, rec.Join('\t') + "\t\t\t", BadLineReason::kWrongFieldCount);
  ExpectBad(t, "1", BadLineReason::kWrongFieldCount);
  ExpectBad(t, rec.Join(','), BadLineReason::kWrongFieldCount);  // wrong separator: 1 column
  ExpectBad(t, rec.Join('\t', "12"), BadLineReason::kWrongFieldCount);

  // label problems, as in the other formats
  for (const char* label : {"2", "-1", "0.5", "3e2"}) {
    Record bad;
    bad.label = label;
    ExpectBad(t, bad.Join('\t'), BadLineReason::kLabelOutOfRange);
  }
  for (const char* label : {"", "yes", "1x", "Label"}) {
    Record bad;
    bad.label = label;
    ExpectBad(t, bad.Join('\t'), BadLineReason::kNonNumeric);
  }
  for (const char* label : {"nan", "inf", "1e50"}) {
    Record bad;
    bad.label = label;
    ExpectBad(t, bad.Join('\t'), BadLineReason::kNonFinite);
  }
  {
    Record ok;
    ok.label = "1.0";  // any spelling of 0 or 1
    Batch b;
    EXPECT_EQ(t->Parse(ok.Join('\t'), false, &b, &r), Outcome::kExample);
    EXPECT_EQ(b.labels, (std::vector<float>{1.0f}));
  }

  // non_numeric integer columns; in the last one (I13) the 12 features before it must be
  // rolled back, in the first one none were added yet.
  for (const char* text : {"abc", "2.5", "1e3", " 7", "7 ", "+-1", "--1", "-", "+", ".5", "0x10",
                           "nan", "inf", "1.0x", "1,5", "68fd1e64"}) {
    for (int f : {0, 6, 12}) {
      Record bad;
      bad.ints[f] = text;
      ExpectBad(t, bad.Join('\t'), BadLineReason::kNonNumeric);
    }
  }
  // Categorical columns accept any text; bad_feature and field_out_of_range never occur.
  Record odd;
  odd.cats[0] = "not hex at all";
  Batch b;
  ASSERT_EQ(t->Parse(odd.Join('\t'), false, &b, &r), Outcome::kExample);
  EXPECT_EQ(b.keys[13], FeatureKey(13, "not hex at all"));
}

TEST(CriteoParserTest, FormatName) {
  DataFormat f = DataFormat::kLibsvm;
  ASSERT_TRUE(ParseDataFormat("criteo", &f).ok());
  EXPECT_EQ(f, DataFormat::kCriteo);
  EXPECT_STREQ(DataFormatName(DataFormat::kCriteo), "criteo");
  EXPECT_FALSE(ParseDataFormat("Criteo", &f).ok());
}

// Through the DataReader: a Kaggle-style CRLF file with a header read by two workers, whose
// second range never sees line 1, gives every example exactly once with the same keys.
TEST(CriteoParserTest, DataReaderTwoWorkersWithHeader) {
  std::string dir = testing::TempDir() + "embark_criteo_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/train.csv";
  {
    std::ofstream out(path, std::ios::binary);
    out << HeaderLine(',', "Label", "Id") << "\r\n";
    for (int i = 0; i < 30; ++i) out << MixedRecord().Join(',', std::to_string(i)) << "\r\n";
  }
  size_t examples = 0;
  for (int w = 0; w < 2; ++w) {
    DataReaderOptions o;
    o.format = DataFormat::kCriteo;
    o.files = path;
    o.num_workers = 2;
    o.worker_index = w;
    o.batch_size = 7;
    o.read_buffer_bytes = 256;
    std::vector<Batch> batches;
    BadLineCounts counts;
    Status s = ReadAll(o, &batches, &counts);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(counts.empty()) << FormatBadLineCounts(counts);
    for (const Batch& batch : batches) {
      for (size_t e = 0; e < batch.size(); ++e) ExpectMixedExample(batch, e);
      examples += batch.size();
    }
  }
  EXPECT_EQ(examples, 30u);
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// The public samples, if this machine has them (they are not part of the repository).

// ../shared/data/criteo-samples next to the repository, or $EMBARK_CRITEO_SAMPLES.
std::filesystem::path SamplesDir() {
  if (const char* env = getenv("EMBARK_CRITEO_SAMPLES")) return env;
  // This file is <repo>/tests/criteo_parser_test.cc.
  return std::filesystem::path(__FILE__).parent_path().parent_path() / ".." / "shared" / "data" /
         "criteo-samples";
}

// An independent reading of one record (naive split, std::stod, std::log) giving the keys the
// parser must produce.
std::vector<uint64_t> ReferenceKeys(const std::string& line, float* label) {
  std::vector<std::string> cols(1);
  const char sep = line.find('\t') != std::string::npos ? '\t' : ',';
  for (char c : line) {
    if (c == sep) {
      cols.emplace_back();
    } else if (c != '\r') {
      cols.back() += c;
    }
  }
  if (cols.size() == 41) cols.erase(cols.begin());
  EXPECT_EQ(cols.size(), 40u);
  std::vector<uint64_t> keys;
  if (cols.size() != 40) return keys;
  *label = std::stof(cols[0]);
  for (int f = 0; f < kCriteoFields; ++f) {
    const std::string& c = cols[1 + f];
    std::string id = c;
    if (f < kCriteoIntegerFields && !c.empty()) {
      const double v = std::stod(c);
      if (v < 0) {
        id = "neg";
      } else if (v <= 2) {
        id = std::to_string(static_cast<int>(v));
      } else {
        id = "b" + std::to_string(static_cast<int>(std::log(v) * std::log(v)));
      }
    }
    keys.push_back(FeatureKey(static_cast<uint16_t>(f), id));
  }
  return keys;
}

TEST(CriteoParserTest, PublicSamplesParseCompletely) {
  const std::filesystem::path dir = SamplesDir();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    GTEST_SKIP() << "Criteo samples not found at " << dir.string()
                 << " (set EMBARK_CRITEO_SAMPLES to run this test)";
  }
  const char* files[] = {"kaggle2014-tiny/train.tiny.csv", "kaggle2014-tiny/test.tiny.csv",
                         "deepctr-sample/criteo_sample.txt"};
  int files_read = 0;
  for (const char* name : files) {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) {
      ADD_FAILURE() << "cannot open " << (dir / name).string();
      continue;
    }
    ++files_read;
    auto p = NewParser();
    Batch batch;
    std::string line;
    size_t line_no = 0, data_lines = 0;
    std::set<float> labels;
    while (std::getline(in, line)) {
      ++line_no;
      BadLineReason r = BadLineReason::kNumReasons;
      const Outcome got = p->Parse(line, line_no == 1, &batch, &r);
      if (line_no == 1) {
        EXPECT_EQ(got, Outcome::kBlank) << name << ":1 should be a header";
        continue;
      }
      ++data_lines;
      ASSERT_EQ(got, Outcome::kExample)
          << name << ":" << line_no << ": " << BadLineReasonName(r) << ": " << line;
      float want_label = -1;
      const std::vector<uint64_t> want = ReferenceKeys(line, &want_label);
      const size_t e = batch.size() - 1;
      EXPECT_EQ(batch.labels[e], want_label) << name << ":" << line_no;
      labels.insert(batch.labels[e]);
      const std::vector<uint64_t> got_keys(batch.keys.begin() + batch.offsets[e],
                                           batch.keys.begin() + batch.offsets[e + 1]);
      ASSERT_EQ(got_keys, want) << name << ":" << line_no;
    }
    EXPECT_GT(data_lines, 100u) << name;
    EXPECT_EQ(batch.size(), data_lines) << name;
    EXPECT_EQ(batch.num_features(), data_lines * kCriteoFields) << name;
    for (float l : labels) EXPECT_TRUE(l == 0.0f || l == 1.0f) << name;
  }
  EXPECT_EQ(files_read, 3);
}

}  // namespace
}  // namespace embark
