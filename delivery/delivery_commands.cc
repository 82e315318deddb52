#include "delivery/delivery_commands.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/liveness.h"
#include "core/status.h"
#include "delivery/campaign.h"
#include "delivery/ctr_scorer.h"
#include "delivery/decision_log.h"
#include "delivery/deliverer.h"
#include "delivery/off_policy.h"
#include "delivery/request_json.h"
#include "delivery/simulator.h"
#include "delivery/user_profiles.h"
#include "serving/bundle_source.h"

namespace embark {
namespace {

using nlohmann::json;

int Fail(const char* command, const Status& st) {
  std::fprintf(stderr, "%s: %s\n", command, st.ToString().c_str());
  return kExitUsage;
}

Status LoadModel(const std::string& bundle, uint64_t seed, std::shared_ptr<const ServingModel>* model) {
  if (bundle.empty()) return Status::InvalidArgument("--bundle=DIR is required");
  BundleSource source(bundle, ServingOptions(), seed);
  return source.Load(nullptr, model);
}

Status ModelScorer(const std::string& bundle, uint64_t seed, const std::vector<Campaign>& campaigns,
                   std::shared_ptr<const CtrScorer>* out) {
  std::shared_ptr<const ServingModel> model;
  EMBARK_RETURN_IF_ERROR(LoadModel(bundle, seed, &model));
  std::unique_ptr<ModelCtrScorer> scorer;
  EMBARK_RETURN_IF_ERROR(ModelCtrScorer::Create(model, campaigns, &scorer));
  *out = std::move(scorer);
  return Status::OK();
}

void PrintBadLines(const char* command, const DecisionLogReport& r) {
  std::printf("%s: read %" PRIu64 " lines: %" PRIu64 " decisions, %" PRIu64 " outcomes, %" PRIu64 " bad lines\n", command,
              r.lines, r.decisions, r.outcomes, r.bad_lines);
  for (const std::string& b : r.bad) std::printf("  bad line %s\n", b.c_str());
  if (r.bad_lines > r.bad.size()) std::printf("  ... and %" PRIu64 " more bad lines\n", r.bad_lines - r.bad.size());
}

}  // namespace

int RunDeliverCommand(const DeliveryCommandOptions& o) {
  const char* cmd = "deliver";
  if (o.campaigns.empty() || o.requests.empty())
    return Fail(cmd, Status::InvalidArgument("--campaigns=FILE and --requests=FILE are required"));
  std::vector<Campaign> campaigns;
  Status st = LoadCampaigns(o.campaigns, &campaigns);
  if (!st.ok()) return Fail(cmd, st);
  auto users = std::make_shared<UserProfiles>();
  if (!o.users.empty()) {
    st = UserProfiles::Load(o.users, users.get());
    if (!st.ok()) return Fail(cmd, st);
  }
  std::shared_ptr<const CtrScorer> scorer;
  st = ModelScorer(o.bundle, o.seed, campaigns, &scorer);
  if (!st.ok()) return Fail(cmd, st);
  DelivererOptions d;
  d.auction = o.auction;
  d.pacing = o.pacing;
  d.seed = o.seed;
  d.reject_unknown_users = o.reject_unknown_users;
  Deliverer deliverer(campaigns, users, scorer, d);
  DecisionLogWriter log;
  if (!o.decision_log.empty()) {
    st = log.Open(o.decision_log);
    if (!st.ok()) return Fail(cmd, st);
  }
  std::ifstream in(o.requests);
  if (!in) return Fail(cmd, Status::IoError("cannot open requests file " + o.requests));
  std::ofstream file_out;
  if (!o.out.empty()) {
    file_out.open(o.out, std::ios::trunc);
    if (!file_out) return Fail(cmd, Status::IoError("cannot open " + o.out + " for writing"));
  }
  std::ostream& out = o.out.empty() ? std::cout : file_out;
  uint64_t decisions = 0, outcomes = 0, errors = 0;
  std::string line;
  for (uint64_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = o.requests + ":" + std::to_string(number);
    json j = json::parse(line, nullptr, false);
    json answer;
    if (j.is_discarded()) {
      st = Status::InvalidArgument(where + ": not JSON");
    } else if (j.is_object() && j.contains("decision")) {
      OutcomeRequest oc;
      st = ParseOutcome(j, where, &oc);
      double charged = 0;
      if (st.ok()) st = deliverer.RecordOutcome(oc.decision, oc.slot, oc.click, &charged);
      if (st.ok() && !o.decision_log.empty()) {
        const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
        st = log.WriteOutcome(oc.decision, oc.slot, oc.click, oc.conversion, now);
      }
      if (st.ok()) {
        answer = {{"outcome", oc.decision}, {"slot", oc.slot}, {"charged", charged}};
        ++outcomes;
      } else if (st.code() != Status::Code::kIoError) {
        st = Status::InvalidArgument(where + ": " + st.message());
      }
    } else {
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      DeliveryRequest r;
      st = ParseDeliveryRequest(j, where, now, &r);
      Decision decision;
      if (st.ok()) {
        st = deliverer.Decide(r, &decision);
        if (!st.ok()) st = st.code() == Status::Code::kNotFound ? Status::NotFound(where + ": " + st.message())
                                                                 : Status::InvalidArgument(where + ": " + st.message());
      }
      if (st.ok() && !o.decision_log.empty()) st = log.WriteDecision(decision, campaigns, o.auction.exploration);
      if (st.ok()) {
        answer = DecisionToJson(decision, campaigns);
        ++decisions;
      }
    }
    if (!st.ok()) {
      if (st.code() == Status::Code::kIoError) return Fail(cmd, st);
      answer = {{"error", st.message()}, {"status", st.code() == Status::Code::kNotFound ? 404 : 400}};
      ++errors;
    }
    out << answer.dump() << '\n';
  }
  out.flush();
  if (!o.decision_log.empty()) {
    st = log.Close();
    if (!st.ok()) return Fail(cmd, st);
  }
  std::fprintf(stderr, "deliver: %" PRIu64 " decisions, %" PRIu64 " outcomes, %" PRIu64 " refused lines\n", decisions,
               outcomes, errors);
  return errors > 0 ? kExitUsage : kExitOk;
}

int RunLogExportCommand(const DeliveryCommandOptions& o) {
  const char* cmd = "log-export";
  if (o.log.empty() || o.out.empty()) return Fail(cmd, Status::InvalidArgument("--log=FILE and --out=FILE are required"));
  std::vector<LoggedDecision> log;
  DecisionLogReport report;
  Status st = ReadDecisionLog(o.log, &log, &report);
  if (!st.ok()) return Fail(cmd, st);
  PrintBadLines(cmd, report);
  uint64_t examples = 0;
  st = ExportTrainingData(log, o.out, &examples);
  if (!st.ok()) return Fail(cmd, st);
  std::printf("log-export: wrote %" PRIu64 " examples (libffm) to %s; %" PRIu64 " impressions had no outcome line (no click)\n",
              examples, o.out.c_str(), report.picks_without_outcome);
  return report.bad_lines > 0 ? kExitUsage : kExitOk;
}

int RunOpeCommand(const DeliveryCommandOptions& o) {
  const char* cmd = "ope";
  if (o.log.empty() || o.campaigns.empty())
    return Fail(cmd, Status::InvalidArgument("--log=FILE, --campaigns=FILE and --bundle=DIR are required"));
  std::vector<Campaign> campaigns;
  Status st = LoadCampaigns(o.campaigns, &campaigns);
  if (!st.ok()) return Fail(cmd, st);
  std::shared_ptr<const CtrScorer> scorer;
  st = ModelScorer(o.bundle, o.seed, campaigns, &scorer);
  if (!st.ok()) return Fail(cmd, st);
  std::vector<LoggedDecision> log;
  DecisionLogReport report;
  st = ReadDecisionLog(o.log, &log, &report);
  if (!st.ok()) return Fail(cmd, st);
  PrintBadLines(cmd, report);
  json out;
  out["log"] = o.log;
  out["bundle"] = o.bundle;
  out["policy"] = ExplorationName(o.auction.exploration);
  out["bad_lines"] = report.bad_lines;
  std::printf("new policy: %s with %s\n", ExplorationName(o.auction.exploration), scorer->Describe().c_str());
  for (OpeReward reward : {OpeReward::kClicks, OpeReward::kRevenue}) {
    const char* name = reward == OpeReward::kClicks ? "clicks" : "revenue";
    std::vector<OpeSample> samples;
    st = BuildOpeSamples(log, campaigns, *scorer, o.auction, reward, &samples);
    if (!st.ok()) return Fail(cmd, st);
    const OpeResult r = EstimatePolicyValue(samples);
    std::printf("%s per request over %" PRIu64 " logged requests (logging policy got %.6f; weights mean %.3f, max %.1f):\n",
                name, r.n, r.logged_value, r.mean_weight, r.max_weight);
    json jr = {{"requests", r.n}, {"logged_value", r.logged_value}, {"mean_weight", r.mean_weight},
               {"max_weight", r.max_weight}};
    const std::pair<const char*, const OpeEstimate*> estimates[] = {{"ips", &r.ips}, {"snips", &r.snips}, {"dr", &r.dr}};
    for (const auto& [ename, e] : estimates) {
      std::printf("  %-6s %.6f  95%% CI [%.6f, %.6f]", ename, e->value, e->low, e->high);
      jr[ename] = {{"value", e->value}, {"low", e->low}, {"high", e->high}, {"stderr", e->stderr_}};
      if (r.has_truth) {
        std::printf("  error %+.6f%s", e->value - r.true_value,
                    r.true_value >= e->low && r.true_value <= e->high ? "  (truth inside)" : "  (truth OUTSIDE)");
        jr[ename]["error"] = e->value - r.true_value;
        jr[ename]["covers_truth"] = r.true_value >= e->low && r.true_value <= e->high;
      }
      std::printf("\n");
    }
    if (r.has_truth) {
      std::printf("  truth  %.6f  (the world's true value of the new policy; of the logging policy: %.6f)\n", r.true_value,
                  r.true_logging_value);
      jr["true_value"] = r.true_value;
      jr["true_logging_value"] = r.true_logging_value;
    }
    out[name] = jr;
  }
  if (!o.json_out.empty()) {
    std::ofstream f(o.json_out, std::ios::trunc);
    f << out.dump(2) << '\n';
    f.close();
    if (!f) return Fail(cmd, Status::IoError("cannot write " + o.json_out));
  }
  return kExitOk;
}

int RunSimulateCommand(const DeliveryCommandOptions& o) {
  const char* cmd = "simulate";
  if (o.out.empty()) return Fail(cmd, Status::InvalidArgument("--out=PREFIX is required"));
  std::unique_ptr<SimWorld> world;
  Status st = SimWorld::Create(o.world, &world);
  if (!st.ok()) return Fail(cmd, st);
  st = world->WriteFiles(o.out + ".campaigns.jsonl", o.out + ".users.jsonl");
  if (!st.ok()) return Fail(cmd, st);
  DecisionLogWriter log;
  if (!o.decision_log.empty()) {
    std::remove(o.decision_log.c_str());  // a fresh log per run: appending a second world would mix them
    st = log.Open(o.decision_log);
    if (!st.ok()) return Fail(cmd, st);
  }
  std::vector<SimPolicy> policies;
  std::stringstream names(o.policies);
  for (std::string name; std::getline(names, name, ',');) {
    SimPolicy p;
    p.name = name;
    p.auction = o.auction;
    if (name == "model") {
      st = ModelScorer(o.bundle, o.seed, world->campaigns(), &p.scorer);
      if (!st.ok()) return Fail(cmd, st);
    } else if (name == "popularity") {
      p.scorer = std::make_shared<PopularityCtrScorer>();
    } else if (name == "random") {
      p.scorer = std::make_shared<PopularityCtrScorer>();  // scores unused: uniform choice
      p.auction.exploration = Exploration::kUniform;
    } else {
      return Fail(cmd, Status::InvalidArgument("--policies takes model, popularity and random, got '" + name + "'"));
    }
    if (policies.empty() && !o.decision_log.empty()) p.log = &log;
    policies.push_back(std::move(p));
  }
  if (policies.empty()) return Fail(cmd, Status::InvalidArgument("--policies is empty"));
  SimOptions so;
  so.pacing = o.pacing;
  so.slots = o.slots;
  so.seed = o.seed;
  std::vector<SimPolicyResult> results;
  st = RunSimulation(*world, policies, so, &results);
  if (st.ok() && !o.decision_log.empty()) st = log.Close();
  if (!st.ok()) return Fail(cmd, st);

  const auto& campaigns = world->campaigns();
  double total_budget = 0;
  for (const Campaign& c : campaigns) total_budget += c.daily_budget;
  std::printf("world: seed %" PRIu64 ", %zu campaigns (total daily budget %.2f), %zu users, %zu arrivals, %zu slot(s), pacing %s\n",
              o.world.clicks.seed, campaigns.size(), total_budget, world->users()->size(), world->arrivals().size(),
              o.slots, o.pacing.enabled ? "on" : "off");
  std::printf("%-11s %9s %9s %8s %8s %11s %9s %12s %12s\n", "policy", "decisions", "impr", "clicks", "ctr", "revenue",
              "eCPM", "on_budget", "demand_short");
  json report;
  report["world"] = {{"seed", o.world.clicks.seed}, {"campaigns", campaigns.size()}, {"arrivals", world->arrivals().size()},
                     {"total_budget", total_budget}, {"pacing", o.pacing.enabled}};
  // Per campaign and hour, per policy.
  std::ofstream hourly(o.out + ".hourly.csv", std::ios::trunc);
  hourly << "policy,campaign,hour,impressions,clicks,spend,cumulative_spend,budget,pace_target,pass_rate,ecpm\n";
  std::ofstream revenue(o.out + ".revenue.csv", std::ios::trunc);
  revenue << "hour";
  for (const SimPolicyResult& r : results) revenue << ',' << r.name;
  revenue << '\n';
  for (const SimPolicyResult& r : results) {
    // A campaign is on budget when it spent within 5% of it; short of demand when it ended
    // under that with its pacing rate at 1 (it took every auction it could get).
    int on_budget = 0, short_demand = 0, missed = 0;
    double max_over = 0;
    json per_campaign = json::array();
    for (size_t c = 0; c < campaigns.size(); ++c) {
      const SimCampaignResult& k = r.campaigns[c];
      const double share = campaigns[c].daily_budget > 0 ? k.spend / campaigns[c].daily_budget : 1;
      max_over = std::max(max_over, k.spend - campaigns[c].daily_budget);
      const bool ok = share >= 0.95 && share <= 1.05;
      const bool short_of_demand = !ok && share < 0.95 && k.pass_rate[23] >= 1.0;
      on_budget += ok;
      short_demand += short_of_demand;
      missed += !ok && !short_of_demand;
      per_campaign.push_back({{"campaign", campaigns[c].id}, {"budget", campaigns[c].daily_budget}, {"spend", k.spend},
                              {"impressions", k.impressions}, {"clicks", k.clicks}, {"on_budget", ok},
                              {"demand_short", short_of_demand}});
      double cumulative = 0;
      for (int h = 0; h < 24; ++h) {
        cumulative += k.hours[h].spend;
        const double target = PacingController::Target(campaigns[c], o.world.day, o.world.day * 86400.0 + (h + 1) * 3600.0);
        hourly << r.name << ',' << campaigns[c].id << ',' << h << ',' << k.hours[h].impressions << ',' << k.hours[h].clicks
               << ',' << k.hours[h].spend << ',' << cumulative << ',' << campaigns[c].daily_budget << ',' << target << ','
               << k.pass_rate[h] << ','
               << (k.hours[h].impressions ? 1000.0 * k.hours[h].spend / k.hours[h].impressions : 0.0) << '\n';
      }
    }
    const double ecpm = r.impressions ? 1000.0 * r.revenue / r.impressions : 0;
    std::printf("%-11s %9" PRIu64 " %9" PRIu64 " %8" PRIu64 " %8.4f %11.2f %9.3f %7d/%-4zu %12d\n", r.name.c_str(), r.decisions,
                r.impressions, r.clicks, r.ExpectedCtr(), r.revenue, ecpm, on_budget, campaigns.size(), short_demand);
    if (missed > 0) std::printf("            %d campaign(s) neither within 5%% of budget nor short of demand\n", missed);
    std::printf("            largest overspend %.4f\n", max_over);
    report["policies"][r.name] = {{"decisions", r.decisions}, {"impressions", r.impressions}, {"clicks", r.clicks},
                                  {"revenue", r.revenue}, {"ecpm", ecpm}, {"on_budget", on_budget},
                                  {"demand_short", short_demand}, {"missed_budget", missed}, {"largest_overspend", max_over},
                                  {"campaigns", per_campaign}};
  }
  std::vector<double> cumulative(results.size(), 0);
  for (int h = 0; h < 24; ++h) {
    revenue << h + 1;
    for (size_t p = 0; p < results.size(); ++p) revenue << ',' << (cumulative[p] += results[p].revenue_by_hour[h]);
    revenue << '\n';
  }
  for (size_t p = 1; p < results.size(); ++p) {
    for (bool rev : {true, false}) {
      const SimLift l = ComputeLift(results[0], results[p], rev);
      std::printf("lift of %s over %s in %s: %+.5f per arrival, 95%% CI [%+.5f, %+.5f] = %+.1f%% [%+.1f%%, %+.1f%%]\n",
                  l.policy.c_str(), l.baseline.c_str(), l.metric.c_str(), l.mean_difference, l.low, l.high,
                  100 * l.relative, 100 * l.relative_low, 100 * l.relative_high);
      report["lift"].push_back({{"policy", l.policy}, {"baseline", l.baseline}, {"metric", l.metric},
                                {"per_arrival", l.mean_difference}, {"low", l.low}, {"high", l.high},
                                {"relative", l.relative}, {"relative_low", l.relative_low},
                                {"relative_high", l.relative_high}});
    }
  }
  const SimPolicyResult& first = results[0];
  const double p50 = Quantile(first.latency_us, 0.5), p99 = Quantile(first.latency_us, 0.99),
               pmax = Quantile(first.latency_us, 1.0);
  std::printf("deliver latency (%s, %zu campaigns): p50 %.1f us, p99 %.1f us, max %.1f us over %zu decisions\n",
              first.name.c_str(), campaigns.size(), p50, p99, pmax, first.latency_us.size());
  report["latency_us"] = {{"policy", first.name}, {"p50", p50}, {"p99", p99}, {"max", pmax}};
  std::ofstream rj(o.out + ".report.json", std::ios::trunc);
  rj << report.dump(2) << '\n';
  hourly.close();
  revenue.close();
  rj.close();
  if (!hourly || !revenue || !rj) return Fail(cmd, Status::IoError("cannot write the outputs of " + o.out));
  std::printf("wrote %s.{campaigns.jsonl,users.jsonl,hourly.csv,revenue.csv,report.json}%s%s\n", o.out.c_str(),
              o.decision_log.empty() ? "" : " and ", o.decision_log.c_str());
  return kExitOk;
}

}  // namespace embark
