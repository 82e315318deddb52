// Fuzz target: the CSV schema parser (data/csv_schema.h CsvSchema::Parse) and, when the
// schema parses, the rows of the rest of the input read with it (data/csv_line_parser.h).
// The schema's accessors must then agree with its columns: the label, timestamp, quantity and
// cancellation columns name columns of the right role.
//
// Input: the schema text, a line "---", then rows (one per line; the first is line 1).
#include <memory>
#include <string>

#include "fuzz/fuzz_input.h"
#include "data/csv_line_parser.h"
#include "data/csv_schema.h"

using namespace embark;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t cut = input.find("\n---\n");
  const std::string text = input.substr(0, cut);
  const std::string rows = cut == std::string::npos ? std::string() : input.substr(cut + 5);
  auto schema = std::make_shared<CsvSchema>();
  if (!CsvSchema::Parse(text, "fuzz.schema", schema.get()).ok()) return 0;
  const int n = schema->num_columns();
  auto role_at = [&](int col, ColumnRole role, const char* what) {
    if (col < 0) return;
    FUZZ_CHECK(col < n, what);
    FUZZ_CHECK(schema->columns()[col].role == role, what);
  };
  role_at(schema->label_column(), ColumnRole::kLabel, "label_column() is not a label column");
  role_at(schema->timestamp_column(), ColumnRole::kTimestamp, "timestamp_column() is not a timestamp column");
  role_at(schema->quantity_column(), ColumnRole::kQuantity, "quantity_column() is not a quantity column");
  FUZZ_CHECK(schema->cancel_column() < n, "cancel_column() past the last column");
  for (int c : schema->duplicate_key_columns()) FUZZ_CHECK(c >= 0 && c < n, "a duplicate key column out of range");
  for (const ColumnSpec& col : schema->columns()) FUZZ_CHECK(schema->ColumnIndex(col.name) >= 0, "a column not found by its name");
  std::unique_ptr<LineParser> parser = MakeCsvLineParser(schema);
  parser->StartFile();
  Batch batch;
  bool first = true;
  for (std::string_view line : fuzz::Split(rows, "\n")) {
    BadLineReason reason;
    const size_t before = batch.size();
    const LineParser::Outcome out = parser->Parse(line, first, &batch, &reason);
    first = false;
    FUZZ_CHECK(batch.size() == before + (out == LineParser::Outcome::kExample ? 1 : 0),
               "a row's outcome and the batch disagree");
  }
  return 0;
}
