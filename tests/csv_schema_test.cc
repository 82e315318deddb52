// Tests for the schema-driven CSV input: data/csv_schema.h (format and errors),
// csv_splitter.h (quoting), text_tokenizer.h, csv_featurizer.h (normalisation, timestamps) and
// the "csv" LineParser (keys, per-line policies) read through a DataReader.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "data/csv_featurizer.h"
#include "data/csv_schema.h"
#include "data/csv_splitter.h"
#include "data/data_reader.h"
#include "data/line_parser.h"
#include "data/text_tokenizer.h"

namespace embark {
namespace {

using Outcome = LineParser::Outcome;

std::shared_ptr<const CsvSchema> MustParse(const std::string& text) {
  auto schema = std::make_shared<CsvSchema>();
  Status st = CsvSchema::Parse(text, "t.schema", schema.get());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return schema;
}

// The error message of a schema that must be refused.
std::string SchemaError(const std::string& text) {
  CsvSchema schema;
  Status st = CsvSchema::Parse(text, "t.schema", &schema);
  EXPECT_FALSE(st.ok()) << text;
  return st.message();
}

std::vector<std::string> Split(const std::string& line, char delim = ',', char quote = '"', bool* ok = nullptr) {
  CsvSplitter splitter(delim, quote);
  std::vector<std::string_view> cells;
  const bool good = splitter.Split(line, &cells);
  if (ok) *ok = good;
  return std::vector<std::string>(cells.begin(), cells.end());
}

std::vector<std::string> Tokens(const std::string& text, int min_len = 2, bool stop = true) {
  std::string lowered;
  std::vector<std::string_view> toks;
  TokenizeText(text, min_len, stop, &lowered, &toks);
  return std::vector<std::string>(toks.begin(), toks.end());
}

TEST(CsvSchemaTest, ParsesEveryDirectiveAndRole) {
  auto s = MustParse(
      "# a comment\n"
      "delimiter pipe\n"
      "quote '\n"
      "header yes\n"
      "missing NA null\n"
      "cancel inv prefix C policy net\n"
      "duplicates drop key user,item\n"
      "\n"
      "column inv ignore\n"
      "column user categorical field 0 missing drop   # trailing comment\n"
      "column item categorical field 1\n"
      "column rating label threshold 4\n"
      "column price numeric field 33 norm zscore 2.5 0.5\n"
      "column tags tags field 34 sep comma\n"
      "column title text field 35 min_len 3 stopwords no\n"
      "column drama flag field 36\n"
      "column comedy flag field 36 token funny\n"
      "column when timestamp missing drop\n"
      "column qty quantity\n");
  EXPECT_EQ(s->delimiter(), '|');
  EXPECT_EQ(s->quote(), '\'');
  EXPECT_TRUE(s->header());
  EXPECT_EQ(s->missing_words(), (std::vector<std::string>{"NA", "null"}));
  ASSERT_EQ(s->num_columns(), 11);
  EXPECT_EQ(s->cancel_column(), 0);
  EXPECT_EQ(s->cancel_prefix(), "C");
  EXPECT_EQ(s->cancel_policy(), CancelPolicy::kNet);
  EXPECT_EQ(s->duplicate_policy(), DuplicatePolicy::kDrop);
  EXPECT_EQ(s->duplicate_key_columns(), (std::vector<int>{1, 2}));
  EXPECT_EQ(s->label_column(), 3);
  EXPECT_EQ(s->timestamp_column(), 9);
  EXPECT_EQ(s->quantity_column(), 10);
  const auto& c = s->columns();
  EXPECT_EQ(c[1].missing, MissingPolicy::kDrop);
  EXPECT_EQ(c[2].missing, MissingPolicy::kId);   // feature default
  EXPECT_EQ(c[3].missing, MissingPolicy::kFail);  // label default
  EXPECT_TRUE(c[3].has_threshold);
  EXPECT_EQ(c[3].threshold, 4.0f);
  EXPECT_EQ(c[4].norm, Normalization::kZscore);
  EXPECT_EQ(c[4].norm_a, 2.5);
  EXPECT_EQ(c[4].norm_b, 0.5);
  EXPECT_EQ(c[5].tag_separator, ',');
  EXPECT_EQ(c[6].min_token_length, 3);
  EXPECT_FALSE(c[6].stop_words);
  EXPECT_EQ(c[7].flag_token, "drama");
  EXPECT_EQ(c[8].flag_token, "funny");
  EXPECT_EQ(c[9].missing, MissingPolicy::kDrop);
  EXPECT_EQ(c[9].schema_line, 18);
  EXPECT_TRUE(s->IsMissing(""));
  EXPECT_TRUE(s->IsMissing("null"));
  EXPECT_FALSE(s->IsMissing("NaN"));
}

TEST(CsvSchemaTest, ErrorsNameTheSchemaLine) {
  struct Case {
    std::string text, want;
  };
  const Case cases[] = {
      {"column a label\ncolumn b cat field 1\n", "t.schema:2: column b: unknown role 'cat'"},
      {"column a label\n\ncolumn b categorical\n", "t.schema:3: column b: a categorical column needs 'field F'"},
      {"column a categorical field 3\ncolumn b text field 3\n", "t.schema:2: column b: field 3 is already used by column a (line 1)"},
      {"column a flag field 3\ncolumn b flag field 3 token a\n", "t.schema:2: column b: flag token 'a' already emitted"},
      {"column a label\ncolumn a numeric field 2\n", "t.schema:2: column a: name used twice (first on line 1)"},
      {"column a numeric field 2 norm zscore 1\n", "t.schema:1: column a: norm zscore needs two numbers"},
      {"column a numeric field 2 norm zscore 1 0\n", "t.schema:1: column a: zscore STD must be positive"},
      {"column a numeric field 2 norm minmax 5 5\n", "t.schema:1: column a: minmax MAX must be greater than MIN"},
      {"column a numeric field 2 norm cube\n", "t.schema:1: column a: norm must be"},
      {"column a categorical field 70000\n", "t.schema:1: column a: field must be an integer in 0..65535"},
      {"column a categorical field 2 threshold 4\n", "t.schema:1: column a: option 'threshold' does not apply to role categorical"},
      {"column a label missing id\n", "t.schema:1: column a: missing must be drop, fail (a label column has no missing id)"},
      {"column a label\ncolumn b label\n", "t.schema:2: column b: a second label column (the first is a on line 1)"},
      {"label constant 1\ncolumn a label\n", "t.schema:1: label constant contradicts the label column a"},
      {"column a label\ncancel inv prefix C policy drop\n", "t.schema:2: cancel: no column named 'inv'"},
      {"column a label\ncancel a prefix C policy undo\n", "t.schema:2: cancel policy must be drop, net or fail"},
      {"column a label\nduplicates drop key a,,b\n", "t.schema:2: empty column name in duplicates key"},
      {"column a label\nduplicates drop key a,zz\n", "t.schema:2: duplicates key: no column named 'zz'"},
      {"column a label\nheader maybe\n", "t.schema:2: header must be yes or no"},
      {"column a label\ndelimiter ab\n", "t.schema:2: delimiter must be"},
      {"column a label\nseparator ,\n", "t.schema:2: unknown directive 'separator'"},
      {"# only a comment\n", "t.schema:1: no columns declared"},
  };
  for (const Case& c : cases) {
    const std::string msg = SchemaError(c.text);
    EXPECT_NE(msg.find(c.want), std::string::npos) << "got: " << msg << "\nwant: " << c.want;
  }
  CsvSchema s;
  Status st = CsvSchema::Load("/nonexistent/x.schema", &s);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent/x.schema"), std::string::npos);
}

TEST(CsvSchemaTest, SplitsQuotedCsv) {
  bool ok = false;
  EXPECT_EQ(Split("\"a, b\",c", ',', '"', &ok), (std::vector<std::string>{"a, b", "c"}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(Split("\"say \"\"hi\"\"\",x"), (std::vector<std::string>{"say \"hi\"", "x"}));
  EXPECT_EQ(Split("\"\"\"\"", ',', '"'), (std::vector<std::string>{"\""}));
  EXPECT_EQ(Split("  \"q\" , y ,"), (std::vector<std::string>{"q", "y", ""}));
  EXPECT_EQ(Split("\"\",x"), (std::vector<std::string>{"", "x"}));
  EXPECT_EQ(Split("ab\"c,d"), (std::vector<std::string>{"ab\"c", "d"}));  // quote inside an unquoted cell
  EXPECT_EQ(Split("a,b\r"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Split("1\t\"x\ty\"\t", '\t'), (std::vector<std::string>{"1", "x\ty", ""}));
  EXPECT_EQ(Split("a|\"b|c\"", '|', 0), (std::vector<std::string>{"a", "\"b", "c\""}));  // quote none
  // Two escaped cells on one line: both views stay valid (the buffer never reallocates).
  EXPECT_EQ(Split("\"x\"\"1\",\"y\"\"2\",\"z\"\"3\""),
            (std::vector<std::string>{"x\"1", "y\"2", "z\"3"}));
  Split("\"abc,d", ',', '"', &ok);
  EXPECT_FALSE(ok) << "unclosed quote";
  Split("\"a\"b,c", ',', '"', &ok);
  EXPECT_FALSE(ok) << "text after the closing quote";
}

TEST(CsvSchemaTest, TokenizerLowerCasesSplitsAndDropsStopWords) {
  EXPECT_EQ(Tokens("RED HANGING HEART T-LIGHT HOLDER"),
            (std::vector<std::string>{"red", "hanging", "heart", "light", "holder"}));  // "t" too short
  EXPECT_EQ(Tokens("SET OF 12 CAKE TINS, the BEST!"),
            (std::vector<std::string>{"set", "12", "cake", "tins", "best"}));
  EXPECT_EQ(Tokens("SET OF 12", 1, false), (std::vector<std::string>{"set", "of", "12"}));
  EXPECT_EQ(Tokens("a b cd", 1, false), (std::vector<std::string>{"a", "b", "cd"}));
  EXPECT_EQ(Tokens("heart Heart HEART; heart."), (std::vector<std::string>{"heart"}));
  EXPECT_EQ(Tokens("caf\xc3\xa9 CR\xc3\x88ME"), (std::vector<std::string>{"caf\xc3\xa9", "cr\xc3\x88me"}));
  EXPECT_EQ(Tokens("LETTER \"S\" BLING"), (std::vector<std::string>{"letter", "bling"}));
  EXPECT_EQ(Tokens("word", 5), std::vector<std::string>{});
  EXPECT_EQ(Tokens(""), std::vector<std::string>{});
  for (const char* w : {"a", "about", "the", "of", "and", "with", "yourselves", "i"}) EXPECT_TRUE(IsStopWord(w)) << w;
  for (const char* w : {"heart", "red", "set", "zebra", "aa", ""}) EXPECT_FALSE(IsStopWord(w)) << w;
  // Many tokens: the distinct ones by sorting.
  std::string many;
  for (int i = 0; i < 50; ++i) many += "w" + std::to_string(i % 40) + " ";
  EXPECT_EQ(Tokens(many).size(), 40u);
}

TEST(CsvSchemaTest, NormalisationsByHand) {
  ColumnSpec c;
  double out = 0;
  c.norm = Normalization::kNone;
  ASSERT_TRUE(NormalizeNumeric(c, 2.5, &out));
  EXPECT_EQ(out, 2.5);
  c.norm = Normalization::kLog1p;
  ASSERT_TRUE(NormalizeNumeric(c, std::exp(1.0) - 1, &out));
  EXPECT_NEAR(out, 1.0, 1e-12);
  ASSERT_TRUE(NormalizeNumeric(c, 0, &out));
  EXPECT_EQ(out, 0.0);
  EXPECT_FALSE(NormalizeNumeric(c, -1, &out));
  c.norm = Normalization::kZscore;
  c.norm_a = 4;
  c.norm_b = 2;
  ASSERT_TRUE(NormalizeNumeric(c, 10, &out));
  EXPECT_EQ(out, 3.0);
  c.norm = Normalization::kMinmax;
  c.norm_a = 2;
  c.norm_b = 12;
  ASSERT_TRUE(NormalizeNumeric(c, 7, &out));
  EXPECT_EQ(out, 0.5);
  ASSERT_TRUE(NormalizeNumeric(c, 22, &out));  // not clipped
  EXPECT_EQ(out, 2.0);
  char buf[24];
  EXPECT_EQ(NumericBucket(-0.5, buf), "neg");
  EXPECT_EQ(NumericBucket(0, buf), "0");
  EXPECT_EQ(NumericBucket(0.42, buf), "0");
  EXPECT_EQ(NumericBucket(1, buf), "1");
  EXPECT_EQ(NumericBucket(2.95, buf), "2");
  EXPECT_EQ(NumericBucket(3, buf), "b1");     // ln(3)^2 = 1.21
  EXPECT_EQ(NumericBucket(10, buf), "b5");    // 5.30, as criteo's integer columns
  EXPECT_EQ(NumericBucket(12, buf), "b6");    // 6.17
  EXPECT_EQ(NumericBucket(40, buf), "b13");   // 13.61
  EXPECT_EQ(NumericBucket(1000, buf), "b47");  // 47.72
}

TEST(CsvSchemaTest, TimestampsAndEscapes) {
  int64_t t = 0;
  ASSERT_TRUE(ParseTimestamp("881250949", &t));
  EXPECT_EQ(t, 881250949);
  ASSERT_TRUE(ParseTimestamp("-1", &t));
  EXPECT_EQ(t, -1);
  ASSERT_TRUE(ParseTimestamp("1970-01-01", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseTimestamp("2011-03-10 16:16:00", &t));
  EXPECT_EQ(t, 1299773760);  // python: datetime(2011,3,10,16,16,tzinfo=utc).timestamp()
  ASSERT_TRUE(ParseTimestamp("2011-03-10T16:16", &t));
  EXPECT_EQ(t, 1299773760);
  ASSERT_TRUE(ParseTimestamp("12/1/2010 8:26", &t));
  EXPECT_EQ(t, 1291191960);
  ASSERT_TRUE(ParseTimestamp("2000-02-29", &t));
  EXPECT_EQ(t, 951782400);
  for (const char* bad : {"", "abc", "2011-02-30", "2011-13-01", "2011-03-10 24:00", "2011-03-10x",
                          "1/2/11", "2011-3-10 1:2:3:4", "12.5"}) {
    EXPECT_FALSE(ParseTimestamp(bad, &t)) << bad;
  }
  std::string scratch;
  const std::string plain = "85123A";
  EXPECT_EQ(EscapeToken(plain, &scratch).data(), plain.data());  // no copy
  EXPECT_EQ(EscapeToken("a:b c%\td", &scratch), "a%3Ab%20c%25%09d");
  EXPECT_EQ(EscapeToken("%", &scratch), "%25");  // so the missing id "%" is never a value
}

// The schema used by the LineParser tests.
const char kClickSchema[] =
    "header yes\n"
    "missing NA\n"
    "cancel order prefix C policy drop\n"
    "column order ignore\n"
    "column clicked label\n"
    "column user categorical field 0 missing drop\n"
    "column shop categorical field 1\n"
    "column title text field 2\n"
    "column tags tags field 3 sep ;\n"
    "column price numeric field 4 norm buckets\n"
    "column age numeric field 5 norm zscore 30 10\n"
    "column sale flag field 6\n"
    "column new flag field 6 token fresh\n"
    "column day timestamp\n";

struct Expected {
  uint16_t field;
  std::string token;
  float value;
};

void ExpectFeatures(const Batch& batch, size_t example, const std::vector<Expected>& want) {
  ASSERT_LT(example, batch.size());
  const size_t b = batch.offsets[example], e = batch.offsets[example + 1];
  ASSERT_EQ(e - b, want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(batch.fields[b + i], want[i].field) << i;
    EXPECT_EQ(batch.keys[b + i], FeatureKey(want[i].field, want[i].token)) << want[i].token;
    EXPECT_FLOAT_EQ(batch.values[b + i], want[i].value) << want[i].token;
  }
}

TEST(CsvLineParserTest, KeysAreFeatureKeysOfTheTokens) {
  ParserOptions po;
  po.csv_schema = MustParse(kClickSchema);
  auto p = LineParser::Create(DataFormat::kCsv, po);
  Batch batch;
  BadLineReason r;
  EXPECT_EQ(p->Parse("order,clicked,user,shop,title,tags,price,age,sale,new,day", true, &batch, &r), Outcome::kBlank);
  ASSERT_EQ(p->Parse("o1,1,u:7,Shop A,\"The Red, red Mug\",\"a; b;;a\",12,45,1,0,2011-01-01", false, &batch, &r),
            Outcome::kExample);
  ASSERT_EQ(p->Parse("o2,-1,u8,NA,,x,0.5,30,0,1,881250949", false, &batch, &r), Outcome::kExample);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch.labels[0], 1.0f);
  EXPECT_EQ(batch.labels[1], 0.0f);
  ExpectFeatures(batch, 0,
                 {{0, "u%3A7", 1}, {1, "Shop%20A", 1}, {2, "red", 1}, {2, "mug", 1}, {3, "a", 1}, {3, "b", 1},
                  {4, "b6", 1}, {5, "age", 1.5f}, {6, "sale", 1}});
  // NA shop and empty title: the fields' missing id "%"; new=1 emits the flag's token.
  ExpectFeatures(batch, 1, {{0, "u8", 1}, {1, "%", 1}, {2, "%", 1}, {3, "x", 1}, {4, "0", 1}, {5, "age", 0}, {6, "fresh", 1}});
}

TEST(CsvLineParserTest, PerLinePoliciesAndBadLines) {
  ParserOptions po;
  po.csv_schema = MustParse(kClickSchema);
  auto p = LineParser::Create(DataFormat::kCsv, po);
  auto expect = [&](const std::string& line, Outcome want, BadLineReason why, bool first = false) {
    Batch batch;
    batch.AddFeature(42, 1.0f, 0);
    batch.EndExample(1.0f);
    BadLineReason r = BadLineReason::kNumReasons;
    EXPECT_EQ(p->Parse(line, first, &batch, &r), want) << line;
    EXPECT_EQ(r, why) << line << " gave " << BadLineReasonName(r);
    EXPECT_EQ(batch.num_features(), 1u) << line << ": the batch must be unchanged";
    EXPECT_EQ(batch.fields.size(), 1u);
    EXPECT_EQ(batch.size(), 1u);
  };
  const std::string ok = "o1,1,u1,s,t,x,1,30,0,0,5";
  expect("order,clicked,user,shop,title,tags,price,AGE,sale,new", Outcome::kBad, BadLineReason::kHeaderMismatch, true);
  expect("C9,1,u1,s,t,x,1,30,0,0,5", Outcome::kSkipped, BadLineReason::kCancelled);
  expect("o1,1,NA,s,t,x,1,30,0,0,5", Outcome::kSkipped, BadLineReason::kMissingValue);   // user: missing drop
  expect("o1,,u1,s,t,x,1,30,0,0,5", Outcome::kBad, BadLineReason::kMissingValue);        // label: fail
  expect("o1,1,u1,s,t,x,1,30,0,0", Outcome::kBad, BadLineReason::kWrongFieldCount);
  expect("o1,1,u1,\"s,t,x,1,30,0,0,5", Outcome::kBad, BadLineReason::kBadQuote);
  expect("o1,2,u1,s,t,x,1,30,0,0,5", Outcome::kBad, BadLineReason::kLabelOutOfRange);
  expect("o1,1,u1,s,t,x,cheap,30,0,0,5", Outcome::kBad, BadLineReason::kNonNumeric);
  expect("o1,1,u1,s,t,x,1,1e999,0,0,5", Outcome::kBad, BadLineReason::kNonFinite);
  expect("o1,1,u1,s,t,x,1,30,2,0,5", Outcome::kBad, BadLineReason::kBadFeature);         // flag not 0/1
  expect("o1,1,u1,s,t,x,1,30,0,0,yesterday", Outcome::kBad, BadLineReason::kNonNumeric);  // timestamp
  Batch batch;
  BadLineReason r;
  EXPECT_EQ(p->Parse("", false, &batch, &r), Outcome::kBlank);
  EXPECT_EQ(p->Parse(" \r", false, &batch, &r), Outcome::kBlank);
  EXPECT_EQ(p->Parse(ok, false, &batch, &r), Outcome::kExample);

  // Policy fail turns a cancellation into a bad line.
  std::string text = kClickSchema;
  text.replace(text.find("policy drop"), 11, "policy fail");
  po.csv_schema = MustParse(text);
  auto strict = LineParser::Create(DataFormat::kCsv, po);
  r = BadLineReason::kNumReasons;
  EXPECT_EQ(strict->Parse("C9,1,u1,s,t,x,1,30,0,0,5", false, &batch, &r), Outcome::kBad);
  EXPECT_EQ(r, BadLineReason::kCancelled);
}

TEST(CsvLineParserTest, ReaderCountsPolicySkipsEvenInFailMode) {
  const std::string dir = testing::TempDir();
  const std::string path = dir + "/csv_reader_test.csv";
  {
    std::ofstream f(path);
    f << "order,clicked,user,shop,title,tags,price,age,sale,new,day\n"
         "o1,1,u1,s,t,x,1,30,0,0,5\n"
         "C2,1,u1,s,t,x,1,30,0,0,5\n"
         "o3,0,NA,s,t,x,1,30,0,0,5\n"
         "o4,0,u2,s,t,x,1,30,0,0,5\n";
  }
  DataReaderOptions o;
  o.format = DataFormat::kCsv;
  o.files = path;
  o.parser.csv_schema = MustParse(kClickSchema);
  o.bad_lines = BadLinePolicy::kFail;
  std::vector<Batch> batches;
  BadLineCounts counts;
  Status st = ReadAll(o, &batches, &counts);
  ASSERT_TRUE(st.ok()) << st.ToString();
  size_t examples = 0;
  for (const Batch& b : batches) examples += b.size();
  EXPECT_EQ(examples, 2u);
  EXPECT_EQ(counts, (BadLineCounts{{BadLineReason::kCancelled, 1}, {BadLineReason::kMissingValue, 1}}));

  o.parser.csv_schema = nullptr;
  st = ReadAll(o, &batches, &counts);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--schema"), std::string::npos);
  o.parser.csv_schema = MustParse("column a categorical field 0\n");
  st = ReadAll(o, &batches, &counts);
  EXPECT_NE(st.message().find("t.schema: no label"), std::string::npos) << st.message();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace embark
