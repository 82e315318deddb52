// CsvSchema: what each column of a delimited text file (CSV, TSV, '|'-separated) means, read
// from a small schema file. It drives the "csv" line parser (training straight from a CSV) and
// `embark prepare` (the global clean-up of interaction logs).
//
// Schema file: one directive per line, words separated by spaces or tabs, '#' starts a comment.
//
//   delimiter comma|tab|pipe|semicolon|space|C   column separator (default comma; C = one char)
//   quote " | ' | none                           field quote (default "); "" inside = one "
//   header yes|no                                line 1 of every file is a header (default no);
//                                                its names must equal the column names (any case)
//   missing WORD [WORD ...]                      spellings of a missing value besides the empty
//                                                cell (e.g. missing NA)
//   label constant 0|1                           no label column: every row gets this label
//   cancel COLUMN prefix P policy drop|net|fail  rows whose COLUMN starts with P are cancellations
//   duplicates drop|keep|fail [key COL,COL...]   what a repeated row is (identical lines, or equal
//                                                values in the named columns) and what to do
//                                                (only `embark prepare` can see repeats)
//   column NAME ROLE [OPTION VALUE ...]          one per column, in file order
//   history field F [max N] [from G]             (only `embark prepare`) user-side field F lists
//                                                the user's OTHER training interactions, latest
//                                                N (default 50): their item ids (G = 1, the
//                                                default) or their item-side features of field
//                                                G (e.g. description words), each token once;
//                                                F may equal G (a shared-vocabulary field 64..95)
//
// Roles (F is the feature field, 0..65535):
//   label [threshold T]      numeric label; without a threshold it must be -1, 0 or 1 (-1 -> 0);
//                            with one, label = (value >= T)
//   categorical field F      the cell text (spaces around it trimmed) is the feature id
//   numeric field F [norm none|log1p|zscore MEAN STD|minmax MIN MAX|buckets]
//                            none/log1p/zscore/minmax: one feature named after the column whose
//                            value is v, log(1+v), (v-MEAN)/STD or (v-MIN)/(MAX-MIN); buckets:
//                            value 1 and id "neg" (v < 0), "0"/"1"/"2" (floor of v < 3), else
//                            "b<floor(ln(v)^2)>" -- criteo's log-binning
//   tags field F [sep C]     multi-valued: the cell split at C (default ';'), each tag an id
//   text field F [min_len N] [stopwords yes|no]
//                            tokens: ASCII letters lower-cased, split at every byte that is not
//                            an ASCII letter or digit (bytes >= 0x80 stay inside tokens, so UTF-8
//                            words survive), tokens shorter than N (default 2) and English stop
//                            words (default yes) dropped, each distinct token an id
//   flag field F [token T]   a 0/1 column: 1 emits id T (default: the column name); 0 nothing.
//                            Several flag columns may share one field (multi-hot genres)
//   timestamp                unix seconds, or YYYY-MM-DD[ HH:MM[:SS]] / YYYY-MM-DDTHH:MM:SS, or
//                            M/D/YYYY[ H:MM[:SS]] (US order), read as UTC
//   quantity                 a number (purchases: the count; cancellations are negative)
//   ignore                   not used
// Every role except ignore takes `missing drop|id|fail`: drop skips the row (counted), id uses
// the field's missing id (the token "%"), fail makes it a bad line (missing_value). Defaults: id
// for feature columns, fail for label, timestamp and quantity (which have no missing id).
//
// Ids are written as tokens in libffm files, so a token never contains ':', whitespace or '%':
// those bytes become %XX (two upper-case hex digits), and the missing id "%" cannot be spelled
// by any escaped value. Every reader hashes the escaped token: FeatureKey(field, token).
//
// Errors name the schema file and line: "online_retail.schema:7: unknown role 'cat' ...".
//
// Thread-safety: a CsvSchema is immutable after Parse/Load; share it (const) between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace embark {

enum class ColumnRole : uint8_t {
  kIgnore, kLabel, kCategorical, kNumeric, kTags, kText, kFlag, kTimestamp, kQuantity
};
const char* ColumnRoleName(ColumnRole role);

enum class Normalization : uint8_t { kNone, kLog1p, kZscore, kMinmax, kBuckets };
enum class MissingPolicy : uint8_t { kDrop, kId, kFail };
enum class CancelPolicy : uint8_t { kNone, kDrop, kNet, kFail };
enum class DuplicatePolicy : uint8_t { kKeep, kDrop, kFail };

