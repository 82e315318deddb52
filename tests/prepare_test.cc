// Tests for tools/prepare.h: cancellations (net and drop), duplicates, missing ids, the
// per-user time split, side-feature files and the field convention, on small hand-made CSVs
// whose expected output lines and counts were worked out by hand (see the comments).
#include "tools/prepare.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace embark {
namespace {

class PrepareTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/prepare_test_" + std::to_string(::getpid()) + "_" +
           testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string cmd = "mkdir -p '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)std::system(cmd.c_str());
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::vector<std::string> Lines(const std::string& suffix) {
    std::ifstream in(dir_ + "/out" + suffix);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }
  PrepareOptions Options(const std::string& schema_text) {
    PrepareOptions o;
    o.schema = Write("retail.schema", schema_text);
    o.input = Write("retail.csv", kRetail);
    o.out = dir_ + "/out";
    o.test_fraction = 0.34;
    o.bad_lines = BadLinePolicy::kSkip;
    return o;
  }

  // Line numbers (for the comments below) count the header as line 1.
  static constexpr const char* kRetail =
      "Invoice,Item,Desc,Qty,Time,Price,Customer,Country\n"
      "1,A,\"Red heart, large\",2,2011-01-01 10:00,2.5,u1,UK\n"  // 2
      "1,B,Blue mug,1,2011-01-01 10:00,4.0,u1,UK\n"              // 3
      "1,B,Blue mug,1,2011-01-01 10:00,4.0,u1,UK\n"              // 4 duplicate of 3
      "C2,B,Blue mug,-1,2011-01-02 09:00,4.0,u1,UK\n"            // 5 cancels 3 (net: pair gone)
      "2,A,Red heart,1,2011-01-03 10:00,2.5,NA,France\n"         // 6 no customer
      "3,C,The cup of tea,3,2011-01-04 10:00,12,u2,France\n"     // 7
      "C4,C,The cup of tea,-1,2011-01-05 10:00,12,u2,France\n"   // 8 net: 3 - 1 = 2 left
      "C5,D,Plate,-2,2011-01-05 11:00,1,u2,France\n"             // 9 net: nothing to cancel
      "6,D,Plate,0,2011-01-06 10:00,1,u2,France\n"               // 10 quantity 0
      "7,A,Red heart,5,2011-01-07 10:00,2.5,u2,France\n"         // 11
      "8,A,Red heart,1,2011-01-08 10:00,2.5,u2,France\n"         // 12 repeat of (u2, A)
      "9,E,\"Say \"\"hi\"\" card\",1,2011-01-09 10:00,0.5,u2,France\n"  // 13
      "\"10,X,broken\n";                                         // 14 bad quote
  static constexpr const char* kSchema =
      "header yes\n"
      "missing NA\n"
      "cancel Invoice prefix C policy net\n"
      "duplicates drop\n"
      "column Invoice ignore\n"
      "column Item categorical field 1 missing drop\n"
      "column Desc text field 32\n"
      "column Qty quantity\n"
      "column Time timestamp\n"
      "column Price numeric field 33 norm buckets\n"
      "column Customer categorical field 0 missing drop\n"
      "column Country categorical field 2\n";

  std::string dir_;
};

// Item side features from each item's earliest purchase row: Desc tokens ("the", "of" are stop
// words) and the price bucket (2.5 -> "2", 12 -> ln(12)^2 = 6.17 -> "b6", 0.5 -> "0").
const std::string kA = "1:A:1 32:red:1 32:heart:1 32:large:1 33:2:1";
const std::string kB = "1:B:1 32:blue:1 32:mug:1 33:b1:1";
const std::string kC = "1:C:1 32:cup:1 32:tea:1 33:b6:1";
const std::string kE = "1:E:1 32:say:1 32:hi:1 32:card:1 33:0:1";
const std::string kU1 = "1 0:u1:1 2:UK:1 ";
const std::string kU2 = "1 0:u2:1 2:France:1 ";

