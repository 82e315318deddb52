// Tests for data/line_parser.h: each format's fields, keys, labels, and every bad-line reason.
#include "data/line_parser.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace embark {
namespace {

using Outcome = LineParser::Outcome;

// Parses one line and returns the outcome; *reason is set for kBad.
Outcome ParseOne(LineParser* parser, const std::string& line, Batch* batch,
                 BadLineReason* reason, bool first_line = false) {
  return parser->Parse(line, first_line, batch, reason);
}

// Expects `line` to be rejected for `want`, leaving the batch exactly as it was.
void ExpectBad(LineParser* parser, const std::string& line, BadLineReason want,
               bool first_line = false) {
  Batch batch;
  batch.AddFeature(42, 1.0f, 0);
  batch.EndExample(1.0f);
  BadLineReason reason = BadLineReason::kNumReasons;
  EXPECT_EQ(ParseOne(parser, line, &batch, &reason, first_line), Outcome::kBad) << line;
  EXPECT_EQ(reason, want) << line << " gave " << BadLineReasonName(reason);
  EXPECT_EQ(batch.size(), 1u) << line;
  EXPECT_EQ(batch.num_features(), 1u) << line;
  EXPECT_EQ(batch.values.size(), 1u) << line;
  EXPECT_EQ(batch.fields.size(), 1u) << line;
}

TEST(LineParserTest, ParseFloatField) {
  float v = -1;
  BadLineReason r;
  ASSERT_TRUE(ParseFloatField("3.25", &v, &r));
  EXPECT_EQ(v, 3.25f);
  ASSERT_TRUE(ParseFloatField("+2", &v, &r));
  EXPECT_EQ(v, 2.0f);
  ASSERT_TRUE(ParseFloatField("-0.5", &v, &r));
  EXPECT_EQ(v, -0.5f);
  ASSERT_TRUE(ParseFloatField("1e-50", &v, &r));  // underflows float: zero, not an error
  EXPECT_EQ(v, 0.0f);
  ASSERT_TRUE(ParseFloatField("1e-400", &v, &r));  // underflows even double
  EXPECT_EQ(v, 0.0f);
  for (const char* bad : {"", "+", "+-2", "1.5x", "abc", " 1", "0x10", "1,5"}) {
    EXPECT_FALSE(ParseFloatField(bad, &v, &r)) << bad;
    EXPECT_EQ(r, BadLineReason::kNonNumeric) << bad;
  }
  for (const char* bad : {"nan", "-nan", "inf", "-inf", "infinity", "1e50", "1e400"}) {
    EXPECT_FALSE(ParseFloatField(bad, &v, &r)) << bad;
    EXPECT_EQ(r, BadLineReason::kNonFinite) << bad;
  }
}

TEST(LineParserTest, LibsvmExample) {
  auto parser = LineParser::Create(DataFormat::kLibsvm);
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(ParseOne(parser.get(), "1 a:0.5 7:2 \t\r", &batch, &r), Outcome::kExample);
  ASSERT_EQ(ParseOne(parser.get(), "-1 3:1", &batch, &r), Outcome::kExample);
  ASSERT_EQ(ParseOne(parser.get(), "+1 007:1 7:1", &batch, &r), Outcome::kExample);
  ASSERT_EQ(ParseOne(parser.get(), "0", &batch, &r), Outcome::kExample);  // no features
  ASSERT_EQ(ParseOne(parser.get(), "  0.0\t5:-2.5", &batch, &r), Outcome::kExample);
  EXPECT_EQ(ParseOne(parser.get(), "", &batch, &r), Outcome::kBlank);
  EXPECT_EQ(ParseOne(parser.get(), " \t ", &batch, &r), Outcome::kBlank);

  ASSERT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch.labels, (std::vector<float>{1, 0, 1, 0, 0}));  // -1 mapped to 0
  EXPECT_EQ(batch.offsets, (std::vector<uint32_t>{0, 2, 3, 5, 5, 6}));
  EXPECT_EQ(batch.keys[0], FeatureKey(0, "a"));
  EXPECT_EQ(batch.keys[1], FeatureKey(0, "7"));
  EXPECT_EQ(batch.keys[2], FeatureKey(0, "3"));
  EXPECT_EQ(batch.keys[3], FeatureKey(0, "007"));
  EXPECT_NE(batch.keys[3], batch.keys[4]);  // ids are strings: "007" != "7"
  EXPECT_EQ(batch.keys[4], batch.keys[1]);
  EXPECT_EQ(batch.values, (std::vector<float>{0.5f, 2, 1, 1, 1, -2.5f}));
  EXPECT_EQ(batch.fields, (std::vector<uint16_t>(6, 0)));
  // The key is the id hashed with field 0's salt, computed here from core/hash.h directly.
  EXPECT_EQ(batch.keys[0], HashBytes("a", FieldSalt(0)));
}

