// Line parsers: turn one text line of a training file into one example appended to a Batch.
//
// Formats:
//   ratings  "user item rating [timestamp]", separated by tab, comma, "::" or runs of spaces.
//            The separator is detected per file (per range) from the first non-blank line: "::"
//            if present, else tab, else comma, else whitespace. Spaces around fields are
//            ignored. If line 1 of a file has a non-numeric rating field it is a header and is
//            skipped (on any other line that is a bad line). The timestamp is accepted and
//            ignored. user -> FeatureKey(0, user) in field 0, item -> FeatureKey(1, item) in
//            field 1, both with value 1; label = rating (must be finite, and optionally inside
//            [min_rating, max_rating]).
//   libsvm   "label id:val id:val ..." (also libFM), whitespace separated. Labels 0/1 or
//            -1/+1 (any spelling that parses to -1, 0 or 1; -1 is mapped to 0). Every id is
//            FeatureKey(0, id), field 0. An example with no features is allowed.
//   libffm   "label field:id:val ...". The field is a decimal integer 0..65535; key =
//            FeatureKey(field, id), so equal ids in different fields never collide.
//   criteo   Criteo display-ads logs: a 0/1 label, 13 integer columns I1..I13, 26 categorical
//            columns C1..C26 (hex strings), separated by tab or comma -- detected per file
//            (per range) from the first non-blank line: tab if it has one, else comma.
//            Layout, fixed per range by its first line with 40 or 41 columns (after that a
//            line with another count is wrong_field_count):
//              40 columns  label, I1..I13, C1..C26      (Criteo's tab-separated train.txt)
//              41 columns  id, label, I1..I13, C1..C26  (Kaggle 2014 train.csv); id ignored
//            Header: line 1 is a header if its label column (column 2 of a 41-column line,
//            else column 1) is not a number. Columns named "Id" and "Label" (any case) are
//            recognised and must sit where the headerless rule puts them -- so every worker's
//            range, most of which never see line 1, reads the file the same way; any other
//            header is a bad line (wrong_field_count). A 40-column header "Id,I1,...,C26"
//            (Kaggle test.csv) says the file has no labels: every data line after it is then
//            wrong_field_count.
//            Every example gets exactly 39 features, all with value 1:
//              I(i+1) -> field i (0..12), key FeatureKey(i, bucket) where bucket is
//                        "0", "1", "2"  for v = 0, 1, 2 (kept exact)
//                        "b<k>"         for v > 2, k = floor(ln(v)^2) (3,4 -> "b1"; 10 -> "b5";
//                                       1000 -> "b47"); the "b" keeps v = 3 apart from v = 1
//                        "neg"          for every v < 0 (one bucket of their own)
//                        v is a decimal integer; a zero fraction ("260.0", as pandas writes)
//                        is accepted, anything else ("2.5", "1e3", " 7") is non_numeric.
//              C(j+1) -> field 13+j (13..38), key FeatureKey(13+j, column text).
//            A missing (empty) value in either kind of column gets the field's own missing
//            id, FeatureKey(field, ""): the empty text itself, which no bucket or hex string
//            spells. The label must be 0 or 1 (label_out_of_range otherwise; -1 is NOT
//            accepted). Column text is taken verbatim (no trimming, no hex check); only a
//            trailing '\r' is removed. Blank means empty or spaces only: a line of tabs is a
//            record with empty columns.
//
//   csv      any delimited text file described by a schema file (data/csv_schema.h, passed as
//            ParserOptions::csv_schema): label, hashed features FeatureKey(field, token) from
//            categorical, numeric, tags, text and flag columns (data/csv_featurizer.h). Per-line
//            policies only: a cancellation row (schema `cancel ... policy drop|net`) and a row
//            dropped for a missing value (`missing drop`) are kSkipped -- counted as cancelled /
//            missing_value, never an error -- while `policy fail` / `missing fail` make the line
//            bad. Netting cancellations and dropping duplicates need the whole file: that is
//            `embark prepare` (tools/prepare.h).
//
// Ids are hashed as STRINGS: "007" and "7" are different ids. This keeps string ids (hex
// categoricals, user names) and numeric ids on one code path, and real data sets spell an id
// the same way every time. Feature values and labels are parsed with std::from_chars (no
// locale, no allocation); a leading '+' is accepted.
//
// Blank lines (empty or whitespace only) and trailing whitespace are not errors (criteo: see
// above).
//
// Thread-safety: a LineParser keeps per-file state (the detected separator, criteo's layout);
// use one per thread. The free functions are thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/status.h"
#include "data/batch.h"

