#include "data/csv_schema.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace embark {
namespace {

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Splits a schema line into words; a word starting with '#' starts a comment.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i == line.size() || line[i] == '#') break;
    size_t e = i;
    while (e < line.size() && line[e] != ' ' && line[e] != '\t' && line[e] != '\r') ++e;
    words.push_back(line.substr(i, e - i));
    i = e;
  }
  return words;
}

bool ParseDouble(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(*out);
}

bool ParseInt(std::string_view s, long long* out) {
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && res.ec == std::errc() && res.ptr == s.data() + s.size();
}

// A separator given by name or as one literal character.
bool ParseChar(std::string_view s, char* out) {
  if (s == "comma") { *out = ','; return true; }
  if (s == "tab") { *out = '\t'; return true; }
  if (s == "pipe") { *out = '|'; return true; }
  if (s == "semicolon") { *out = ';'; return true; }
  if (s == "space") { *out = ' '; return true; }
  if (s.size() == 1) { *out = s[0]; return true; }
  return false;
}

bool IsTokenByteToEscape(unsigned char c) {
  return c == ':' || c == '%' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

}  // namespace

const char* ColumnRoleName(ColumnRole role) {
  switch (role) {
    case ColumnRole::kIgnore: return "ignore";
    case ColumnRole::kLabel: return "label";
    case ColumnRole::kCategorical: return "categorical";
    case ColumnRole::kNumeric: return "numeric";
    case ColumnRole::kTags: return "tags";
    case ColumnRole::kText: return "text";
    case ColumnRole::kFlag: return "flag";
    case ColumnRole::kTimestamp: return "timestamp";
    case ColumnRole::kQuantity: return "quantity";
  }
  return "unknown";
}

std::string_view EscapeToken(std::string_view raw, std::string* scratch) {
  size_t i = 0;
  while (i < raw.size() && !IsTokenByteToEscape(static_cast<unsigned char>(raw[i]))) ++i;
  if (i == raw.size()) return raw;
  static const char kHex[] = "0123456789ABCDEF";
  scratch->assign(raw.data(), i);
  for (; i < raw.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (IsTokenByteToEscape(c)) {
      scratch->push_back('%');
      scratch->push_back(kHex[c >> 4]);
      scratch->push_back(kHex[c & 15]);
    } else {
      scratch->push_back(static_cast<char>(c));
    }
  }
  return *scratch;
}

Status CsvSchema::Error(int line, const std::string& what) const {
  return Status::InvalidArgument(source_ + ":" + std::to_string(line) + ": " + what);
}

std::string CsvSchema::Where(int col) const {
  return source_ + ":" + std::to_string(columns_[col].schema_line) + ": ";
}

int CsvSchema::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool CsvSchema::IsMissing(std::string_view cell) const {
  if (cell.empty()) return true;
  for (const std::string& w : missing_words_) {
    if (cell == w) return true;
  }
  return false;
}

Status CsvSchema::Load(const std::string& path, CsvSchema* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read schema file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), path, out);
}

Status CsvSchema::LoadShared(const std::string& path, std::shared_ptr<const CsvSchema>* out) {
  auto schema = std::make_shared<CsvSchema>();
  EMBARK_RETURN_IF_ERROR(Load(path, schema.get()));
  *out = std::move(schema);
  return Status::OK();
}

Status CsvSchema::Parse(std::string_view text, const std::string& source, CsvSchema* out) {
  CsvSchema s;
  s.source_ = source;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    ++line_no;
    const std::vector<std::string_view> words = Words(text.substr(pos, nl - pos));
    if (!words.empty()) EMBARK_RETURN_IF_ERROR(s.ParseLine(words, line_no));
    pos = nl + 1;
  }
  EMBARK_RETURN_IF_ERROR(s.Validate());
  *out = std::move(s);
  return Status::OK();
}

