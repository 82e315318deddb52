// Tests of worker/field_count.h: the field count a field-aware model takes from the data, and
// the refusals that keep a field from being dropped silently.
#include "worker/field_count.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data/csv_schema.h"

namespace embark {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "embark_fields_XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(FieldCountTest, HighestLibffmFieldOverFilesAndWhereItIs) {
  TempDir dir;
  const std::string a = dir.Write("a.libffm", "1 0:x:1 3:y:1\n\n0 1:z:0.5 2:w:1\n");
  const std::string b = dir.Write("b.libffm", "0 0:x:1\n1 0:x:1 11:q:1 4:r:1\n1 11:s:1\n");
  FieldCount count;
  ASSERT_TRUE(CountLibffmFields(a, &count).ok());
  EXPECT_EQ(count.num_fields, 4u);
  EXPECT_EQ(count.lines, 3u);
  EXPECT_EQ(count.highest_at, a + ":1");
  // A directory: both files, in order; the first line with field 11 is line 2 of b.
  ASSERT_TRUE(CountLibffmFields(dir.path(), &count).ok());
  EXPECT_EQ(count.num_fields, 12u);
  EXPECT_EQ(count.highest_at, b + ":2");
  EXPECT_FALSE(CountLibffmFields(dir.path() + "/missing", &count).ok());
}

TEST(FieldCountTest, TokensOfOtherShapesDoNotCount) {
  TempDir dir;
  // The label (even "7:"), a libsvm token, a field beyond uint16, a negative and a non-number:
  // the reader judges those lines later; only "2:a:1" and "00005:b:1" are fields here.
  const std::string f = dir.Write("f", "7:1 2:a:1\n1 900:1\n1 70000:a:1 -3:a:1 x:a:1 00005:b:1\n");
  FieldCount count;
  ASSERT_TRUE(CountLibffmFields(f, &count).ok());
  EXPECT_EQ(count.num_fields, 6u);
  const std::string none = dir.Write("none", "1\n0\n");
  ASSERT_TRUE(CountLibffmFields(none, &count).ok());
  EXPECT_EQ(count.num_fields, 0u);
}

TEST(FieldCountTest, ResolveFromTheDataOrAsRequested) {
  TempDir dir;
  const std::string train = dir.Write("train", "1 0:a:1 9:b:1\n0 10:c:1 1:d:1\n");
  const std::string test = dir.Write("test", "1 0:a:1 11:e:1\n");
  uint32_t n = 0;
  std::string how;
  // Not requested: 1 + the highest field of train and test (field 11 is only in the test file).
  ASSERT_TRUE(ResolveNumFields(DataFormat::kLibffm, nullptr, train, test, 0, &n, &how).ok());
  EXPECT_EQ(n, 12u);
  EXPECT_NE(how.find("highest field in the data is 11, first at " + test + ":1"), std::string::npos) << how;
  ASSERT_TRUE(ResolveNumFields(DataFormat::kLibffm, nullptr, train, "", 0, &n, &how).ok());
  EXPECT_EQ(n, 11u);
  // Requested: taken as is (the reader refuses higher fields), without reading the files.
  ASSERT_TRUE(ResolveNumFields(DataFormat::kLibffm, nullptr, dir.path() + "/absent", "", 10, &n, &how).ok());
  EXPECT_EQ(n, 10u);
  EXPECT_FALSE(ResolveNumFields(DataFormat::kLibffm, nullptr, dir.path() + "/absent", "", 0, &n, &how).ok());
  // libsvm: one field.
  ASSERT_TRUE(ResolveNumFields(DataFormat::kLibsvm, nullptr, train, "", 0, &n, &how).ok());
  EXPECT_EQ(n, 1u);
}

TEST(FieldCountTest, CriteoAndCsvRefuseCountsThatDropFields) {
  uint32_t n = 0;
  std::string how;
  ASSERT_TRUE(ResolveNumFields(DataFormat::kCriteo, nullptr, "unused", "", 0, &n, &how).ok());
  EXPECT_EQ(n, 39u);
  const Status criteo = ResolveNumFields(DataFormat::kCriteo, nullptr, "unused", "", 10, &n, &how);
  EXPECT_EQ(criteo.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(criteo.message().find("drop fields 10..38"), std::string::npos) << criteo.message();

  CsvSchema schema;
  ASSERT_TRUE(CsvSchema::Parse("column u categorical field 0\ncolumn y label\ncolumn c categorical field 7\n",
                               "t.schema", &schema)
                  .ok());
  ASSERT_TRUE(ResolveNumFields(DataFormat::kCsv, &schema, "unused", "", 0, &n, &how).ok());
  EXPECT_EQ(n, 8u);
  ASSERT_TRUE(ResolveNumFields(DataFormat::kCsv, &schema, "unused", "", 8, &n, &how).ok());
  const Status csv = ResolveNumFields(DataFormat::kCsv, &schema, "unused", "", 5, &n, &how);
  EXPECT_EQ(csv.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(csv.message().find("field 7 (column 'c', t.schema:3)"), std::string::npos) << csv.message();
}

}  // namespace
}  // namespace embark