TEST_F(PrepareTest, NetsCancellationsAndDropsDuplicates) {
  PrepareOptions o = Options(kSchema);
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Pairs: (u1,A) Jan 1; (u1,B) netted out; (u2,C) Jan 4 (2 left); (u2,A) Jan 7 (Jan 8 merged);
  // (u2,E) Jan 9. u1 has 1 pair: all train. u2 has 3: round(3 * 0.34) = 1 to test, the latest.
  EXPECT_EQ(Lines(".train.libffm"), (std::vector<std::string>{kU1 + kA, kU2 + kC, kU2 + kA}));
  EXPECT_EQ(Lines(".test.libffm"), (std::vector<std::string>{kU2 + kE}));
  // Items with an interaction, first-seen order (B's only purchase was cancelled).
  EXPECT_EQ(Lines(".items.libffm"), (std::vector<std::string>{"1 " + kA, "1 " + kC, "1 " + kE}));
  EXPECT_EQ(r.interaction_file.rows, 13u);
  EXPECT_EQ(r.interaction_file.bad_lines, (BadLineCounts{{BadLineReason::kBadQuote, 1}}));
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.cancelled, 3u);
  EXPECT_EQ(r.netted, 2u);
  EXPECT_EQ(r.unmatched_cancellations, 1u);
  EXPECT_EQ(r.missing_ids, 1u);
  EXPECT_EQ(r.interaction_file.missing, (std::map<std::string, uint64_t>{{"Customer", 1}}));
  EXPECT_EQ(r.non_positive_quantity, 1u);
  EXPECT_EQ(r.negative_label, 0u);
  EXPECT_EQ(r.purchases, 6u);
  EXPECT_EQ(r.repeat_purchases, 1u);
  EXPECT_EQ(r.pairs_netted_out, 1u);
  // Every row is accounted for exactly once.
  EXPECT_EQ(1 + r.duplicates + r.cancelled + r.missing_ids + r.non_positive_quantity + r.purchases,
            r.interaction_file.rows);
  EXPECT_EQ(r.users, 2u);
  EXPECT_EQ(r.items, 3u);
  EXPECT_EQ(r.train, 3u);
  EXPECT_EQ(r.test, 1u);
  EXPECT_EQ(r.interactions, 4u);
  std::ifstream json(dir_ + "/out.report.json");
  std::stringstream ss;
  ss << json.rdbuf();
  for (const char* want : {"\"rows_read\": 13", "\"cancelled\": 3", "\"netted\": 2", "\"duplicates\": 1",
                           "\"missing_ids\": 1", "\"users\": 2", "\"items\": 3", "\"train\": 3", "\"test\": 1",
                           "\"bad_lines\": {\"bad_quote\": 1}"}) {
    EXPECT_NE(ss.str().find(want), std::string::npos) << want << " not in " << ss.str();
  }
}

TEST_F(PrepareTest, DropPolicyKeepsPurchasesAndSplitsTiesByItem) {
  std::string schema = kSchema;
  schema.replace(schema.find("policy net"), 10, "policy drop");
  PrepareOptions o = Options(schema);
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // (u1,B) survives; u1's two pairs share a time, so item order decides: B is the later one.
  EXPECT_EQ(Lines(".train.libffm"), (std::vector<std::string>{kU1 + kA, kU2 + kC, kU2 + kA}));
  EXPECT_EQ(Lines(".test.libffm"), (std::vector<std::string>{kU1 + kB, kU2 + kE}));
  EXPECT_EQ(r.cancelled, 3u);
  EXPECT_EQ(r.netted, 0u);
  EXPECT_EQ(r.unmatched_cancellations, 0u);
  EXPECT_EQ(r.pairs_netted_out, 0u);

  // --min_user_interactions=3 drops u1 (2 pairs) with its pairs.
  o.min_user_interactions = 3;
  st = RunPrepare(o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Lines(".train.libffm"), (std::vector<std::string>{kU2 + kC, kU2 + kA}));
  EXPECT_EQ(Lines(".test.libffm"), (std::vector<std::string>{kU2 + kE}));
  EXPECT_EQ(r.users_below_min, 1u);
  EXPECT_EQ(r.interactions_below_min, 2u);
  EXPECT_EQ(r.users, 1u);
}