Status CsvSchema::ParseLine(const std::vector<std::string_view>& w, int line) {
  const std::string_view d = w[0];
  auto want_args = [&](size_t n) -> Status {
    if (w.size() != n + 1) {
      return Error(line, std::string(d) + " takes " + std::to_string(n) + " value" +
                             (n == 1 ? "" : "s") + ", got " + std::to_string(w.size() - 1));
    }
    return Status::OK();
  };
  if (d == "column") return ParseColumn(w, line);
  if (d == "delimiter") {
    EMBARK_RETURN_IF_ERROR(want_args(1));
    if (!ParseChar(w[1], &delimiter_) || delimiter_ == '\n' || delimiter_ == '\r')
      return Error(line, "delimiter must be comma, tab, pipe, semicolon, space or one character, got " + Quoted(w[1]));
    return Status::OK();
  }
  if (d == "quote") {
    EMBARK_RETURN_IF_ERROR(want_args(1));
    if (w[1] == "none") {
      quote_ = 0;
    } else if (w[1] == "\"" || w[1] == "'") {
      quote_ = w[1][0];
    } else {
      return Error(line, "quote must be \" or ' or none, got " + Quoted(w[1]));
    }
    return Status::OK();
  }
  if (d == "header") {
    EMBARK_RETURN_IF_ERROR(want_args(1));
    if (w[1] != "yes" && w[1] != "no") return Error(line, "header must be yes or no, got " + Quoted(w[1]));
    header_ = w[1] == "yes";
    return Status::OK();
  }
  if (d == "missing") {
    if (w.size() < 2) return Error(line, "missing needs at least one spelling of a missing value (e.g. missing NA)");
    for (size_t i = 1; i < w.size(); ++i) missing_words_.emplace_back(w[i]);
    return Status::OK();
  }
  if (d == "label") {
    if (w.size() != 3 || w[1] != "constant")
      return Error(line, "expected 'label constant 0|1' (a label column is declared with 'column NAME label')");
    if (w[2] != "0" && w[2] != "1") return Error(line, "label constant must be 0 or 1, got " + Quoted(w[2]));
    if (has_constant_label_) return Error(line, "label constant given twice");
    has_constant_label_ = true;
    constant_label_ = w[2] == "1" ? 1.0f : 0.0f;
    constant_label_line_ = line;
    return Status::OK();
  }
  if (d == "cancel") {
    if (w.size() != 6 || w[2] != "prefix" || w[4] != "policy")
      return Error(line, "expected 'cancel COLUMN prefix P policy drop|net|fail'");
    if (cancel_line_ != 0) return Error(line, "cancel given twice (first on line " + std::to_string(cancel_line_) + ")");
    cancel_column_name_ = std::string(w[1]);
    cancel_prefix_ = std::string(w[3]);
    cancel_line_ = line;
    if (w[5] == "drop") {
      cancel_policy_ = CancelPolicy::kDrop;
    } else if (w[5] == "net") {
      cancel_policy_ = CancelPolicy::kNet;
    } else if (w[5] == "fail") {
      cancel_policy_ = CancelPolicy::kFail;
    } else {
      return Error(line, "cancel policy must be drop, net or fail, got " + Quoted(w[5]));
    }
    return Status::OK();
  }
  if (d == "duplicates") {
    if (w.size() != 2 && !(w.size() == 4 && w[2] == "key"))
      return Error(line, "expected 'duplicates drop|keep|fail [key COL,COL...]'");
    if (duplicates_line_ != 0) return Error(line, "duplicates given twice (first on line " + std::to_string(duplicates_line_) + ")");
    duplicates_line_ = line;
    if (w[1] == "drop") {
      duplicate_policy_ = DuplicatePolicy::kDrop;
    } else if (w[1] == "keep") {
      duplicate_policy_ = DuplicatePolicy::kKeep;
    } else if (w[1] == "fail") {
      duplicate_policy_ = DuplicatePolicy::kFail;
    } else {
      return Error(line, "duplicates policy must be drop, keep or fail, got " + Quoted(w[1]));
    }
    if (w.size() == 4) {
      std::string_view keys = w[3];
      size_t p = 0;
      while (p <= keys.size()) {
        size_t c = keys.find(',', p);
        if (c == std::string_view::npos) c = keys.size();
        if (c == p) return Error(line, "empty column name in duplicates key " + Quoted(keys));
        duplicate_key_names_.emplace_back(keys.substr(p, c - p));
        p = c + 1;
      }
    }
    return Status::OK();
  }
  if (d == "history") return ParseHistory(w, line);
  return Error(line, "unknown directive " + Quoted(d) +
                         " (expected column, delimiter, quote, header, missing, label, cancel, duplicates or history)");
}

