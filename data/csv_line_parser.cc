#include "data/csv_line_parser.h"

#include "data/csv_featurizer.h"
#include "data/csv_schema.h"
#include "data/csv_splitter.h"

namespace embark {
namespace {

// Hashes each feature straight into the batch: no per-feature allocation.
class BatchSink final : public FeatureSink {
 public:
  void Reset(Batch* batch) { batch_ = batch; }
  void Add(uint16_t field, std::string_view token, float value) override {
    batch_->AddFeature(FeatureKey(field, token), value, field);
  }

 private:
  Batch* batch_ = nullptr;
};

class CsvLineParser final : public LineParser {
 public:
  explicit CsvLineParser(std::shared_ptr<const CsvSchema> schema)
      : schema_(std::move(schema)),
        splitter_(schema_->delimiter(), schema_->quote()),
        featurizer_(*schema_) {}

  Outcome Parse(std::string_view line, bool first_line_of_file, Batch* batch,
                BadLineReason* reason) override {
    if (IsBlank(line)) return Outcome::kBlank;
    if (!splitter_.Split(line, &cells_)) {
      *reason = BadLineReason::kBadQuote;
      return Outcome::kBad;
    }
    if (first_line_of_file && schema_->header()) {
      if (featurizer_.IsHeader(cells_)) return Outcome::kBlank;
      *reason = BadLineReason::kHeaderMismatch;
      return Outcome::kBad;
    }
    if (static_cast<int>(cells_.size()) != schema_->num_columns()) {
      *reason = BadLineReason::kWrongFieldCount;
      return Outcome::kBad;
    }
    if (featurizer_.IsCancelled(cells_)) {
      // Netting needs every row of the pair: per line, net is counted like drop.
      *reason = BadLineReason::kCancelled;
      return schema_->cancel_policy() == CancelPolicy::kFail ? Outcome::kBad : Outcome::kSkipped;
    }
    const size_t start = batch->keys.size();
    sink_.Reset(batch);
    CsvRowInfo info;
    const CsvFeaturizer::Result r = featurizer_.Featurize(cells_, &sink_, &info, reason);
    if (r != CsvFeaturizer::Result::kOk) {
      batch->keys.resize(start);
      batch->values.resize(start);
      batch->fields.resize(start);
      return r == CsvFeaturizer::Result::kSkip ? Outcome::kSkipped : Outcome::kBad;
    }
    batch->EndExample(info.label);
    return Outcome::kExample;
  }

 private:
  // Empty, or only spaces and carriage returns (and tabs unless tab is the delimiter: then a
  // line of tabs is a row of empty cells).
  bool IsBlank(std::string_view line) const {
    for (char c : line) {
      if (c == ' ' || c == '\r' || (c == '\t' && schema_->delimiter() != '\t')) continue;
      return false;
    }
    return true;
  }

  std::shared_ptr<const CsvSchema> schema_;
  CsvSplitter splitter_;
  CsvFeaturizer featurizer_;
  BatchSink sink_;
  std::vector<std::string_view> cells_;
};

// Without a schema nothing can be read; DataReader::Open reports the missing flag first.
class NoSchemaParser final : public LineParser {
 public:
  Outcome Parse(std::string_view, bool, Batch*, BadLineReason* reason) override {
    *reason = BadLineReason::kWrongFieldCount;
    return Outcome::kBad;
  }
};

}  // namespace

std::unique_ptr<LineParser> MakeCsvLineParser(std::shared_ptr<const CsvSchema> schema) {
  if (schema == nullptr) return std::make_unique<NoSchemaParser>();
  return std::make_unique<CsvLineParser>(std::move(schema));
}

}  // namespace embark