TEST_F(PrepareTest, FailPoliciesNameFileAndLine) {
  std::string schema = kSchema;
  schema.replace(schema.find("duplicates drop"), 15, "duplicates fail");
  PrepareOptions o = Options(schema);
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("retail.csv:4: duplicate of line 3"), std::string::npos) << st.message();

  schema = kSchema;
  schema.replace(schema.find("policy net"), 10, "policy fail");
  o = Options(schema);
  st = RunPrepare(o, &r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("retail.csv:5: cancelled"), std::string::npos) << st.message();

  o = Options(kSchema);
  o.bad_lines = BadLinePolicy::kFail;
  st = RunPrepare(o, &r);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("retail.csv:14: bad_quote"), std::string::npos) << st.message();

  // Duplicates by key columns: line 4 becomes a second purchase (quantity 3) of item B in
  // invoice 1 -- not an identical row, but the same key.
  std::string data = kRetail;
  const size_t line4 = data.find("1,B,Blue mug,1,", data.find("1,B,Blue mug,1,") + 1);
  data.replace(line4, 15, "1,B,Blue mug,3,");
  o = Options(kSchema);
  o.input = Write("retail.csv", data);
  ASSERT_TRUE(RunPrepare(o, &r).ok());
  EXPECT_EQ(r.duplicates, 0u);
  schema = kSchema;
  schema.replace(schema.find("duplicates drop"), 15, "duplicates drop key Invoice,Item");
  o.schema = Write("retail.schema", schema);
  ASSERT_TRUE(RunPrepare(o, &r).ok());
  EXPECT_EQ(r.duplicates, 1u);
}

TEST_F(PrepareTest, TimeSplitPerUser) {
  // u1: 5 items at times 5,4,3,2,1 (file order reversed); u2: 2 items; u3: 1 item.
  const std::string schema =
      "delimiter tab\n"
      "column user categorical field 0 missing fail\n"
      "column item categorical field 1 missing fail\n"
      "column rating label threshold 4\n"
      "column ts timestamp\n";
  PrepareOptions o;
  o.schema = Write("r.schema", schema);
  o.input = Write("r.tsv",
                  "u1\ti5\t5\t5\n"
                  "u1\ti4\t4\t4\n"
                  "u1\ti3\t5\t3\n"
                  "u1\ti2\t4\t2\n"
                  "u1\ti1\t5\t1\n"
                  "u2\ti1\t5\t10\n"
                  "u2\ti2\t5\t20\n"
                  "u3\ti9\t4\t7\n"
                  "u3\ti8\t3\t8\n");  // rating 3 < 4: no interaction
  o.out = dir_ + "/out";
  o.test_fraction = 0.4;
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  // u1: round(5 * 0.4) = 2 latest (i4, i5); u2: round(0.8) = 1 (i2); u3: 1 pair, all train.
  EXPECT_EQ(Lines(".train.libffm"),
            (std::vector<std::string>{"1 0:u1:1 1:i1:1", "1 0:u1:1 1:i2:1", "1 0:u1:1 1:i3:1", "1 0:u2:1 1:i1:1",
                                      "1 0:u3:1 1:i9:1"}));
  EXPECT_EQ(Lines(".test.libffm"), (std::vector<std::string>{"1 0:u1:1 1:i4:1", "1 0:u1:1 1:i5:1", "1 0:u2:1 1:i2:1"}));
  EXPECT_EQ(r.negative_label, 1u);
  EXPECT_EQ(r.users, 3u);
  EXPECT_EQ(r.items, 6u);  // i5 i4 i3 i2 i1 i9 (i8 has no interaction)

  o.test_fraction = 0;
  ASSERT_TRUE(RunPrepare(o, &r).ok());
  EXPECT_EQ(r.test, 0u);
  EXPECT_EQ(r.train, 8u);
}

