// The LineParser of format "csv": one schema-described CSV row -> one example (label +
// FeatureKey(field, token) features). The rules are in line_parser.h (format csv) and
// csv_featurizer.h; the schema format in csv_schema.h.
//
// Thread-safety: as every LineParser, one per thread; the schema is shared read-only.
#pragma once

#include <memory>

#include "data/line_parser.h"

namespace embark {

class CsvSchema;

// A parser reading rows described by `schema`. With a null schema every line is bad
// (wrong_field_count); DataReader::Open refuses format csv without a schema before that.
std::unique_ptr<LineParser> MakeCsvLineParser(std::shared_ptr<const CsvSchema> schema);

}  // namespace embark
