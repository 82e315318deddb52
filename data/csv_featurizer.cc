#include "data/csv_featurizer.h"

#include <charconv>
#include <cmath>

#include "data/text_tokenizer.h"

namespace embark {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (eras of 400 years).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads 1..max_digits decimal digits at *p.
bool Digits(const char** p, const char* end, int max_digits, int64_t* out) {
  const char* q = *p;
  int64_t v = 0;
  int n = 0;
  while (q < end && n < max_digits && *q >= '0' && *q <= '9') {
    v = v * 10 + (*q - '0');
    ++q;
    ++n;
  }
  if (n == 0) return false;
  *p = q;
  *out = v;
  return true;
}

bool Expect(const char** p, const char* end, char c) {
  if (*p < end && **p == c) {
    ++*p;
    return true;
  }
  return false;
}

// "HH:MM[:SS]" at *p (after the date), up to the end.
bool TimeOfDay(const char* p, const char* end, int64_t* seconds) {
  int64_t h, mi, s = 0;
  if (!Digits(&p, end, 2, &h) || !Expect(&p, end, ':') || !Digits(&p, end, 2, &mi)) return false;
  if (Expect(&p, end, ':') && !Digits(&p, end, 2, &s)) return false;
  if (p != end || h > 23 || mi > 59 || s > 60) return false;
  *seconds = h * 3600 + mi * 60 + s;
  return true;
}

bool ParseDouble(std::string_view s, double* out, BadLineReason* reason) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (s.empty() || res.ptr != s.data() + s.size() ||
      (res.ec != std::errc() && res.ec != std::errc::result_out_of_range)) {
    *reason = BadLineReason::kNonNumeric;
    return false;
  }
  if (res.ec == std::errc::result_out_of_range || !std::isfinite(*out)) {
    *reason = BadLineReason::kNonFinite;
    return false;
  }
  return true;
}

}  // namespace

std::string_view TrimCell(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

bool ParseTimestamp(std::string_view s, int64_t* seconds) {
  const char* p = s.data();
  const char* const end = p + s.size();
  if (s.empty()) return false;
  // Unix seconds: an optionally negative integer.
  {
    int64_t v = 0;
    auto res = std::from_chars(p, end, v);
    if (res.ec == std::errc() && res.ptr == end) {
      *seconds = v;
      return true;
    }
  }
  int64_t y, m, d, tod = 0;
  const char* q = p;
  if (Digits(&q, end, 4, &y) && q - p == 4 && Expect(&q, end, '-')) {
    // YYYY-MM-DD[( |T)HH:MM[:SS]]
    if (!Digits(&q, end, 2, &m) || !Expect(&q, end, '-') || !Digits(&q, end, 2, &d)) return false;
  } else {
    // M/D/YYYY[ H:MM[:SS]]
    q = p;
    if (!Digits(&q, end, 2, &m) || !Expect(&q, end, '/') || !Digits(&q, end, 2, &d) ||
        !Expect(&q, end, '/')) {
      return false;
    }
    const char* ys = q;
    if (!Digits(&q, end, 4, &y) || q - ys != 4) return false;
  }
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, static_cast<int>(m))) return false;
  if (q != end) {
    if (*q != ' ' && *q != 'T') return false;
    if (!TimeOfDay(q + 1, end, &tod)) return false;
  }
  *seconds = DaysFromCivil(y, static_cast<int>(m), static_cast<int>(d)) * 86400 + tod;
  return true;
}

std::string_view NumericBucket(double v, char* buf) {
  if (v < 0) return "neg";
  if (v < 3) {
    static constexpr std::string_view kSmall[] = {"0", "1", "2"};
    return kSmall[static_cast<int>(v)];
  }
  const double l = std::log(v);
  const auto k = static_cast<int64_t>(std::floor(l * l));
  buf[0] = 'b';
  auto tc = std::to_chars(buf + 1, buf + 24, k);
  return std::string_view(buf, tc.ptr - buf);
}

bool NormalizeNumeric(const ColumnSpec& c, double v, double* out) {
  switch (c.norm) {
    case Normalization::kNone: *out = v; break;
    case Normalization::kLog1p: *out = v > -1 ? std::log1p(v) : NAN; break;
    case Normalization::kZscore: *out = (v - c.norm_a) / c.norm_b; break;
    case Normalization::kMinmax: *out = (v - c.norm_a) / (c.norm_b - c.norm_a); break;
    case Normalization::kBuckets: *out = 1; break;
  }
  return std::isfinite(*out) && std::fabs(*out) <= 3.4e38;
}

bool CsvFeaturizer::IsCancelled(const std::vector<std::string_view>& cells) const {
  const int c = schema_.cancel_column();
  if (c < 0 || static_cast<size_t>(c) >= cells.size()) return false;
  const std::string_view cell = TrimCell(cells[c]);
  const std::string& prefix = schema_.cancel_prefix();
  return cell.size() >= prefix.size() && cell.compare(0, prefix.size(), prefix) == 0;
}