TEST(LineParserTest, LibsvmBadLines) {
  auto p = LineParser::Create(DataFormat::kLibsvm);
  ExpectBad(p.get(), "2 3:1", BadLineReason::kLabelOutOfRange);
  ExpectBad(p.get(), "0.5 3:1", BadLineReason::kLabelOutOfRange);
  ExpectBad(p.get(), "yes 3:1", BadLineReason::kNonNumeric);
  ExpectBad(p.get(), "nan 3:1", BadLineReason::kNonFinite);
  ExpectBad(p.get(), "1 a:1 3:inf", BadLineReason::kNonFinite);
  ExpectBad(p.get(), "1 a:1 3:x", BadLineReason::kNonNumeric);
  ExpectBad(p.get(), "1 a:1 3:", BadLineReason::kNonNumeric);
  ExpectBad(p.get(), "1 a:1 3", BadLineReason::kBadFeature);
  ExpectBad(p.get(), "1 a:1 :3", BadLineReason::kBadFeature);
  ExpectBad(p.get(), "1 a:1 2:3:4", BadLineReason::kBadFeature);
  ExpectBad(p.get(), "3:1 4:1", BadLineReason::kWrongFieldCount);  // label missing
}

TEST(LineParserTest, LibffmFieldsAndKeys) {
  auto parser = LineParser::Create(DataFormat::kLibffm);
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(ParseOne(parser.get(), "1 2:abc:0.5 3:abc:1 65535:z:2", &batch, &r),
            Outcome::kExample);
  ASSERT_EQ(ParseOne(parser.get(), "-1 0:abc:1", &batch, &r), Outcome::kExample);
  EXPECT_EQ(batch.labels, (std::vector<float>{1, 0}));
  EXPECT_EQ(batch.fields, (std::vector<uint16_t>{2, 3, 65535, 0}));
  EXPECT_EQ(batch.values, (std::vector<float>{0.5f, 1, 2, 1}));
  EXPECT_EQ(batch.keys[0], HashBytes("abc", FieldSalt(2)));
  EXPECT_EQ(batch.keys[1], HashBytes("abc", FieldSalt(3)));
  EXPECT_NE(batch.keys[0], batch.keys[1]);  // same id, different fields
  std::set<uint64_t> distinct(batch.keys.begin(), batch.keys.end());
  EXPECT_EQ(distinct.size(), 4u);
  // Field 0 of libffm gives the same key as libsvm's id, so formats agree.
  EXPECT_EQ(batch.keys[3], FeatureKey(0, "abc"));

  auto p = parser.get();
  ExpectBad(p, "1 70000:a:1", BadLineReason::kFieldOutOfRange);
  ExpectBad(p, "1 99999999999999999999999:a:1", BadLineReason::kFieldOutOfRange);
  ExpectBad(p, "1 -1:a:1", BadLineReason::kFieldOutOfRange);
  EXPECT_EQ(p->detail(), "field -1 is not in 0..65535");
  ExpectBad(p, "1 +1:a:1", BadLineReason::kNonNumeric);
  ExpectBad(p, "1 x:a:1", BadLineReason::kNonNumeric);
  ExpectBad(p, "1 1:a:nan", BadLineReason::kNonFinite);
  ExpectBad(p, "1 a:1", BadLineReason::kBadFeature);
  ExpectBad(p, "1 1::1", BadLineReason::kBadFeature);
  ExpectBad(p, "1 :a:1", BadLineReason::kBadFeature);
  ExpectBad(p, "1 2:a:b:1", BadLineReason::kBadFeature);
  ExpectBad(p, "-2 1:a:1", BadLineReason::kLabelOutOfRange);
}

// Parses `line` as the only example of a fresh ratings file and checks user, item, rating.
void ExpectRating(const std::string& line, const std::string& user, const std::string& item,
                  float rating) {
  auto parser = LineParser::Create(DataFormat::kRatings);
  parser->StartFile();
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(parser->Parse(line, true, &batch, &r), Outcome::kExample) << line;
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch.labels[0], rating) << line;
  EXPECT_EQ(batch.keys, (std::vector<uint64_t>{FeatureKey(0, user), FeatureKey(1, item)}))
      << line;
  EXPECT_EQ(batch.fields, (std::vector<uint16_t>{0, 1}));
  EXPECT_EQ(batch.values, (std::vector<float>{1, 1}));
}