// `history`: each line's user side lists the user's OTHER training pairs, latest first, at most
// `max` of them -- their item ids (from 1) or their tokens of a field (here shared field 64,
// which the item side carries too); a held-out pair is nobody's history.
TEST_F(PrepareTest, HistoryListsOtherTrainingItemsOnly) {
  const std::string schema =
      "delimiter tab\n"
      "column user categorical field 0 missing fail\n"
      "column item categorical field 1 missing fail\n"
      "column words text field 64\n"
      "column ts timestamp\n"
      "history field 3 max 2\n"
      "history field 64 max 5 from 64\n";
  PrepareOptions o;
  o.schema = Write("h.schema", schema);
  o.input = Write("h.tsv",
                  "u1\tx\tred bag\t1\n"
                  "u1\ty\tblue bag\t2\n"
                  "u1\tz\tred cup\t3\n"
                  "u1\tw\tgreen mug\t4\n"
                  "u2\tx\tred bag\t5\n");
  o.out = dir_ + "/out";
  o.test_fraction = 0.25;  // u1: round(4 * 0.25) = 1 held out (w); u2: a single pair, train
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Lines(".train.libffm"),
            (std::vector<std::string>{
                // x: others z, y; words of z then y, each once
                "1 0:u1:1 3:z:1 3:y:1 64:red:1 64:cup:1 64:blue:1 64:bag:1 1:x:1 64:red:1 64:bag:1",
                "1 0:u1:1 3:z:1 3:x:1 64:red:1 64:cup:1 64:bag:1 1:y:1 64:blue:1 64:bag:1",
                "1 0:u1:1 3:y:1 3:x:1 64:blue:1 64:bag:1 64:red:1 1:z:1 64:red:1 64:cup:1",
                "1 0:u2:1 1:x:1 64:red:1 64:bag:1"}));  // no other pair: no history
  // w's history: the latest two training pairs (z, y) of 3; words of z, y, x; never w's own.
  EXPECT_EQ(Lines(".test.libffm"),
            (std::vector<std::string>{
                "1 0:u1:1 3:z:1 3:y:1 64:red:1 64:cup:1 64:blue:1 64:bag:1 1:w:1 64:green:1 64:mug:1"}));
  // The convention and the directive are checked, naming the schema line.
  for (const auto& [bad, want] : std::vector<std::pair<std::string, std::string>>{
           {"history field 40\n", "h.schema:6: history field 40 is outside 2..31 (user side) and 64..95"},
           {"history field 5 from 2\n", "h.schema:6: history from 2 must be 1 (item ids) or an item-side"},
           {"history field 5 max 0\n", "h.schema:6: history max must be in [1, 100000]"},
           {"history field 64\n", "h.schema:6: history field 64 is already used by column words"}}) {
    o.schema = Write("h.schema", schema.substr(0, schema.find("history")) + bad);
    st = RunPrepare(o, &r);
    EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
  }
}

