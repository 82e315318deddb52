// Delivery endpoints of `embark serve` (with --campaigns): the served model ranks campaigns.
//   POST /deliver  body: a delivery request (delivery/request_json.h) -> the answer, with the
//                  model version; 400 for a bad request, 404 for an unknown user with
//                  --unknown_user=404
//   POST /outcome  body: {"decision": 7, "slot": 0, "click": 1, "conversion": 0} -> the charge;
//                  404 for a decision not remembered, 400 for a second outcome of one pick
// Decisions and outcomes are appended to the decision log when one is given. A hot-swapped
// model version scores the requests that take it; budgets, caps and pacing carry over.
//
// Thread-safety: the handlers run on the HTTP threads concurrently (the deliverer and the log
// lock; the per-version scorer is built once per version under a lock).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/deliverer.h"
#include "serving/serve_app.h"

namespace embark {

struct DeliveryServeOptions {
  std::string campaigns;
  std::string users;
  std::string decision_log;
  DelivererOptions deliverer;
};

// Loads the campaigns and users and opens the log; IoError / InvalidArgument naming the file.
Status MakeDeliveryEndpoints(const DeliveryServeOptions& options, std::vector<ServeEndpoint>* endpoints);

}  // namespace embark
