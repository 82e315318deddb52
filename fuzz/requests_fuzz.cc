// Fuzz target: serve's request parser (serving/requests.h): the JSON bodies of POST /score
// (features, examples, lines of each training format) for three kinds of model, and of
// POST /topk. A /score body that parses must leave a consistent batch whose features all
// belong to fields the model reads; one that is refused must leave the batch as it was.
//
// Input: a choice byte (model, training data format, max_k), then the body.
#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_input.h"
#include "models/model_factory.h"
#include "serving/requests.h"

using namespace embark;
using embark::fuzz::FuzzInput;

namespace {

const Model& FuzzModel(int i) {
  static std::unique_ptr<Model> models[3];
  if (!models[i]) {
    ModelOptions o;
    o.dim = 4;
    const char* name = "mf";
    if (i == 1) {
      name = "ffm";
      o.num_fields = 6;
    } else if (i == 2) {
      name = "deepfm";
      o.num_fields = 40;
      o.hidden = std::vector<uint32_t>{8};
    }
    FUZZ_CHECK(CreateModel(name, o, &models[i]).ok(), "cannot create the fuzz model");
  }
  return *models[i];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t choice = in.Byte();
  const std::string body = in.Rest();
  const Model& model = FuzzModel(choice % 3);
  std::optional<DataFormat> format;
  if ((choice >> 2) % 6 != 5) format = static_cast<DataFormat>((choice >> 2) % 6 % 5);
  Batch batch;
  const Status st = ParseScoreRequest(body, model, format, &batch);
  FUZZ_CHECK(batch.offsets.size() == batch.size() + 1 && batch.offsets.back() == batch.num_features() &&
                 batch.keys.size() == batch.values.size() && batch.keys.size() == batch.fields.size(),
             "/score left an inconsistent batch");
  if (st.ok()) {
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    const bool lines = doc.is_object() && doc.contains("lines");
    for (size_t i = 0; i < batch.num_features(); ++i) {
      FUZZ_CHECK(std::isfinite(batch.values[i]), "/score accepted a non-finite value");
      // Raw lines come from the training format's parser, which knows no model.
      if (!lines)
        FUZZ_CHECK(model.TableOfField(batch.fields[i]) >= 0, "/score accepted a field the model does not read");
    }
  }
  TopKRequest topk;
  const size_t max_k = choice & 0x80 ? 100 : 1;
  if (ParseTopKRequest(body, max_k, &topk).ok()) {
    FUZZ_CHECK(topk.k >= 1 && topk.k <= max_k, "/topk accepted k out of range");
    FUZZ_CHECK(topk.has_user || !topk.user_features.empty(), "/topk accepted a request without a user");
  }
  return 0;
}