TEST_F(PrepareTest, SideFilesWinOverInteractionColumns) {
  PrepareOptions o = Options(kSchema);
  o.item_schema = Write("items.schema",
                        "delimiter pipe\n"
                        "header yes\n"
                        "column item_id categorical field 1 missing fail\n"
                        "column name text field 40\n"
                        "column cat categorical field 41\n");
  o.items = Write("items.txt",
                  "item_id|name|cat\n"
                  "A|Heart lamp|deco\n"
                  "Z|Zebra rug|floor\n"
                  "A|second row|x\n");
  o.user_schema = Write("users.schema",
                        "column id categorical field 0 missing fail\n"
                        "column age numeric field 5 norm zscore 30 5\n"
                        "column gender categorical field 6\n");
  o.users = Write("users.csv", "u2,40,F\n");
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const std::string a = "1:A:1 40:heart:1 40:lamp:1 41:deco:1";
  const std::string u2 = "1 0:u2:1 5:age:2 6:F:1 ";  // (40 - 30) / 5 = 2
  EXPECT_EQ(Lines(".train.libffm"), (std::vector<std::string>{kU1 + a, u2 + kC, u2 + a}));
  EXPECT_EQ(Lines(".test.libffm"), (std::vector<std::string>{u2 + kE}));
  // Z has no interaction but is in the item file: listed after the items with interactions.
  EXPECT_EQ(Lines(".items.libffm"),
            (std::vector<std::string>{"1 " + a, "1 " + kC, "1 " + kE, "1 1:Z:1 40:zebra:1 40:rug:1 41:floor:1"}));
  EXPECT_EQ(r.item_file.rows, 3u);
  EXPECT_EQ(r.item_file.duplicate_ids, 1u);
  EXPECT_EQ(r.items_without_side_file_row, 2u);  // C, E
  EXPECT_EQ(r.users_without_side_file_row, 1u);  // u1
  EXPECT_EQ(r.items, 4u);
  EXPECT_EQ(r.items_with_interactions, 3u);
}

TEST_F(PrepareTest, FieldConventionIsChecked) {
  struct Case {
    PrepareSchemaKind kind;
    std::string schema, want;
  };
  const Case cases[] = {
      {PrepareSchemaKind::kUsers, "column id categorical field 0 missing fail\ncolumn age numeric field 40\n",
       "t.schema:2: column age: field 40 is outside 2..31, the user-side range"},
      {PrepareSchemaKind::kItems, "column id categorical field 1 missing fail\ncolumn c categorical field 5\n",
       "t.schema:2: column c: field 5 is outside 32..95, the item-side and shared range"},
      {PrepareSchemaKind::kInteractions, "column u categorical field 0 missing drop\ncolumn x categorical field 96\n",
       "t.schema:2: column x: field 96 is outside 2..95"},
      {PrepareSchemaKind::kInteractions, "column u categorical field 0 missing drop\n",
       "t.schema: no categorical column in field 1, the item id"},
      {PrepareSchemaKind::kItems, "column c categorical field 40\n", "no categorical column in field 1"},
      {PrepareSchemaKind::kInteractions, "column u categorical field 0\ncolumn i categorical field 1 missing drop\n",
       "t.schema:1: column u: the user id column needs 'missing drop' or 'missing fail'"},
      {PrepareSchemaKind::kInteractions, "column u text field 0\ncolumn i categorical field 1 missing drop\n",
       "t.schema:1: column u: field 0 (the user id) must be categorical, not text"},
  };
  for (const Case& c : cases) {
    CsvSchema schema;
    ASSERT_TRUE(CsvSchema::Parse(c.schema, "t.schema", &schema).ok()) << c.schema;
    Status st = ValidatePrepareSchema(schema, c.kind);
    ASSERT_FALSE(st.ok()) << c.schema;
    EXPECT_NE(st.message().find(c.want), std::string::npos) << "got: " << st.message() << "\nwant: " << c.want;
  }
  CsvSchema ok;
  ASSERT_TRUE(CsvSchema::Parse("column u categorical field 0 missing drop\ncolumn i categorical field 1 missing fail\n"
                               "column a flag field 2\ncolumn b flag field 63\n",
                               "t.schema", &ok)
                  .ok());
  EXPECT_TRUE(ValidatePrepareSchema(ok, PrepareSchemaKind::kInteractions).ok());
  // And through RunPrepare, before anything is written.
  PrepareOptions o = Options("column u categorical field 0 missing drop\ncolumn i categorical field 99 missing drop\n");
  PrepareReport r;
  Status st = RunPrepare(o, &r);
  EXPECT_NE(st.message().find("retail.schema:2: column i: field 99 is outside 2..95"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace embark
