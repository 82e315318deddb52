// Tests for data/input_split.h: input expansion, byte-range sharding, and that every line is
// read by exactly one worker with its true line number.
#include "data/input_split.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace embark {
namespace {

// A fresh directory under the test temp dir, removed with everything inside at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "embark_split_XXXXXX";
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

// (path, 1-based line number, text): the identity of one line.
using LineId = std::tuple<std::string, uint64_t, std::string>;

// The lines of a file computed the simple way, independently of LineSource.
std::vector<LineId> ExpectedLines(const std::string& path, const std::string& content) {
  std::vector<LineId> out;
  std::string cur;
  uint64_t number = 1;
  for (char c : content) {
    if (c == '\n') {
      if (!cur.empty() && cur.back() == '\r') cur.pop_back();
      out.emplace_back(path, number++, cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) {
    if (cur.back() == '\r') cur.pop_back();
    out.emplace_back(path, number, cur);
  }
  return out;
}

// Reads every worker's share and checks the union is exactly the expected lines, once each.
void CheckExactlyOnce(const std::vector<std::pair<std::string, std::string>>& files,
                      int num_workers, size_t buffer_bytes) {
  std::vector<std::pair<std::string, uint64_t>> sizes;
  std::map<LineId, int> expected;
  for (const auto& [path, content] : files) {
    sizes.emplace_back(path, content.size());
    for (const LineId& id : ExpectedLines(path, content)) ++expected[id];
  }
  std::map<LineId, int> seen;
  for (int w = 0; w < num_workers; ++w) {
    LineSource source(SplitForWorker(sizes, num_workers, w), buffer_bytes);
    std::string_view line;
    bool has = false;
    for (;;) {
      ASSERT_TRUE(source.Next(&line, &has).ok());
      if (!has) break;
      const uint64_t number = source.LineNumber();
      EXPECT_EQ(source.IsFirstLineOfFile(), number == 1) << source.path() << ":" << number;
      ++seen[LineId(source.path(), number, std::string(line))];
    }
  }
  EXPECT_EQ(seen, expected) << "W=" << num_workers << " buffer=" << buffer_bytes;
}

TEST(InputSplitTest, SplitForWorkerByHand) {
  const std::vector<std::pair<std::string, uint64_t>> sizes = {{"a", 10}, {"b", 0}, {"c", 5}};
  // W=3: global ranges [0,5) [5,10) [10,15).
  auto w0 = SplitForWorker(sizes, 3, 0);
  ASSERT_EQ(w0.size(), 1u);
  EXPECT_EQ(w0[0].path, "a");
  EXPECT_EQ(w0[0].begin, 0u);
  EXPECT_EQ(w0[0].end, 5u);
  auto w2 = SplitForWorker(sizes, 3, 2);
  ASSERT_EQ(w2.size(), 1u);
  EXPECT_EQ(w2[0].path, "c");
  EXPECT_EQ(w2[0].begin, 0u);
  EXPECT_EQ(w2[0].end, 5u);
  // W=2: [0,7) [7,15); worker 1 spans the end of a, (nothing of b), all of c.
  auto v1 = SplitForWorker(sizes, 2, 1);
  ASSERT_EQ(v1.size(), 2u);
  EXPECT_EQ(v1[0].path, "a");
  EXPECT_EQ(v1[0].begin, 7u);
  EXPECT_EQ(v1[0].end, 10u);
  EXPECT_EQ(v1[1].path, "c");
  EXPECT_EQ(v1[1].begin, 0u);
  EXPECT_EQ(v1[1].end, 5u);
  EXPECT_TRUE(SplitForWorker(sizes, 2, 2).empty());  // bad index: nothing
}

TEST(InputSplitTest, EveryLineReadOnceAcrossWorkers) {
  TempDir dir;
  std::string long_line(300, 'x');  // longer than the small read buffers below
  std::vector<std::pair<std::string, std::string>> files = {
      {"", "alpha\nbeta\n\ngamma\n"},
      {"", ""},  // empty file
      {"", "no trailing newline\nlast"},
      {"", "crlf one\r\ncrlf two\r\n\r\ncrlf four\r\n"},
      {"", "short\n" + long_line + "\nafter long\n" + long_line + "y"},
      {"", "\n\n\n"},  // only empty lines
      {"", "z"},
  };
  for (size_t i = 0; i < files.size(); ++i) {
    files[i].first = dir.Write("f" + std::to_string(i), files[i].second);
  }
  for (size_t buffer : {size_t{16}, size_t{37}, size_t{1} << 16}) {
    for (int w = 1; w <= 4; ++w) CheckExactlyOnce(files, w, buffer);
  }
  CheckExactlyOnce(files, 9, 16);  // more workers than some files have lines
}

TEST(InputSplitTest, RandomFilesReadOnce) {
  TempDir dir;
  std::mt19937 rng(12345);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::pair<std::string, std::string>> files;
    const int num_files = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < num_files; ++f) {
      std::string content;
      const int num_lines = static_cast<int>(rng() % 20);
      for (int l = 0; l < num_lines; ++l) {
        const int len = static_cast<int>(rng() % 5 == 0 ? rng() % 90 : rng() % 12);
        for (int c = 0; c < len; ++c) content.push_back(static_cast<char>('a' + rng() % 26));
        if (rng() % 4 == 0) content.push_back('\r');
        if (l + 1 < num_lines || rng() % 2 == 0) content.push_back('\n');
      }
      files.emplace_back(
          dir.Write("r" + std::to_string(round) + "_" + std::to_string(f), content), content);
    }
    for (int w = 1; w <= 6; ++w) CheckExactlyOnce(files, w, 16 + round * 7);
  }
}

TEST(InputSplitTest, LineNumbersInLaterRanges) {
  TempDir dir;
  std::string content;
  for (int i = 1; i <= 50; ++i) content += "line" + std::to_string(i) + "\n";
  std::string path = dir.Write("numbers", content);
  // Worker 3 of 4 starts deep in the file; its first line must know its true number.
  LineSource source(SplitForWorker({{path, content.size()}}, 4, 3), 32);
  std::string_view line;
  bool has = false;
  ASSERT_TRUE(source.Next(&line, &has).ok());
  ASSERT_TRUE(has);
  const uint64_t n = source.LineNumber();
  EXPECT_GT(n, 30u);
  EXPECT_EQ(std::string(line), "line" + std::to_string(n));
  EXPECT_FALSE(source.IsFirstLineOfFile());
}

TEST(InputSplitTest, ExpandInputs) {
  TempDir dir;
  std::string a = dir.Write("a.txt", "1\n");
  std::string b = dir.Write("b.txt", "2\n");
  std::string c = dir.Write("c.csv", "3\n");
  dir.Write(".hidden", "4\n");
  std::filesystem::create_directory(dir.path() + "/sub");
  dir.Write("sub/deep.txt", "5\n");

  std::vector<std::string> files;
  ASSERT_TRUE(ExpandInputs(dir.path(), &files).ok());
  EXPECT_EQ(files, (std::vector<std::string>{a, b, c}));  // no hidden, no recursion, sorted

  ASSERT_TRUE(ExpandInputs(dir.path() + "/*.txt", &files).ok());
  EXPECT_EQ(files, (std::vector<std::string>{a, b}));

  // Mixed list with a duplicate, in unsorted order, with spaces and an empty item.
  ASSERT_TRUE(ExpandInputs(c + ", " + dir.path() + "/a*,," + a, &files).ok());
  EXPECT_EQ(files, (std::vector<std::string>{a, c}));

  std::string missing = dir.path() + "/missing.txt";
  Status s = ExpandInputs(a + "," + missing, &files);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find(missing), std::string::npos) << s.ToString();

  std::string pattern = dir.path() + "/*.nothing";
  s = ExpandInputs(pattern, &files);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(pattern), std::string::npos) << s.ToString();

  std::filesystem::create_directory(dir.path() + "/empty_dir");
  s = ExpandInputs(dir.path() + "/empty_dir", &files);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("empty_dir"), std::string::npos) << s.ToString();

  EXPECT_FALSE(ExpandInputs(" , ", &files).ok());
}

TEST(InputSplitTest, MissingFileAtReadTimeIsIoError) {
  TempDir dir;
  std::string gone = dir.path() + "/gone";
  LineSource source({FileRange{gone, 0, 10}}, 64);
  std::string_view line;
  bool has = false;
  Status s = source.Next(&line, &has);
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_NE(s.message().find(gone), std::string::npos);
}

}  // namespace
}  // namespace embark
