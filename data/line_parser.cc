#include "data/line_parser.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "data/csv_line_parser.h"

namespace embark {
namespace {

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view TrimSpaces(std::string_view s) {
  size_t b = 0;
  while (b < s.size() && IsSpace(s[b])) ++b;
  size_t e = s.size();
  while (e > b && IsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Splits off the next whitespace-separated token of *rest; empty when none is left.
inline std::string_view NextToken(std::string_view* rest) {
  size_t b = 0;
  const size_t n = rest->size();
  while (b < n && IsSpace((*rest)[b])) ++b;
  size_t e = b;
  while (e < n && !IsSpace((*rest)[e])) ++e;
  std::string_view tok = rest->substr(b, e - b);
  rest->remove_prefix(e);
  return tok;
}

// Removes the batch features appended since a bad line started, so the batch stays valid.
inline void Rollback(Batch* batch, size_t num_features) {
  batch->keys.resize(num_features);
  batch->values.resize(num_features);
  batch->fields.resize(num_features);
}

// A click label: -1, 0 or 1 (any float spelling); -1 maps to 0.
inline bool ParseClickLabel(std::string_view s, float* label, BadLineReason* reason) {
  float v;
  if (!ParseFloatField(s, &v, reason)) return false;
  if (v == 1.0f) {
    *label = 1.0f;
  } else if (v == 0.0f || v == -1.0f) {
    *label = 0.0f;
  } else {
    *reason = BadLineReason::kLabelOutOfRange;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

class RatingsParser final : public LineParser {
 public:
  explicit RatingsParser(const ParserOptions& options) : options_(options) {}

  void StartFile() override { sep_ = Separator::kUnknown; }

  Outcome Parse(std::string_view line, bool first_line_of_file, Batch* batch,
                BadLineReason* reason) override {
    line = TrimSpaces(line);
    if (line.empty()) return Outcome::kBlank;
    if (sep_ == Separator::kUnknown) sep_ = Detect(line);

    // Up to 5 columns are collected so "too many" can be told from "exactly 4".
    std::string_view cols[5];
    int n = Split(line, cols, 5);
    if (n < 3 || n > 4) {
      *reason = BadLineReason::kWrongFieldCount;
      return Outcome::kBad;
    }
    float rating;
    if (!ParseFloatField(cols[2], &rating, reason)) {
      if (first_line_of_file && *reason == BadLineReason::kNonNumeric) {
        // A header; the separator is detected again from the first data line.
        sep_ = Separator::kUnknown;
        return Outcome::kBlank;
      }
      return Outcome::kBad;
    }
    if (cols[0].empty() || cols[1].empty()) {
      *reason = BadLineReason::kBadFeature;
      return Outcome::kBad;
    }
    if (!(rating >= options_.min_rating && rating <= options_.max_rating)) {
      *reason = BadLineReason::kLabelOutOfRange;
      return Outcome::kBad;
    }
    batch->AddFeature(FeatureKey(0, cols[0]), 1.0f, 0);
    batch->AddFeature(FeatureKey(1, cols[1]), 1.0f, 1);
    batch->EndExample(rating);
    return Outcome::kExample;
  }

 private:
  enum class Separator : uint8_t { kUnknown, kDoubleColon, kTab, kComma, kWhitespace };

  static Separator Detect(std::string_view line) {
    if (line.find("::") != std::string_view::npos) return Separator::kDoubleColon;
    if (line.find('\t') != std::string_view::npos) return Separator::kTab;
    if (line.find(',') != std::string_view::npos) return Separator::kComma;
    return Separator::kWhitespace;
  }

  // Splits `line` into columns, storing at most `max`. Returns the number of columns, except
  // that a line with more than `max` returns `max` or `max + 1` -- either way "too many" for
  // callers that accept fewer than `max`.
  int Split(std::string_view line, std::string_view* cols, int max) const {
    int n = 0;
    if (sep_ == Separator::kWhitespace) {
      while (n < max) {
        std::string_view tok = NextToken(&line);
        if (tok.empty()) break;
        cols[n++] = tok;
      }
      return n;
    }
    const size_t sep_len = sep_ == Separator::kDoubleColon ? 2 : 1;
    const char sep_char = sep_ == Separator::kTab ? '\t' : sep_ == Separator::kComma ? ',' : ':';
    size_t start = 0;
    for (;;) {
      size_t pos = sep_len == 2 ? line.find("::", start) : line.find(sep_char, start);
      std::string_view col =
          line.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
      if (n == max) return max + 1;  // more columns than anyone accepts
      cols[n++] = TrimSpaces(col);
      if (pos == std::string_view::npos) return n;
      start = pos + sep_len;
    }
  }

  ParserOptions options_;
  Separator sep_ = Separator::kUnknown;
};

// ---------------------------------------------------------------------------------------------

// libsvm/libFM (kFields = false) and libffm (kFields = true) share the token loop.
template <bool kFields>
class SparseParser final : public LineParser {
 public:
  explicit SparseParser(uint32_t num_fields = 0) : num_fields_(num_fields) {}

  Outcome Parse(std::string_view line, bool /*first_line_of_file*/, Batch* batch,
                BadLineReason* reason) override {
    std::string_view rest = line;
    std::string_view label_tok = NextToken(&rest);
    if (label_tok.empty()) return Outcome::kBlank;
    float label;
    if (label_tok.find(':') != std::string_view::npos) {
      *reason = BadLineReason::kWrongFieldCount;  // the label column is missing
      return Outcome::kBad;
    }
    if (!ParseClickLabel(label_tok, &label, reason)) return Outcome::kBad;

    const size_t start_features = batch->keys.size();
    for (;;) {
      std::string_view tok = NextToken(&rest);
      if (tok.empty()) break;
      if (!AddToken(tok, batch, reason)) {
        Rollback(batch, start_features);
        return Outcome::kBad;
      }
    }
    batch->EndExample(label);
    return Outcome::kExample;
  }

 private:
  bool AddToken(std::string_view tok, Batch* batch, BadLineReason* reason) {
    uint16_t field = 0;
    if (kFields) {
      // Check the shape first: "a:1" (a libsvm token) is a bad feature, not a bad field.
      size_t c = tok.find(':');
      if (c == std::string_view::npos || c == 0 ||
          tok.find(':', c + 1) == std::string_view::npos) {
        *reason = BadLineReason::kBadFeature;
        return false;
      }
      if (!ParseField(tok.substr(0, c), &field, reason)) return false;
      tok.remove_prefix(c + 1);
    }
    // Exactly one ':' must remain, between a non-empty id and the value.
    size_t c = tok.find(':');
    if (c == std::string_view::npos || c == 0 ||
        tok.find(':', c + 1) != std::string_view::npos) {
      *reason = BadLineReason::kBadFeature;
      return false;
    }
    float value;
    if (!ParseFloatField(tok.substr(c + 1), &value, reason)) return false;
    batch->AddFeature(FeatureKey(field, tok.substr(0, c)), value, field);
    return true;
  }

  bool ParseField(std::string_view s, uint16_t* field, BadLineReason* reason) {
    long long v = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (res.ec == std::errc::result_out_of_range && res.ptr == s.data() + s.size()) {
      *reason = BadLineReason::kFieldOutOfRange;
      detail_ = "field " + std::string(s) + " is not in 0..65535";
      return false;
    }
    if (res.ec != std::errc() || res.ptr != s.data() + s.size()) {
      *reason = BadLineReason::kNonNumeric;
      return false;
    }
    if (v < 0 || v > 65535) {
      *reason = BadLineReason::kFieldOutOfRange;
      detail_ = "field " + std::to_string(v) + " is not in 0..65535";
      return false;
    }
    if (num_fields_ > 0 && v >= num_fields_) {
      *reason = BadLineReason::kFieldOutOfRange;
      detail_ = "field " + std::to_string(v) + " but the model has num_fields " +
                std::to_string(num_fields_) + " (fields 0.." + std::to_string(num_fields_ - 1) + ")";
      return false;
    }
    *field = static_cast<uint16_t>(v);
    return true;
  }

  const uint32_t num_fields_;  // 0: any field 0..65535
};

// ---------------------------------------------------------------------------------------------

// Criteo display-ads logs; the rules are in line_parser.h.
class CriteoParser final : public LineParser {
 public:
  void StartFile() override {
    sep_ = 0;
    layout_ = Layout::kUnknown;
  }

  Outcome Parse(std::string_view line, bool first_line_of_file, Batch* batch,
                BadLineReason* reason) override {
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(' ') == std::string_view::npos) return Outcome::kBlank;
    if (sep_ == 0) sep_ = line.find('\t') != std::string_view::npos ? '\t' : ',';

    std::string_view cols[kIdLabelColumns];
    const int n = Split(line, sep_, cols);
    if (first_line_of_file && IsHeader(cols, n)) return ReadHeader(cols, n, reason);

    if (layout_ == Layout::kUnknown) {
      if (n == kLabelColumns) layout_ = Layout::kLabelFirst;
      if (n == kIdLabelColumns) layout_ = Layout::kIdThenLabel;
    }
    if (layout_ == Layout::kUnknown || layout_ == Layout::kUnlabeled ||
        n != ColumnCount(layout_)) {
      *reason = BadLineReason::kWrongFieldCount;
      return Outcome::kBad;
    }
    const std::string_view* label_and_features = cols + (layout_ == Layout::kIdThenLabel);

    float label;
    if (!ParseFloatField(label_and_features[0], &label, reason)) return Outcome::kBad;
    if (label != 0.0f && label != 1.0f) {
      *reason = BadLineReason::kLabelOutOfRange;
      return Outcome::kBad;
    }

    const std::string_view* features = label_and_features + 1;
    const size_t start_features = batch->keys.size();
    char buf[kBucketChars];
    for (uint16_t f = 0; f < kCriteoIntegerFields; ++f) {
      std::string_view bucket;  // stays "" (the missing id) for an empty column
      if (!features[f].empty() && !IntegerBucket(features[f], buf, &bucket)) {
        Rollback(batch, start_features);
        *reason = BadLineReason::kNonNumeric;
        return Outcome::kBad;
      }
      batch->AddFeature(FeatureKey(f, bucket), 1.0f, f);
    }
    for (uint16_t f = kCriteoIntegerFields; f < kCriteoFields; ++f) {
      batch->AddFeature(FeatureKey(f, features[f]), 1.0f, f);  // "" is the missing id
    }
    batch->EndExample(label);
    return Outcome::kExample;
  }

 private:
  // Which column holds what; fixed per range (see line_parser.h).
  enum class Layout : uint8_t {
    kUnknown,      // no line with a usable column count seen yet
    kLabelFirst,   // label, 39 features
    kIdThenLabel,  // id, label, 39 features
    kUnlabeled,    // a header said: id, 39 features, no label -- nothing can be trained on
  };
  static constexpr int kLabelColumns = 1 + kCriteoFields;    // 40
  static constexpr int kIdLabelColumns = 2 + kCriteoFields;  // 41
  // "b" + the digits of an int64 (in practice floor(ln(v)^2) has at most 6 digits).
  static constexpr int kBucketChars = 24;

  static int ColumnCount(Layout layout) {
    return layout == Layout::kIdThenLabel ? kIdLabelColumns : kLabelColumns;
  }

  // Splits `line` at every `sep` into cols[0..kIdLabelColumns). Returns the column count, or
  // kIdLabelColumns + 1 for a line with more columns than any layout has.
  static int Split(std::string_view line, char sep, std::string_view* cols) {
    const char* p = line.data();
    const char* const end = p + line.size();
    int n = 0;
    for (;;) {
      if (n == kIdLabelColumns) return kIdLabelColumns + 1;
      const char* q = static_cast<const char*>(std::memchr(p, sep, end - p));
      if (q == nullptr) {
        cols[n++] = std::string_view(p, end - p);
        return n;
      }
      cols[n++] = std::string_view(p, q - p);
      p = q + 1;
    }
  }

  static bool IsNumber(std::string_view s) {
    float unused;
    BadLineReason why;
    return ParseFloatField(s, &unused, &why) || why != BadLineReason::kNonNumeric;
  }

  // Line 1 is a header when the column that would hold the label is not a number.
  static bool IsHeader(const std::string_view* cols, int n) {
    return !IsNumber(cols[n == kIdLabelColumns ? 1 : 0]);
  }

  static bool NameIs(std::string_view col, std::string_view lower_name) {
    if (col.size() != lower_name.size()) return false;
    for (size_t i = 0; i < col.size(); ++i) {
      char c = col[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != lower_name[i]) return false;
    }
    return true;
  }

  // Sets the layout from a header, which must agree with the headerless rule (so ranges that
  // never see line 1 read the file the same way). The separator is detected again from the
  // first data line, as the ratings parser does.
  Outcome ReadHeader(const std::string_view* cols, int n, BadLineReason* reason) {
    sep_ = 0;
    int id_col = -1, label_col = -1;
    bool repeated = false;
    for (int i = 0; i < n && i < kIdLabelColumns; ++i) {
      if (NameIs(cols[i], "id")) {
        repeated |= id_col >= 0;
        id_col = i;
      } else if (NameIs(cols[i], "label")) {
        repeated |= label_col >= 0;
        label_col = i;
      }
    }
    Layout layout = Layout::kUnknown;
    if (!repeated) {
      if (n == kIdLabelColumns && (id_col == -1 || id_col == 0) &&
          (label_col == -1 || label_col == 1)) {
        layout = Layout::kIdThenLabel;
      } else if (n == kLabelColumns && id_col == 0 && label_col == -1) {
        layout = Layout::kUnlabeled;
      } else if (n == kLabelColumns && id_col == -1 && (label_col == -1 || label_col == 0)) {
        layout = Layout::kLabelFirst;
      }
    }
    if (layout == Layout::kUnknown) {
      *reason = BadLineReason::kWrongFieldCount;
      return Outcome::kBad;
    }
    layout_ = layout;
    return Outcome::kBlank;
  }

  // Log-binning of integer column `s` (non-empty) into *bucket, which may point into buf.
  // False if `s` is not a decimal integer (optionally with a zero fraction, "260.0").
  static bool IntegerBucket(std::string_view s, char* buf, std::string_view* bucket) {
    const char* p = s.data();
    const char* const end = p + s.size();
    const bool plus = *p == '+';  // from_chars takes only '-'
    if (plus) ++p;
    const char* digits = (!plus && p != end && *p == '-') ? p + 1 : p;  // "+-1" is no number
    if (digits == end || *digits < '0' || *digits > '9') return false;
    int64_t v = 0;
    auto res = std::from_chars(p, end, v);
    const char* q = res.ptr;
    if (q != end) {  // only a zero fraction may follow: "260." or "260.00"
      if (*q != '.') return false;
      for (++q; q != end; ++q) {
        if (*q != '0') return false;
      }
    }
    double x = static_cast<double>(v);
    if (res.ec == std::errc::result_out_of_range) {
      // Beyond int64: still an integer, binned from its double value.
      if (*p == '-') {
        x = -1.0;
      } else {
        std::from_chars(p, res.ptr, x);
      }
    } else if (res.ec != std::errc()) {
      return false;
    }
    if (x < 0) {
      *bucket = "neg";
    } else if (x <= 2) {
      static constexpr std::string_view kSmall[] = {"0", "1", "2"};
      *bucket = kSmall[static_cast<int>(x)];
    } else {
      const double l = std::log(x);
      const auto k = static_cast<int64_t>(std::floor(l * l));
      buf[0] = 'b';
      auto tc = std::to_chars(buf + 1, buf + kBucketChars, k);
      *bucket = std::string_view(buf, tc.ptr - buf);
    }
    return true;
  }

  char sep_ = 0;  // 0 until detected
  Layout layout_ = Layout::kUnknown;
};

}  // namespace

bool ParseFloatField(std::string_view s, float* out, BadLineReason* reason) {
  const char* p = s.data();
  const char* end = p + s.size();
  if (p != end && *p == '+') {
    ++p;
    if (p != end && (*p == '+' || *p == '-')) {  // "+-1" is not a number
      *reason = BadLineReason::kNonNumeric;
      return false;
    }
  }
  if (p == end) {
    *reason = BadLineReason::kNonNumeric;
    return false;
  }
  float v = 0.0f;
  auto res = std::from_chars(p, end, v, std::chars_format::general);
  if (res.ptr != end || (res.ec != std::errc() && res.ec != std::errc::result_out_of_range)) {
    *reason = BadLineReason::kNonNumeric;
    return false;
  }
  if (res.ec == std::errc::result_out_of_range) {
    // Overflow (non-finite) or underflow (a tiny value, kept as 0 or a denormal). The slow
    // path re-parses as double, whose wider range tells the two apart; only a number beyond
    // double's range falls back to the exponent's sign.
    double d = 0.0;
    auto dres = std::from_chars(p, end, d, std::chars_format::general);
    if (dres.ec == std::errc()) {
      if (std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
        *reason = BadLineReason::kNonFinite;
        return false;
      }
      *out = static_cast<float>(d);
      return true;
    }
    const char* e = static_cast<const char*>(std::memchr(p, 'e', end - p));
    if (e == nullptr) e = static_cast<const char*>(std::memchr(p, 'E', end - p));
    if (e != nullptr && e + 1 < end && e[1] == '-') {
      *out = (*p == '-') ? -0.0f : 0.0f;
      return true;
    }
    *reason = BadLineReason::kNonFinite;
    return false;
  }
  if (!std::isfinite(v)) {
    *reason = BadLineReason::kNonFinite;
    return false;
  }
  *out = v;
  return true;
}

Status ParseDataFormat(std::string_view name, DataFormat* format) {
  if (name == "ratings") {
    *format = DataFormat::kRatings;
  } else if (name == "libsvm" || name == "libfm") {
    *format = DataFormat::kLibsvm;
  } else if (name == "libffm") {
    *format = DataFormat::kLibffm;
  } else if (name == "criteo") {
    *format = DataFormat::kCriteo;
  } else if (name == "csv") {
    *format = DataFormat::kCsv;
  } else {
    return Status::InvalidArgument("unknown data format '" + std::string(name) +
                                   "' (expected ratings, libsvm, libfm, libffm, criteo or csv)");
  }
  return Status::OK();
}

const char* DataFormatName(DataFormat format) {
  switch (format) {
    case DataFormat::kRatings: return "ratings";
    case DataFormat::kLibsvm: return "libsvm";
    case DataFormat::kLibffm: return "libffm";
    case DataFormat::kCriteo: return "criteo";
    case DataFormat::kCsv: return "csv";
  }
  return "unknown";
}

const char* BadLineReasonName(BadLineReason reason) {
  switch (reason) {
    case BadLineReason::kWrongFieldCount: return "wrong_field_count";
    case BadLineReason::kBadFeature: return "bad_feature";
    case BadLineReason::kNonNumeric: return "non_numeric";
    case BadLineReason::kNonFinite: return "non_finite";
    case BadLineReason::kLabelOutOfRange: return "label_out_of_range";
    case BadLineReason::kFieldOutOfRange: return "field_out_of_range";
    case BadLineReason::kEmptyFile: return "empty_file";
    case BadLineReason::kCancelled: return "cancelled";
    case BadLineReason::kMissingValue: return "missing_value";
    case BadLineReason::kBadQuote: return "bad_quote";
    case BadLineReason::kHeaderMismatch: return "header_mismatch";
    case BadLineReason::kNumReasons: break;
  }
  return "unknown";
}

std::string FormatBadLineCounts(const BadLineCounts& counts) {
  std::string out;
  for (const auto& [reason, count] : counts) {
    if (!out.empty()) out += ' ';
    out += BadLineReasonName(reason);
    out += '=';
    out += std::to_string(count);
  }
  return out.empty() ? "none" : out;
}

std::unique_ptr<LineParser> LineParser::Create(DataFormat format, const ParserOptions& options) {
  switch (format) {
    case DataFormat::kRatings: return std::make_unique<RatingsParser>(options);
    case DataFormat::kLibsvm: return std::make_unique<SparseParser<false>>();
    case DataFormat::kLibffm: return std::make_unique<SparseParser<true>>(options.num_fields);
    case DataFormat::kCriteo: return std::make_unique<CriteoParser>();
    case DataFormat::kCsv: return MakeCsvLineParser(options.csv_schema);
  }
  return nullptr;
}

}  // namespace embark