namespace embark {

enum class DataFormat { kRatings, kLibsvm, kLibffm, kCriteo, kCsv };

// "ratings", "libsvm" (alias "libfm"), "libffm", "criteo", "csv" -> DataFormat.
Status ParseDataFormat(std::string_view name, DataFormat* format);
const char* DataFormatName(DataFormat format);

// Why a line was rejected. Each has a short name used in messages and counters.
enum class BadLineReason : uint8_t {
  kWrongFieldCount = 0,  // "wrong_field_count": too few / too many columns, or no label
  kBadFeature,           // "bad_feature": a token is not id:val (libsvm) / field:id:val (libffm)
  kNonNumeric,           // "non_numeric": a label, rating, value or field is not a number
  kNonFinite,            // "non_finite": NaN, inf, or a number that overflows float
  kLabelOutOfRange,      // "label_out_of_range": click label not in {-1,0,1}, rating outside range
  kFieldOutOfRange,      // "field_out_of_range": libffm field number does not fit uint16,
                         // or is >= ParserOptions::num_fields
  kEmptyFile,            // "empty_file": reported by the reader, not by a parser
  kCancelled,            // "cancelled": csv, a cancellation row (skipped, or bad with policy fail)
  kMissingValue,         // "missing_value": csv, a missing value in a drop or fail column
  kBadQuote,             // "bad_quote": csv, an unclosed quote or text after a closing quote
  kHeaderMismatch,       // "header_mismatch": csv, line 1 does not name the schema's columns
  kNumReasons
};
constexpr int kNumBadLineReasons = static_cast<int>(BadLineReason::kNumReasons);
const char* BadLineReasonName(BadLineReason reason);

// Per-reason counts of skipped lines; only reasons that occurred are present.
using BadLineCounts = std::map<BadLineReason, uint64_t>;
// "non_numeric=2 wrong_field_count=1", or "none".
std::string FormatBadLineCounts(const BadLineCounts& counts);

// The key of raw feature id `id` in field `field`: the id's bytes hashed with a per-field salt.
// Every reader uses this, so the same (field, id) maps to the same key in every format.
inline uint64_t FieldSalt(uint16_t field) { return Mix64(0x6669656c64000000ULL + field); }
inline uint64_t FeatureKey(uint16_t field, std::string_view id) {
  return HashBytes(id, FieldSalt(field));
}

// The criteo format's fields: integer column I(i+1) is field i, categorical C(j+1) is field
// kCriteoIntegerFields + j.
constexpr int kCriteoIntegerFields = 13;
constexpr int kCriteoCategoricalFields = 26;
constexpr int kCriteoFields = kCriteoIntegerFields + kCriteoCategoricalFields;  // 39

class CsvSchema;

struct ParserOptions {
  // Ratings outside [min_rating, max_rating] are bad lines (label_out_of_range). The default
  // accepts every finite rating.
  float min_rating = -std::numeric_limits<float>::max();
  float max_rating = std::numeric_limits<float>::max();
  // Format csv: the schema (required; shared read-only by every parser).
  std::shared_ptr<const CsvSchema> csv_schema;
  // Format libffm: a feature of field >= num_fields makes the line bad (field_out_of_range),
  // so a field-aware model never drops fields silently; 0 = any field 0..65535.
  uint32_t num_fields = 0;
};

class LineParser {
 public:
  enum class Outcome : uint8_t {
    kExample,  // one example was appended to the batch
    kBlank,    // nothing to do: blank line or header
    kBad,      // rejected; *reason says why; the batch is unchanged
    kSkipped,  // dropped on purpose by a per-line policy (csv); *reason says why; the reader
               // counts it whatever --bad_lines says; the batch is unchanged
  };

  static std::unique_ptr<LineParser> Create(DataFormat format, const ParserOptions& options = {});
  virtual ~LineParser() = default;

  // Called before the first line of each file range: forgets per-file state (the separator,
  // criteo's layout).
  virtual void StartFile() {}

  // Parses `line` (no '\n'). `first_line_of_file` is true only for line 1 of a file, the only
  // line that may be a header.
  virtual Outcome Parse(std::string_view line, bool first_line_of_file, Batch* batch,
                        BadLineReason* reason) = 0;

  // After a kBad outcome with reason field_out_of_range: which field and why ("field 11 but
  // the model has num_fields 10 (fields 0..9)"), for the error message. Unspecified otherwise.
  const std::string& detail() const { return detail_; }

 protected:
  std::string detail_;
};

// Parses all of `s` as a finite float. Returns false and sets *reason to kNonNumeric (not a
// number, trailing junk, empty) or kNonFinite (nan, inf, overflows float); underflow gives 0.
// Accepts a leading '+'. Exposed for tests and tools.
bool ParseFloatField(std::string_view s, float* out, BadLineReason* reason);

}  // namespace embark
