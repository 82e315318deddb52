// CsvFeaturizer: turns the cells of one CSV row into a label, hashed-feature tokens, and the
// row facts `embark prepare` needs (timestamp, quantity), following a CsvSchema.
//
// Used by the "csv" line parser (tokens are hashed into a Batch as FeatureKey(field, token))
// and by `embark prepare` (tokens are written into libffm files), so both spell every feature
// the same way. Per row, in this order:
//   1. the cell count must equal the schema's column count (wrong_field_count);
//   2. missing values (an empty cell or a `missing` word): a column whose policy is drop makes
//      the row kSkip (reason missing_value, *skipped_column says which column), fail makes it
//      kBad (missing_value), id lets the column emit its missing id "%";
//   3. label, timestamp, quantity and every feature column are parsed; a bad value makes the
//      row kBad: non_numeric (not a number, or a timestamp in no known format), non_finite
//      (nan/inf, log1p of a value <= -1), label_out_of_range (a label other than -1/0/1
//      without a threshold), bad_feature (a flag that is neither 0 nor 1).
// Cancellations are not decided here: IsCancelled() tells, and the caller applies the policy.
//
// Thread-safety: one per thread (it owns scratch buffers); the schema is shared read-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/csv_schema.h"
#include "data/line_parser.h"

namespace embark {

// Receives the features of a row: the field, the canonical (escaped) token, and the value.
// The token view is valid only during the call.
class FeatureSink {
 public:
  virtual ~FeatureSink() = default;
  virtual void Add(uint16_t field, std::string_view token, float value) = 0;
};

struct CsvRowInfo {
  float label = 0;             // from the label column, `label constant`, or 0 without either
  bool has_timestamp = false;
  int64_t timestamp = 0;       // seconds since 1970-01-01 UTC
  double quantity = 1;         // 1 without a quantity column
  int skipped_column = -1;     // kSkip: the column whose missing value dropped the row
};

class CsvFeaturizer {
 public:
  enum class Result : uint8_t { kOk, kSkip, kBad };

  explicit CsvFeaturizer(const CsvSchema& schema) : schema_(schema) {}
  CsvFeaturizer(const CsvFeaturizer&) = delete;
  CsvFeaturizer& operator=(const CsvFeaturizer&) = delete;

  // True if the row is a cancellation (its cancel column starts with the schema's prefix).
  // Needs cells.size() == schema.num_columns().
  bool IsCancelled(const std::vector<std::string_view>& cells) const;

  // True if `cells` name the schema's columns in order (ASCII case ignored).
  bool IsHeader(const std::vector<std::string_view>& cells) const;

  // Featurizes one row (see above). Features go to *sink only for kOk -- on kSkip/kBad some
  // may already have been added, so the caller discards what it collected for the row.
  Result Featurize(const std::vector<std::string_view>& cells, FeatureSink* sink,
                   CsvRowInfo* info, BadLineReason* reason);

 private:
  bool EmitColumn(const ColumnSpec& c, std::string_view cell, FeatureSink* sink,
                  BadLineReason* reason);

  const CsvSchema& schema_;
  std::string escaped_;
  std::string lowered_;
  std::vector<std::string_view> tokens_;
};

// The timestamp formats of the schema's `timestamp` role, as seconds since 1970 UTC.
bool ParseTimestamp(std::string_view s, int64_t* seconds);

// criteo-style log bucket of v: "neg" (v < 0), "0", "1", "2" (floor of v < 3), else
// "b<floor(ln(v)^2)>". `buf` must hold 24 chars; the result may point into it.
std::string_view NumericBucket(double v, char* buf);

// The normalised value of a numeric column (any norm but buckets). False if it is not finite.
bool NormalizeNumeric(const ColumnSpec& c, double v, double* out);

// `s` without spaces and tabs at either end.
std::string_view TrimCell(std::string_view s);

}  // namespace embark