Status CsvSchema::ParseHistory(const std::vector<std::string_view>& w, int line) {
  const char kUsage[] = "expected 'history field F [max N] [from G]'";
  HistorySpec h;
  h.schema_line = line;
  for (size_t i = 1; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return Error(line, kUsage);
    long long v = 0;
    if (!ParseInt(w[i + 1], &v)) return Error(line, std::string(w[i]) + " needs a whole number, got " + Quoted(w[i + 1]));
    if (w[i] == "field") {
      if (v < 0 || v > 65535) return Error(line, "history field outside 0..65535");
      h.field = static_cast<int>(v);
    } else if (w[i] == "max") {
      if (v < 1 || v > 100000) return Error(line, "history max must be in [1, 100000]");
      h.max_items = static_cast<int>(v);
    } else if (w[i] == "from") {
      if (v < 0 || v > 65535) return Error(line, "history from outside 0..65535");
      h.from_field = static_cast<int>(v);
    } else {
      return Error(line, "unknown history option " + Quoted(w[i]) + " (" + kUsage + ")");
    }
  }
  if (h.field < 0) return Error(line, kUsage);
  for (const HistorySpec& o : histories_) {
    if (o.field == h.field)
      return Error(line, "history field " + std::to_string(h.field) + " already used on line " + std::to_string(o.schema_line));
  }
  histories_.push_back(h);
  return Status::OK();
}