bool CsvFeaturizer::IsHeader(const std::vector<std::string_view>& cells) const {
  if (static_cast<int>(cells.size()) != schema_.num_columns()) return false;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string_view a = TrimCell(cells[i]);
    const std::string& b = schema_.columns()[i].name;
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k) {
      char x = a[k], y = b[k];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
      if (x != y) return false;
    }
  }
  return true;
}

CsvFeaturizer::Result CsvFeaturizer::Featurize(const std::vector<std::string_view>& cells,
                                               FeatureSink* sink, CsvRowInfo* info,
                                               BadLineReason* reason) {
  const std::vector<ColumnSpec>& cols = schema_.columns();
  if (cells.size() != cols.size()) {
    *reason = BadLineReason::kWrongFieldCount;
    return Result::kBad;
  }
  *info = CsvRowInfo();
  // Missing values first, so a dropped row is counted as such even if a later cell is bad.
  for (size_t i = 0; i < cols.size(); ++i) {
    const ColumnSpec& c = cols[i];
    if (c.role == ColumnRole::kIgnore || c.missing == MissingPolicy::kId) continue;
    if (!schema_.IsMissing(TrimCell(cells[i]))) continue;
    *reason = BadLineReason::kMissingValue;
    if (c.missing == MissingPolicy::kDrop) {
      info->skipped_column = static_cast<int>(i);
      return Result::kSkip;
    }
    return Result::kBad;
  }
  if (schema_.has_constant_label()) info->label = schema_.constant_label();
  for (size_t i = 0; i < cols.size(); ++i) {
    const ColumnSpec& c = cols[i];
    const std::string_view cell = TrimCell(cells[i]);
    switch (c.role) {
      case ColumnRole::kIgnore:
        break;
      case ColumnRole::kLabel: {
        float v;
        if (!ParseFloatField(cell, &v, reason)) return Result::kBad;
        if (c.has_threshold) {
          info->label = v >= c.threshold ? 1.0f : 0.0f;
        } else if (v == 1.0f) {
          info->label = 1.0f;
        } else if (v == 0.0f || v == -1.0f) {
          info->label = 0.0f;
        } else {
          *reason = BadLineReason::kLabelOutOfRange;
          return Result::kBad;
        }
        break;
      }
      case ColumnRole::kTimestamp:
        if (!ParseTimestamp(cell, &info->timestamp)) {
          *reason = BadLineReason::kNonNumeric;
          return Result::kBad;
        }
        info->has_timestamp = true;
        break;
      case ColumnRole::kQuantity:
        if (!ParseDouble(cell, &info->quantity, reason)) return Result::kBad;
        break;
      default:
        if (schema_.IsMissing(cell)) {  // policy id (the others were handled above)
          sink->Add(static_cast<uint16_t>(c.field), kMissingToken, 1.0f);
          break;
        }
        if (!EmitColumn(c, cell, sink, reason)) return Result::kBad;
        break;
    }
  }
  return Result::kOk;
}

bool CsvFeaturizer::EmitColumn(const ColumnSpec& c, std::string_view cell, FeatureSink* sink,
                               BadLineReason* reason) {
  const uint16_t field = static_cast<uint16_t>(c.field);
  switch (c.role) {
    case ColumnRole::kCategorical:
      sink->Add(field, EscapeToken(cell, &escaped_), 1.0f);
      return true;
    case ColumnRole::kNumeric: {
      double v;
      if (!ParseDouble(cell, &v, reason)) return false;
      if (c.norm == Normalization::kBuckets) {
        char buf[24];
        sink->Add(field, NumericBucket(v, buf), 1.0f);
        return true;
      }
      double out;
      if (!NormalizeNumeric(c, v, &out)) {
        *reason = BadLineReason::kNonFinite;
        return false;
      }
      sink->Add(field, c.escaped_name, static_cast<float>(out));
      return true;
    }
    case ColumnRole::kTags: {
      // Distinct tags, in order of first appearance; the cell has few, so a scan suffices.
      tokens_.clear();
      size_t p = 0;
      while (p <= cell.size()) {
        size_t e = cell.find(c.tag_separator, p);
        if (e == std::string_view::npos) e = cell.size();
        const std::string_view tag = TrimCell(cell.substr(p, e - p));
        bool seen = tag.empty();
        for (size_t k = 0; k < tokens_.size() && !seen; ++k) seen = tokens_[k] == tag;
        if (!seen) {
          tokens_.push_back(tag);
          sink->Add(field, EscapeToken(tag, &escaped_), 1.0f);
        }
        p = e + 1;
      }
      return true;
    }
    case ColumnRole::kText:
      // Tokens are letters, digits and bytes >= 0x80 only: nothing to escape.
      TokenizeText(cell, c.min_token_length, c.stop_words, &lowered_, &tokens_);
      for (std::string_view tok : tokens_) sink->Add(field, tok, 1.0f);
      return true;
    case ColumnRole::kFlag: {
      float v;
      if (!ParseFloatField(cell, &v, reason)) return false;
      if (v == 1.0f) {
        sink->Add(field, c.flag_token, 1.0f);
      } else if (v != 0.0f) {
        *reason = BadLineReason::kBadFeature;
        return false;
      }
      return true;
    }
    default:
      return true;
  }
}

}  // namespace embark
