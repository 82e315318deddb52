#include "delivery/serve_endpoints.h"

#include <chrono>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "delivery/ctr_scorer.h"
#include "delivery/decision_log.h"
#include "delivery/request_json.h"
#include "delivery/user_profiles.h"

namespace embark {
namespace {

using nlohmann::json;

struct DeliveryService {
  std::vector<Campaign> campaigns;
  std::unique_ptr<Deliverer> deliverer;
  std::unique_ptr<DecisionLogWriter> log;
  Exploration policy = Exploration::kSoftmax;
  std::mutex scorer_mu;
  const ServingModel* scored_model = nullptr;  // the version `scorer` was built for
  std::shared_ptr<const ModelCtrScorer> scorer;

  Status ScorerFor(const std::shared_ptr<const ServingModel>& model, std::shared_ptr<const ModelCtrScorer>* out) {
    std::lock_guard<std::mutex> lock(scorer_mu);
    if (scored_model != model.get()) {
      std::unique_ptr<ModelCtrScorer> s;
      EMBARK_RETURN_IF_ERROR(ModelCtrScorer::Create(model, campaigns, &s));
      scorer = std::move(s);
      scored_model = model.get();
    }
    *out = scorer;
    return Status::OK();
  }
};

int StatusOf(const Status& st) {
  return st.code() == Status::Code::kNotFound ? 404 : st.code() == Status::Code::kInvalidArgument ? 400 : 500;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status MakeDeliveryEndpoints(const DeliveryServeOptions& o, std::vector<ServeEndpoint>* endpoints) {
  auto service = std::make_shared<DeliveryService>();
  EMBARK_RETURN_IF_ERROR(LoadCampaigns(o.campaigns, &service->campaigns));
  auto users = std::make_shared<UserProfiles>();
  if (!o.users.empty()) EMBARK_RETURN_IF_ERROR(UserProfiles::Load(o.users, users.get()));
  service->deliverer = std::make_unique<Deliverer>(service->campaigns, users, nullptr, o.deliverer);
  service->policy = o.deliverer.auction.exploration;
  if (!o.decision_log.empty()) {
    service->log = std::make_unique<DecisionLogWriter>();
    EMBARK_RETURN_IF_ERROR(service->log->Open(o.decision_log));
  }
  endpoints->push_back({"/deliver", [service](const std::string& body, const std::shared_ptr<const ServingModel>& model,
                                              int* status, std::string* answer) {
    json j = json::parse(body, nullptr, false);
    DeliveryRequest r;
    Status st = j.is_discarded() ? Status::InvalidArgument("body: not JSON") : ParseDeliveryRequest(j, "body", Now(), &r);
    std::shared_ptr<const ModelCtrScorer> scorer;
    if (st.ok()) st = service->ScorerFor(model, &scorer);
    Decision d;
    if (st.ok()) st = service->deliverer->Decide(r, *scorer, &d);
    if (st.ok() && service->log) st = service->log->WriteDecision(d, service->campaigns, service->policy);
    if (!st.ok()) {
      *status = StatusOf(st);
      *answer = json{{"error", st.message()}}.dump();
      return;
    }
    json a = DecisionToJson(d, service->campaigns);
    a["version"] = model->info().version;
    *status = 200;
    *answer = a.dump(-1, ' ', false, json::error_handler_t::replace);
  }});
  endpoints->push_back({"/outcome", [service](const std::string& body, const std::shared_ptr<const ServingModel>&,
                                              int* status, std::string* answer) {
    json j = json::parse(body, nullptr, false);
    OutcomeRequest oc;
    Status st = j.is_discarded() ? Status::InvalidArgument("body: not JSON") : ParseOutcome(j, "body", &oc);
    double charged = 0;
    if (st.ok()) st = service->deliverer->RecordOutcome(oc.decision, oc.slot, oc.click, &charged);
    if (st.ok() && service->log) st = service->log->WriteOutcome(oc.decision, oc.slot, oc.click, oc.conversion, Now());
    if (!st.ok()) {
      *status = StatusOf(st);
      *answer = json{{"error", st.message()}}.dump();
      return;
    }
    *status = 200;
    *answer = json{{"outcome", oc.decision}, {"slot", oc.slot}, {"charged", charged}}.dump();
  }});
  return Status::OK();
}

}  // namespace embark