TEST(LineParserTest, RatingsSeparators) {
  ExpectRating("1\t2\t3.5\t978300760", "1", "2", 3.5f);
  ExpectRating("u1,i9,4", "u1", "i9", 4.0f);
  ExpectRating("u1 , i9 , 4 ", "u1", "i9", 4.0f);
  ExpectRating("1::1193::5::978300760", "1", "1193", 5.0f);
  ExpectRating("7  8   2.5", "7", "8", 2.5f);
  ExpectRating("alice\tbob smith\t1", "alice", "bob smith", 1.0f);  // tab wins over spaces
  EXPECT_NE(FeatureKey(0, "5"), FeatureKey(1, "5"));  // user 5 and item 5 differ
}

TEST(LineParserTest, RatingsHeaderOnlyOnLineOne) {
  auto parser = LineParser::Create(DataFormat::kRatings);
  parser->StartFile();
  Batch batch;
  BadLineReason r;
  EXPECT_EQ(parser->Parse("userId,movieId,rating,timestamp", true, &batch, &r), Outcome::kBlank);
  ASSERT_EQ(parser->Parse("1,31,2.5,1260759144", false, &batch, &r), Outcome::kExample);
  EXPECT_EQ(batch.labels, (std::vector<float>{2.5f}));
  // The same text later in the file is a bad line.
  ExpectBad(parser.get(), "userId,movieId,rating,timestamp", BadLineReason::kNonNumeric);

  // A header whose separator differs from the data's does not fix the separator.
  auto p2 = LineParser::Create(DataFormat::kRatings);
  p2->StartFile();
  EXPECT_EQ(p2->Parse("user item rating", true, &batch, &r), Outcome::kBlank);
  EXPECT_EQ(p2->Parse("4\t5\t1", false, &batch, &r), Outcome::kExample);
}

TEST(LineParserTest, RatingsBadLines) {
  ParserOptions options;
  options.min_rating = 1;
  options.max_rating = 5;
  auto p = LineParser::Create(DataFormat::kRatings, options);
  p->StartFile();
  Batch batch;
  BadLineReason r;
  ASSERT_EQ(p->Parse("1,2,5", true, &batch, &r), Outcome::kExample);  // fixes ',' separator
  ExpectBad(p.get(), "1,2", BadLineReason::kWrongFieldCount);
  ExpectBad(p.get(), "1,2,3,4,5", BadLineReason::kWrongFieldCount);
  ExpectBad(p.get(), "1,2,3,4,5,6,7", BadLineReason::kWrongFieldCount);
  ExpectBad(p.get(), "1\t2\t3", BadLineReason::kWrongFieldCount);  // wrong separator: 1 column
  ExpectBad(p.get(), "1,2,x", BadLineReason::kNonNumeric);
  ExpectBad(p.get(), "1,2,nan", BadLineReason::kNonFinite);
  ExpectBad(p.get(), "1,2,6", BadLineReason::kLabelOutOfRange);
  ExpectBad(p.get(), "1,2,0.5", BadLineReason::kLabelOutOfRange);
  ExpectBad(p.get(), ",2,3", BadLineReason::kBadFeature);
  EXPECT_EQ(p->Parse("   ", false, &batch, &r), Outcome::kBlank);

  // Without a range every finite rating is accepted.
  auto open = LineParser::Create(DataFormat::kRatings);
  open->StartFile();
  EXPECT_EQ(open->Parse("1 2 -1000", false, &batch, &r), Outcome::kExample);
}

TEST(LineParserTest, NamesAndFormats) {
  std::set<std::string> names;
  for (int i = 0; i < kNumBadLineReasons; ++i) {
    names.insert(BadLineReasonName(static_cast<BadLineReason>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kNumBadLineReasons));
  EXPECT_EQ(FormatBadLineCounts({}), "none");
  EXPECT_EQ(FormatBadLineCounts({{BadLineReason::kWrongFieldCount, 3},
                                 {BadLineReason::kNonNumeric, 1}}),
            "wrong_field_count=3 non_numeric=1");
  DataFormat f;
  ASSERT_TRUE(ParseDataFormat("libfm", &f).ok());
  EXPECT_EQ(f, DataFormat::kLibsvm);
  ASSERT_TRUE(ParseDataFormat("libffm", &f).ok());
  EXPECT_EQ(f, DataFormat::kLibffm);
  ASSERT_TRUE(ParseDataFormat("ratings", &f).ok());
  EXPECT_EQ(f, DataFormat::kRatings);
  ASSERT_TRUE(ParseDataFormat("csv", &f).ok());  // with a schema (csv_schema_test.cc)
  EXPECT_EQ(f, DataFormat::kCsv);
  EXPECT_FALSE(ParseDataFormat("tsv", &f).ok());
}

}  // namespace
}  // namespace embark
