#include "worker/field_count.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "data/csv_schema.h"
#include "data/input_split.h"

namespace embark {
namespace {

inline bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The highest field number of one libffm line, or -1 if it has no token of field shape.
int HighestField(std::string_view line) {
  int highest = -1;
  size_t i = 0;
  const size_t n = line.size();
  bool first = true;  // the label
  while (i < n) {
    while (i < n && IsBlank(line[i])) ++i;
    if (i >= n) break;
    const size_t start = i;
    while (i < n && !IsBlank(line[i])) ++i;
    if (first) {
      first = false;
      continue;
    }
    // Leading decimal digits then ':'; at most 5 digits (65535).
    int v = 0;
    size_t j = start;
    while (j < i && j - start < 6 && line[j] >= '0' && line[j] <= '9') v = v * 10 + (line[j++] - '0');
    if (j == start || j >= i || line[j] != ':' || j - start > 5 || v > 65535) continue;
    // "field:id:value": a second ':' must follow (a libsvm "id:value" has none).
    if (line.substr(j + 1, i - j - 1).find(':') == std::string_view::npos) continue;
    if (v > highest) highest = v;
  }
  return highest;
}

}  // namespace

Status CountLibffmFields(const std::string& spec, FieldCount* out) {
  *out = FieldCount{};
  std::vector<std::string> files;
  EMBARK_RETURN_IF_ERROR(ExpandInputs(spec, &files));
  std::vector<std::pair<std::string, uint64_t>> sized;
  EMBARK_RETURN_IF_ERROR(StatFiles(files, &sized));
  LineSource source(SplitForWorker(sized, 1, 0), size_t{4} << 20);
  int highest = -1;
  for (;;) {
    std::string_view line;
    bool has_line = false;
    EMBARK_RETURN_IF_ERROR(source.Next(&line, &has_line));
    if (!has_line) break;
    ++out->lines;
    const int h = HighestField(line);
    if (h > highest) {
      highest = h;
      out->highest_at = source.path() + ":" + std::to_string(source.LineNumber());
    }
  }
  out->num_fields = static_cast<uint32_t>(highest + 1);
  return Status::OK();
}

Status ResolveNumFields(DataFormat format, const CsvSchema* schema, const std::string& train,
                        const std::string& test, uint32_t requested, uint32_t* num_fields,
                        std::string* how) {
  const std::string flag = "--num_fields=" + std::to_string(requested);
  switch (format) {
    case DataFormat::kCriteo:
      if (requested > 0 && requested < static_cast<uint32_t>(kCriteoFields)) {
        return Status::InvalidArgument(flag + " would drop fields " + std::to_string(requested) + ".." +
                                       std::to_string(kCriteoFields - 1) + " of every criteo line (it has " +
                                       std::to_string(kCriteoFields) + "); leave --num_fields unset");
      }
      *num_fields = requested > 0 ? requested : kCriteoFields;
      *how = requested > 0 ? "as requested" : "the criteo format's fields";
      return Status::OK();
    case DataFormat::kCsv: {
      if (schema == nullptr) return Status::InvalidArgument("csv input needs a schema");
      int highest = -1;
      const ColumnSpec* column = nullptr;
      for (const ColumnSpec& c : schema->columns()) {
        if (c.field > highest) {
          highest = c.field;
          column = &c;
        }
      }
      const uint32_t needed = static_cast<uint32_t>(highest + 1);
      if (requested > 0 && requested < needed) {
        return Status::InvalidArgument(flag + " would drop field " + std::to_string(highest) + " (column '" +
                                       column->name + "', " + schema->source() + ":" +
                                       std::to_string(column->schema_line) + "); use at least --num_fields=" +
                                       std::to_string(needed) + " or leave it unset");
      }
      *num_fields = requested > 0 ? requested : std::max<uint32_t>(needed, 1);
      *how = requested > 0 ? "as requested" : "1 + the highest field of " + schema->source();
      return Status::OK();
    }
    case DataFormat::kLibffm: {
      if (requested > 0) {
        *num_fields = requested;
        *how = "as requested (a line with a higher field is refused)";
        return Status::OK();
      }
      FieldCount train_count, test_count;
      EMBARK_RETURN_IF_ERROR(CountLibffmFields(train, &train_count));
      if (!test.empty()) EMBARK_RETURN_IF_ERROR(CountLibffmFields(test, &test_count));
      const FieldCount& top = test_count.num_fields > train_count.num_fields ? test_count : train_count;
      *num_fields = std::max<uint32_t>(top.num_fields, 1);
      *how = top.num_fields == 0 ? "no features in the data"
                                 : "the highest field in the data is " + std::to_string(top.num_fields - 1) +
                                       ", first at " + top.highest_at;
      return Status::OK();
    }
    case DataFormat::kLibsvm:
    case DataFormat::kRatings:
      *num_fields = requested > 0 ? requested : 1;
      *how = requested > 0 ? "as requested" : "every feature of this format is in field 0";
      return Status::OK();
  }
  return Status::InvalidArgument("unknown format");
}

}  // namespace embark
