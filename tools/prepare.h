// `embark prepare`: the global clean-up of implicit-feedback logs (purchases, clicks, ratings)
// into the libffm interaction files the implicit-feedback models read.
//
// Input: an interaction CSV with its schema (data/csv_schema.h), optionally an item CSV and
// a user CSV with their own schemas (side features). Every row of the interaction file goes
// through these steps, in order, and each row that does not become an interaction is counted
// under exactly one reason:
//   1. quoting errors and wrong column counts: bad lines (--bad_lines=fail stops with
//      FILE:LINE: reason; skip counts them per reason); a header (schema `header yes`) is checked;
//   2. duplicates (schema `duplicates drop|keep|fail [key ...]`): a row equal to an earlier row
//      (the whole line, or the named key columns) is dropped, kept, or an error naming both lines;
//   3. cancellations (schema `cancel COL prefix P policy ...`): drop -> counted and dropped;
//      fail -> an error; net -> the cancelled quantity is taken off the same (user, item) pair's
//      purchases made at or before the cancellation, latest first (counted as netted, or as
//      unmatched when no earlier purchase is left -- e.g. bought before the log starts);
//   4. missing values with policy drop (counted per column; "missing ids" = those of the user
//      and item id columns), then every other bad value (bad lines as in step 1);
//   5. a row whose label is 0 (e.g. a rating under `label threshold 4`) and a purchase whose
//      quantity is <= 0 are no interactions (counted).
// Then the rows are merged into one interaction per (user, item) pair, dated by its first
// remaining purchase (a pair whose net quantity is <= 0 is no interaction); users with fewer
// than --min_user_interactions pairs are dropped; each user's pairs are sorted by time (then
// item id) and the last round(n * test_fraction) of them -- at least 1 and at most n - 1 -- go
// to the test file; users with fewer than 2 pairs stay all in train. Without a timestamp
// column the file order is the time.
//
// Output (FIELD CONVENTION, a contract with the implicit models: field 0 user id, 1 item id,
// 2..31 user-side features, 32..63 item-side features; the schemas are checked against it):
//   PREFIX.train.libffm, PREFIX.test.libffm  "1 0:<user>:1 <user side> 1:<item>:1 <item side>"
//   PREFIX.items.libffm                      "1 1:<item>:1 <item side>", every item with an
//                                            interaction (first-seen order), then the item
//                                            file's other items (file order)
//   PREFIX.report.json                       the counts (PrepareReport::ToJson)
// Side features: a user's (item's) come from the user (item) file when it has a row for that
// id, else from the user-side (item-side) columns of the interaction file, taken from the
// user's (item's) earliest kept purchase row. Tokens are escaped as csv_schema.h says.
// Shared-vocabulary fields 64..95 (models/interaction_fields.h) are item columns, written
// after the item id. A schema `history field F [max N] [from G]` adds to each line's user side
// (before the item id) the user's OTHER training pairs, latest first, at most N of them: their
// item ids (G = 1) or their item-side tokens of field G, each distinct token once. A train
// line leaves out its own pair, a test line has all of the user's training pairs: no held-out
// pair is ever anyone's history.
//
// Everything is held in memory (a few hundred bytes per distinct user, item and purchase).
//
// Thread-safety: RunPrepare is a plain function of its inputs; call it from any one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/status.h"
#include "data/csv_schema.h"
#include "data/data_reader.h"

namespace embark {

struct PrepareOptions {
  std::string schema;       // schema of the interaction file
  std::string input;        // the interaction CSV
  std::string items, item_schema;  // optional, together
  std::string users, user_schema;  // optional, together
  std::string out;          // output prefix
  double test_fraction = 0.2;
  int64_t min_user_interactions = 1;
  BadLinePolicy bad_lines = BadLinePolicy::kFail;
};

// What happened to the rows of one input file.
struct PrepareFileCounts {
  uint64_t rows = 0;                        // data rows read (no header, no blank lines)
  BadLineCounts bad_lines;                  // skipped bad lines, per reason
  std::map<std::string, uint64_t> missing;  // rows dropped for a missing value, per column
  uint64_t duplicate_ids = 0;               // side files: later rows of an id (first row wins)
};

struct PrepareReport {
  PrepareFileCounts interaction_file, item_file, user_file;
  uint64_t duplicates = 0;             // duplicate rows dropped (or kept, with duplicates keep)
  uint64_t cancelled = 0;              // cancellation rows
  uint64_t netted = 0;                 // cancellations taken off earlier purchases (net)
  uint64_t unmatched_cancellations = 0;  // net: no earlier purchase of the pair left
  uint64_t missing_ids = 0;            // rows dropped for a missing user or item id
  uint64_t negative_label = 0;         // label 0 (e.g. below the threshold)
  uint64_t non_positive_quantity = 0;  // purchases (not cancellations) with quantity <= 0
  uint64_t purchases = 0;              // rows that became (part of) an interaction
  uint64_t repeat_purchases = 0;       // purchases merged into an earlier one of the same pair
  uint64_t pairs_netted_out = 0;       // pairs whose net quantity fell to <= 0
  uint64_t users_below_min = 0;        // users dropped by --min_user_interactions
  uint64_t interactions_below_min = 0;  // their interactions
  uint64_t users = 0;                  // users with an interaction in train or test
  uint64_t items = 0;                  // lines of PREFIX.items.libffm
  uint64_t items_with_interactions = 0;
  uint64_t users_without_side_file_row = 0;  // with --users: interaction users the file lacks
  uint64_t items_without_side_file_row = 0;  // with --items: likewise
  uint64_t interactions = 0;           // train + test
  uint64_t train = 0, test = 0;

  std::string ToJson() const;
  std::string ToText() const;  // the lines `embark prepare` prints
};

// Which input a schema describes, for the field-convention check.
enum class PrepareSchemaKind { kInteractions, kUsers, kItems };

// Checks `schema` against the field convention: interactions need one categorical column in
// field 0 (user id) and one in field 1 (item id), both with `missing drop` or `missing fail`,
// and every other feature field in 2..63; a user file field 0 plus 2..31; an item file field 1
// plus 32..63. Errors name the schema file and line.
Status ValidatePrepareSchema(const CsvSchema& schema, PrepareSchemaKind kind);

// Runs the whole preparation; on success *report holds the counts and the files are written.
Status RunPrepare(const PrepareOptions& options, PrepareReport* report);

}  // namespace embark
