// Fuzz target: every training-data line parser (data/line_parser.h: ratings, libsvm, libffm,
// criteo; data/csv_line_parser.h with the schemas of fuzz_schemas.h) and ParseFloatField,
// checking the parsers' contract on every line: an example appends exactly one example with
// consistent offsets, a finite label and finite values (criteo: exactly 39 features; libffm
// with num_fields: fields below it), any other outcome leaves the batch as it
// was.
//
// Input: a format byte (format, options, which schema), then text split at '\n' into lines;
// the first is parsed as line 1 of a file (the only one that may be a header).
#include <cmath>
#include <memory>
#include <string>

#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_schemas.h"
#include "data/csv_line_parser.h"
#include "data/csv_schema.h"
#include "data/line_parser.h"

using namespace embark;
using embark::fuzz::FuzzInput;

namespace {

std::shared_ptr<const CsvSchema> Schema(int i) {
  static std::shared_ptr<const CsvSchema> schemas[fuzz::kNumFuzzSchemas];
  if (!schemas[i]) {
    auto s = std::make_shared<CsvSchema>();
    FUZZ_CHECK(CsvSchema::Parse(fuzz::kFuzzSchemas[i], "fuzz.schema", s.get()).ok(), "a fuzz schema does not parse");
    schemas[i] = s;
  }
  return schemas[i];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t choice = in.Byte();
  const std::string text = in.Rest();
  const DataFormat format = static_cast<DataFormat>(choice % 5);
  ParserOptions options;
  if (choice & 0x08) {
    options.min_rating = 1;
    options.max_rating = 5;
  }
  if (choice & 0x10) options.num_fields = 10;
  std::unique_ptr<LineParser> parser;
  if (format == DataFormat::kCsv) {
    parser = MakeCsvLineParser(Schema((choice >> 5) % fuzz::kNumFuzzSchemas));
  } else {
    parser = LineParser::Create(format, options);
  }
  parser->StartFile();
  Batch batch;
  bool first = true;
  for (std::string_view line : fuzz::Split(text, "\n")) {
    float f;
    BadLineReason reason = BadLineReason::kWrongFieldCount;
    (void)ParseFloatField(line, &f, &reason);
    const size_t examples = batch.size(), features = batch.num_features();
    const LineParser::Outcome out = parser->Parse(line, first, &batch, &reason);
    first = false;
    FUZZ_CHECK(batch.offsets.size() == batch.size() + 1 && batch.offsets.back() == batch.num_features(),
               "batch offsets out of step with its examples and features");
    FUZZ_CHECK(batch.keys.size() == batch.values.size() && batch.keys.size() == batch.fields.size(),
               "keys, values and fields differ in length");
    if (out == LineParser::Outcome::kExample) {
      FUZZ_CHECK(batch.size() == examples + 1, "an example outcome did not append one example");
      FUZZ_CHECK(std::isfinite(batch.labels.back()), "an example with a non-finite label");
      for (size_t i = features; i < batch.num_features(); ++i) {
        FUZZ_CHECK(std::isfinite(batch.values[i]), "a feature with a non-finite value");
        if (format == DataFormat::kLibffm && options.num_fields != 0)
          FUZZ_CHECK(batch.fields[i] < options.num_fields, "a libffm field >= num_fields");
      }
      if (format == DataFormat::kCriteo)
        FUZZ_CHECK(batch.num_features() - features == kCriteoFields, "a criteo example without 39 features");
    } else {
      FUZZ_CHECK(batch.size() == examples && batch.num_features() == features,
                 "a blank, bad or skipped line changed the batch");
      if (out == LineParser::Outcome::kBad || out == LineParser::Outcome::kSkipped)
        FUZZ_CHECK(static_cast<int>(reason) < kNumBadLineReasons, "a bad line without a reason");
    }
    if (batch.size() > 4096) batch.Clear();
  }
  return 0;
}