Status CsvSchema::ParseColumn(const std::vector<std::string_view>& w, int line) {
  if (w.size() < 3) return Error(line, "expected 'column NAME ROLE [options]'");
  ColumnSpec c;
  c.name = std::string(w[1]);
  c.schema_line = line;
  const std::string_view role = w[2];
  if (role == "label") {
    c.role = ColumnRole::kLabel;
  } else if (role == "categorical") {
    c.role = ColumnRole::kCategorical;
  } else if (role == "numeric") {
    c.role = ColumnRole::kNumeric;
  } else if (role == "tags") {
    c.role = ColumnRole::kTags;
  } else if (role == "text") {
    c.role = ColumnRole::kText;
  } else if (role == "flag") {
    c.role = ColumnRole::kFlag;
  } else if (role == "timestamp") {
    c.role = ColumnRole::kTimestamp;
  } else if (role == "quantity") {
    c.role = ColumnRole::kQuantity;
  } else if (role == "ignore") {
    c.role = ColumnRole::kIgnore;
  } else {
    return Error(line, "column " + c.name + ": unknown role " + Quoted(role) +
                           " (expected label, categorical, numeric, tags, text, flag, timestamp, quantity or ignore)");
  }
  const bool feature = c.IsFeature();
  c.missing = feature ? MissingPolicy::kId : MissingPolicy::kFail;
  const std::string col = "column " + c.name + ": ";

  size_t i = 3;
  while (i < w.size()) {
    const std::string_view opt = w[i];
    if (i + 1 >= w.size()) return Error(line, col + "option " + Quoted(opt) + " needs a value");
    const std::string_view v = w[i + 1];
    i += 2;
    auto not_for_role = [&]() {
      return Error(line, col + "option " + Quoted(opt) + " does not apply to role " + ColumnRoleName(c.role));
    };
    if (opt == "missing") {
      if (c.role == ColumnRole::kIgnore) return not_for_role();
      if (v == "drop") {
        c.missing = MissingPolicy::kDrop;
      } else if (v == "fail") {
        c.missing = MissingPolicy::kFail;
      } else if (v == "id" && feature) {
        c.missing = MissingPolicy::kId;
      } else {
        return Error(line, col + "missing must be drop, fail" + (feature ? ", or id" : " (a " + std::string(ColumnRoleName(c.role)) + " column has no missing id)") +
                               ", got " + Quoted(v));
      }
    } else if (opt == "field") {
      if (!feature) return not_for_role();
      long long f = -1;
      if (!ParseInt(v, &f) || f < 0 || f > 65535) return Error(line, col + "field must be an integer in 0..65535, got " + Quoted(v));
      c.field = static_cast<int>(f);
    } else if (opt == "threshold") {
      if (c.role != ColumnRole::kLabel) return not_for_role();
      double t;
      if (!ParseDouble(v, &t)) return Error(line, col + "threshold must be a number, got " + Quoted(v));
      c.has_threshold = true;
      c.threshold = static_cast<float>(t);
    } else if (opt == "norm") {
      if (c.role != ColumnRole::kNumeric) return not_for_role();
      int params = 0;
      if (v == "none") {
        c.norm = Normalization::kNone;
      } else if (v == "log1p") {
        c.norm = Normalization::kLog1p;
      } else if (v == "zscore") {
        c.norm = Normalization::kZscore;
        params = 2;
      } else if (v == "minmax") {
        c.norm = Normalization::kMinmax;
        params = 2;
      } else if (v == "buckets") {
        c.norm = Normalization::kBuckets;
      } else {
        return Error(line, col + "norm must be none, log1p, zscore MEAN STD, minmax MIN MAX or buckets, got " + Quoted(v));
      }
      if (params == 2) {
        if (i + 2 > w.size() || !ParseDouble(w[i], &c.norm_a) || !ParseDouble(w[i + 1], &c.norm_b))
          return Error(line, col + "norm " + std::string(v) + " needs two numbers (" +
                                 (c.norm == Normalization::kZscore ? "MEAN STD" : "MIN MAX") + ")");
        i += 2;
        if (c.norm == Normalization::kZscore && !(c.norm_b > 0))
          return Error(line, col + "zscore STD must be positive");
        if (c.norm == Normalization::kMinmax && !(c.norm_b > c.norm_a))
          return Error(line, col + "minmax MAX must be greater than MIN");
      }
    } else if (opt == "sep") {
      if (c.role != ColumnRole::kTags) return not_for_role();
      if (!ParseChar(v, &c.tag_separator)) return Error(line, col + "sep must be one character or a name (comma, tab, pipe, semicolon, space), got " + Quoted(v));
    } else if (opt == "min_len") {
      if (c.role != ColumnRole::kText) return not_for_role();
      long long n = 0;
      if (!ParseInt(v, &n) || n < 1 || n > 1000) return Error(line, col + "min_len must be an integer in 1..1000, got " + Quoted(v));
      c.min_token_length = static_cast<int>(n);
    } else if (opt == "stopwords") {
      if (c.role != ColumnRole::kText) return not_for_role();
      if (v != "yes" && v != "no") return Error(line, col + "stopwords must be yes or no, got " + Quoted(v));
      c.stop_words = v == "yes";
    } else if (opt == "token") {
      if (c.role != ColumnRole::kFlag) return not_for_role();
      c.flag_token = std::string(v);
    } else {
      return Error(line, col + "unknown option " + Quoted(opt));
    }
  }
  if (feature && c.field < 0) return Error(line, col + "a " + std::string(ColumnRoleName(c.role)) + " column needs 'field F'");
  std::string scratch;
  c.escaped_name = std::string(EscapeToken(c.name, &scratch));
  if (c.role == ColumnRole::kFlag) {
    if (c.flag_token.empty()) c.flag_token = c.name;
    c.flag_token = std::string(EscapeToken(c.flag_token, &scratch));
  }
  for (const ColumnSpec& other : columns_) {
    if (other.name == c.name)
      return Error(line, col + "name used twice (first on line " + std::to_string(other.schema_line) + ")");
  }
  columns_.push_back(std::move(c));
  return Status::OK();
}

