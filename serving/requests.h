// Requests: the JSON bodies of POST /score and POST /topk, parsed and validated.
//
// Every check happens here, before a request touches a model, and every failure is an
// InvalidArgument whose message names the JSON path and the reason ("examples[2][0][1]: the id
// must be a string"), which the HTTP layer returns as a 400 body. Unknown members are errors
// too, so a misspelt "exlude" is reported instead of silently ignored.
//
//   /score  exactly one of
//     {"features": [[field, "id", value], ...]}          one example
//     {"examples": [[[field, "id", value], ...], ...]}   several; an example may also be written
//                                                        {"features": [...]}
//     {"lines": ["<a line of the training format>", ...]} raw records, parsed by the training
//                                                        data's own LineParser (criteo binning,
//                                                        libffm fields...); the label column must
//                                                        be present and is ignored
//     field: integer 0..65535 that the model uses (Model::TableOfField >= 0); id: a string (ids
//     are hashed as text, FeatureKey(field, id), exactly as the readers do); value: a finite
//     number, optional (default 1).
//   /topk  {"user": "id", "k": 10, "exclude": ["item id", ...], "exact": false,
//           "include_seen": false, "user_features": [[field, "id"], ...]}
//     k: integer in [1, max_k], default 10 (max_k if smaller); exclude optional; exact forces the exact scan; include_seen
//     keeps the items the user has seen (the bundle's seen items) in the ranking;
//     user_features: further user-side features (two_tower), [field, "id"] pairs. "user" may
//     be left out only when user_features are given.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "data/batch.h"
#include "data/line_parser.h"

namespace embark {

// Appends the examples of a /score body to `batch` (labels 0). `format` is the training data's
// format, needed only for "lines".
Status ParseScoreRequest(std::string_view body, const Model& model, const std::optional<DataFormat>& format,
                         Batch* batch);

struct TopKRequest {
  std::string user;
  size_t k = 10;
  bool has_user = false;
  std::vector<std::string> exclude;
  bool exact = false;
  bool include_seen = false;
  std::vector<std::pair<uint16_t, std::string>> user_features;
};

Status ParseTopKRequest(std::string_view body, size_t max_k, TopKRequest* request);

}  // namespace embark
