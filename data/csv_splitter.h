// CsvSplitter: splits one line of a delimited file into its cells, RFC 4180 style.
//
// A cell may be enclosed in the quote character; inside quotes the delimiter is an ordinary
// character and a doubled quote ("") stands for one quote. Spaces before an opening quote and
// after a closing one are ignored; an unquoted cell is trimmed of spaces at both ends (unless
// the delimiter is a space). A quote inside an unquoted cell is kept as it is (as Python's csv
// module does). A quoted cell must end on the same line: records spanning lines are not
// supported, and an unclosed quote, or text after a closing quote, makes the line bad
// (bad_quote). The views returned point into the line or into the splitter's own buffer (for
// cells that had "" escapes) and stay valid until the next Split.
//
// Thread-safety: one per thread (it owns a scratch buffer).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace embark {

class CsvSplitter {
 public:
  CsvSplitter(char delimiter, char quote) : delimiter_(delimiter), quote_(quote) {}

  // Replaces *cells with the cells of `line` (no '\n'; a trailing '\r' is removed). Returns
  // false for a quoting error.
  bool Split(std::string_view line, std::vector<std::string_view>* cells);

 private:
  const char delimiter_;
  const char quote_;  // 0: no quoting
  std::string unescaped_;
};

}  // namespace embark