Status CsvSchema::Validate() {
  if (columns_.empty()) return Error(1, "no columns declared (one 'column NAME ROLE' line per CSV column)");
  for (size_t i = 0; i < columns_.size(); ++i) {
    const ColumnSpec& c = columns_[i];
    const int col = static_cast<int>(i);
    auto only_one = [&](int* slot) -> Status {
      if (*slot >= 0) {
        return Error(c.schema_line, "column " + c.name + ": a second " + ColumnRoleName(c.role) +
                                        " column (the first is " + columns_[*slot].name + " on line " +
                                        std::to_string(columns_[*slot].schema_line) + ")");
      }
      *slot = col;
      return Status::OK();
    };
    if (c.role == ColumnRole::kLabel) EMBARK_RETURN_IF_ERROR(only_one(&label_column_));
    if (c.role == ColumnRole::kTimestamp) EMBARK_RETURN_IF_ERROR(only_one(&timestamp_column_));
    if (c.role == ColumnRole::kQuantity) EMBARK_RETURN_IF_ERROR(only_one(&quantity_column_));
    if (!c.IsFeature()) continue;
    // A field belongs to one column, so equal ids of two columns never share a key; only flag
    // columns (whose ids are their own names) may share one.
    for (size_t j = 0; j < i; ++j) {
      const ColumnSpec& o = columns_[j];
      if (!o.IsFeature() || o.field != c.field) continue;
      if (o.role == ColumnRole::kFlag && c.role == ColumnRole::kFlag) {
        if (o.flag_token == c.flag_token)
          return Error(c.schema_line, "column " + c.name + ": flag token " + Quoted(c.flag_token) +
                                          " already emitted in field " + std::to_string(c.field) + " by column " + o.name);
        continue;
      }
      return Error(c.schema_line, "column " + c.name + ": field " + std::to_string(c.field) +
                                      " is already used by column " + o.name + " (line " +
                                      std::to_string(o.schema_line) + "); only flag columns may share a field");
    }
  }
  if (has_constant_label_ && label_column_ >= 0)
    return Error(constant_label_line_, "label constant contradicts the label column " + columns_[label_column_].name);
  if (cancel_line_ != 0) {
    cancel_column_ = ColumnIndex(cancel_column_name_);
    if (cancel_column_ < 0) return Error(cancel_line_, "cancel: no column named " + Quoted(cancel_column_name_));
  }
  for (const std::string& name : duplicate_key_names_) {
    const int k = ColumnIndex(name);
    if (k < 0) return Error(duplicates_line_, "duplicates key: no column named " + Quoted(name));
    duplicate_keys_.push_back(k);
  }
  for (const HistorySpec& h : histories_) {
    for (const ColumnSpec& c : columns_) {
      // Writing history in the very field it is taken from is the shared-vocabulary case.
      if (c.IsFeature() && c.field == h.field && h.field != h.from_field)
        return Error(h.schema_line, "history field " + std::to_string(h.field) + " is already used by column " + c.name +
                                        " (line " + std::to_string(c.schema_line) + ")");
    }
  }
  if (quote_ != 0 && quote_ == delimiter_) return Error(1, "the delimiter and the quote are the same character");
  for (const ColumnSpec& c : columns_) {
    if (c.role == ColumnRole::kTags && c.tag_separator == delimiter_ && quote_ == 0)
      return Error(c.schema_line, "column " + c.name + ": the tag separator equals the delimiter and fields cannot be quoted");
  }
  return Status::OK();
}

}  // namespace embark