struct ColumnSpec {
  std::string name;
  ColumnRole role = ColumnRole::kIgnore;
  int schema_line = 0;      // where it was declared, for messages
  int field = -1;           // feature roles only
  MissingPolicy missing = MissingPolicy::kId;
  // numeric
  Normalization norm = Normalization::kNone;
  double norm_a = 0, norm_b = 0;  // zscore: mean, std; minmax: min, max
  std::string escaped_name;       // the id of a non-bucketed numeric feature
  // label
  bool has_threshold = false;
  float threshold = 0;
  // tags
  char tag_separator = ';';
  // text
  int min_token_length = 2;
  bool stop_words = true;
  // flag: the (escaped) id emitted for 1
  std::string flag_token;

  bool IsFeature() const {
    return role == ColumnRole::kCategorical || role == ColumnRole::kNumeric ||
           role == ColumnRole::kTags || role == ColumnRole::kText || role == ColumnRole::kFlag;
  }
};

// A `history` directive (prepare only): see above and tools/prepare.h.
struct HistorySpec {
  int field = -1;        // the user-side field written
  int max_items = 50;    // the latest this many other training interactions
  int from_field = 1;    // 1: item ids; else the item-side field whose tokens are listed
  int schema_line = 0;
};

class CsvSchema {
 public:
  // Parses schema text; `source` names it in messages (normally the file path).
  static Status Parse(std::string_view text, const std::string& source, CsvSchema* out);
  static Status Load(const std::string& path, CsvSchema* out);
  static Status LoadShared(const std::string& path, std::shared_ptr<const CsvSchema>* out);

  const std::string& source() const { return source_; }
  char delimiter() const { return delimiter_; }
  char quote() const { return quote_; }  // 0 = no quoting
  bool header() const { return header_; }
  const std::vector<std::string>& missing_words() const { return missing_words_; }
  const std::vector<ColumnSpec>& columns() const { return columns_; }
  int num_columns() const { return static_cast<int>(columns_.size()); }
  // -1 when the schema has no such column.
  int label_column() const { return label_column_; }
  int timestamp_column() const { return timestamp_column_; }
  int quantity_column() const { return quantity_column_; }
  int ColumnIndex(std::string_view name) const;
  // The label of every row when there is no label column (label constant V).
  bool has_constant_label() const { return has_constant_label_; }
  float constant_label() const { return constant_label_; }
  bool has_label() const { return label_column_ >= 0 || has_constant_label_; }

  int cancel_column() const { return cancel_column_; }  // -1: no cancellations
  const std::string& cancel_prefix() const { return cancel_prefix_; }
  CancelPolicy cancel_policy() const { return cancel_policy_; }
  DuplicatePolicy duplicate_policy() const { return duplicate_policy_; }
  int duplicates_line() const { return duplicates_line_; }  // 0 when not declared
  const std::vector<int>& duplicate_key_columns() const { return duplicate_keys_; }  // empty = whole row
  const std::vector<HistorySpec>& histories() const { return histories_; }

  // True if `cell` (already unquoted and trimmed) spells a missing value.
  bool IsMissing(std::string_view cell) const;

  // "SOURCE:LINE: " for messages about column `col`.
  std::string Where(int col) const;

 private:
  Status ParseLine(const std::vector<std::string_view>& words, int line);
  Status ParseColumn(const std::vector<std::string_view>& words, int line);
  Status ParseHistory(const std::vector<std::string_view>& words, int line);
  Status Validate();
  Status Error(int line, const std::string& what) const;

  std::string source_;
  char delimiter_ = ',';
  char quote_ = '"';
  bool header_ = false;
  std::vector<std::string> missing_words_;
  std::vector<ColumnSpec> columns_;
  int label_column_ = -1, timestamp_column_ = -1, quantity_column_ = -1;
  bool has_constant_label_ = false;
  float constant_label_ = 1;
  int constant_label_line_ = 0;
  int cancel_column_ = -1;
  std::string cancel_column_name_;
  int cancel_line_ = 0;
  std::string cancel_prefix_;
  CancelPolicy cancel_policy_ = CancelPolicy::kNone;
  DuplicatePolicy duplicate_policy_ = DuplicatePolicy::kKeep;
  int duplicates_line_ = 0;
  std::vector<std::string> duplicate_key_names_;
  std::vector<int> duplicate_keys_;
  std::vector<HistorySpec> histories_;
};

// The canonical spelling of id `raw` (see above): ':', whitespace and '%' written as %XX. Returns
// `raw` itself when nothing needs escaping (no copy), else a view of *scratch (overwritten).
std::string_view EscapeToken(std::string_view raw, std::string* scratch);
// The missing id of every field.
inline constexpr std::string_view kMissingToken = "%";

}  // namespace embark
