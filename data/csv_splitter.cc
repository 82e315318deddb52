#include "data/csv_splitter.h"

namespace embark {

bool CsvSplitter::Split(std::string_view line, std::vector<std::string_view>* cells) {
  cells->clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Unescaped text is never longer than the line, so the buffer never reallocates below and
  // the views into it stay valid.
  unescaped_.clear();
  unescaped_.reserve(line.size());
  const bool trim = delimiter_ != ' ';
  const size_t n = line.size();
  size_t i = 0;
  for (;;) {
    size_t b = i;
    if (trim) {
      while (b < n && line[b] == ' ') ++b;
    }
    if (quote_ != 0 && b < n && line[b] == quote_) {
      // Quoted cell: copy until the closing quote, turning "" into ".
      const size_t start = unescaped_.size();
      size_t j = b + 1;
      bool closed = false;
      bool escaped = false;
      size_t run_start = j;
      while (j < n) {
        if (line[j] == quote_) {
          if (j + 1 < n && line[j + 1] == quote_) {
            unescaped_.append(line.data() + run_start, j + 1 - run_start);
            escaped = true;
            j += 2;
            run_start = j;
            continue;
          }
          closed = true;
          break;
        }
        ++j;
      }
      if (!closed) return false;
      std::string_view cell;
      if (escaped) {
        unescaped_.append(line.data() + run_start, j - run_start);
        cell = std::string_view(unescaped_.data() + start, unescaped_.size() - start);
      } else {
        cell = line.substr(b + 1, j - b - 1);
      }
      ++j;  // past the closing quote
      if (trim) {
        while (j < n && line[j] == ' ') ++j;
      }
      cells->push_back(cell);
      if (j == n) return true;
      if (line[j] != delimiter_) return false;  // text after the closing quote
      i = j + 1;
      continue;
    }
    size_t e = line.find(delimiter_, b);
    const bool last = e == std::string_view::npos;
    if (last) e = n;
    size_t t = e;
    if (trim) {
      while (t > b && line[t - 1] == ' ') --t;
    }
    cells->push_back(line.substr(b, t - b));
    if (last) return true;
    i = e + 1;
  }
}

}  // namespace embark
