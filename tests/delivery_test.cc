// Tests of promotion delivery: campaign files (and the line of every refusal), eCPM ranking and
// prices against hand computations, exploration propensities against their formulas and
// against observed pick frequencies, frequency caps, budget pacing through a demand spike,
// the decision log's round trip into libffm training lines (and its bad lines), off-policy
// estimators against a hand computation on a 5-decision log and against the true value in a
// generated world.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "core/hash.h"
#include "delivery/auction.h"
#include "delivery/campaign.h"
#include "delivery/ctr_scorer.h"
#include "delivery/decision_log.h"
#include "delivery/deliverer.h"
#include "delivery/off_policy.h"
#include "delivery/request_json.h"
#include "delivery/sim_world.h"
#include "delivery/simulator.h"
#include "data/line_parser.h"

namespace embark {
namespace {

constexpr int64_t kDay = 20454;  // 2026-01-01
constexpr int64_t kT0 = kDay * 86400;

std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/delivery_" + std::to_string(getpid()) + "_" + name;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

Campaign MakeCampaign(const std::string& id, double bid, BidType type, double budget = 1e9, uint32_t cap = 0) {
  Campaign c;
  c.id = id;
  c.item = "item_" + id;
  c.features = {{1, "item_" + id, 1}};
  c.bid = bid;
  c.bid_type = type;
  c.daily_budget = budget;
  c.start = kT0;
  c.end = kT0 + 10 * 86400;
  c.frequency_cap = cap;
  return c;
}

const char kGoodCampaign[] =
    R"({"id": "c1", "features": [[1, "i1"]], "bid": 0.5, "bid_type": "cpc", "daily_budget": 10, )"
    R"("start": "2026-01-01T00:00:00Z", "end": 1767312000, "targeting": {"country": ["FR"]}, "frequency_cap": 3})";

TEST(Campaigns, FileLoadsWithEveryMember) {
  const std::string path = TempPath("good.jsonl");
  WriteFile(path, std::string("# comment\n\n") + kGoodCampaign + "\n");
  std::vector<Campaign> cs;
  ASSERT_TRUE(LoadCampaigns(path, &cs).ok());
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].id, "c1");
  EXPECT_EQ(cs[0].start, 1767225600);
  EXPECT_EQ(cs[0].end, 1767312000);
  EXPECT_EQ(cs[0].bid_type, BidType::kCpc);
  EXPECT_EQ(cs[0].frequency_cap, 3u);
  ASSERT_EQ(cs[0].targeting.countries.size(), 1u);
  EXPECT_TRUE(MatchesTargeting(cs[0].targeting, {"", "FR", {}}));
  EXPECT_FALSE(MatchesTargeting(cs[0].targeting, {"", "DE", {}}));
}

TEST(Campaigns, BadFilesAreRefusedNamingTheLine) {
  const std::string good = kGoodCampaign;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::string other = replace("\"c1\"", "\"c2\"");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {replace(R"("bid": 0.5, )", ""), "missing \"bid\""},
      {replace(R"("daily_budget": 10)", R"("daily_budget": -1)"), "negative"},
      {replace(R"("country")", R"("city")"), "unknown targeting field \"city\""},
      {good, "duplicate campaign id \"c1\""},
      {replace(R"("bid_type": "cpc")", R"("bid_type": "cpa")"), "bid_type"},
      {replace(R"("frequency_cap": 3)", R"("frequncy_cap": 3)"), "unknown member \"frequncy_cap\""},
      {"{not json", "not a JSON object"},
  };
  for (const auto& [line, reason] : cases) {
    const std::string path = TempPath("bad.jsonl");
    WriteFile(path, good + "\n" + other + "\n\n" + line + "\n");
    std::vector<Campaign> cs;
    const Status st = LoadCampaigns(path, &cs);
    ASSERT_FALSE(st.ok()) << line;
    EXPECT_NE(st.message().find(path + ":4:"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(reason), std::string::npos) << st.message();
  }
}

TEST(Auction, EcpmOrderAndSecondPricesMatchAHandComputation) {
  // eCPM: a = 1000 * 0.05 * 1.0 = 50; b = 1000 * 0.02 * 2.0 = 40; c (cpm) = 45.
  std::vector<Campaign> cs = {MakeCampaign("a", 1.0, BidType::kCpc), MakeCampaign("b", 2.0, BidType::kCpc),
                              MakeCampaign("c", 45, BidType::kCpm)};
  DelivererOptions o;
  o.auction.exploration = Exploration::kGreedy;
  o.pacing.enabled = false;
  Deliverer d(cs, nullptr, std::make_shared<FixedCtrScorer>(std::vector<double>{0.05, 0.02, 0.3}), o);
  DeliveryRequest r;
  r.user = "u";
  r.time = kT0 + 10;
  r.slots = 3;
  Decision dec;
  ASSERT_TRUE(d.Decide(r, &dec).ok());
  ASSERT_EQ(dec.picks.size(), 3u);
  EXPECT_EQ(dec.picks[0].campaign, 0u);
  EXPECT_EQ(dec.picks[1].campaign, 2u);
  EXPECT_EQ(dec.picks[2].campaign, 1u);
  EXPECT_DOUBLE_EQ(dec.candidates[0].ecpm, 50);
  EXPECT_DOUBLE_EQ(dec.candidates[1].ecpm, 40);
  EXPECT_DOUBLE_EQ(dec.candidates[2].ecpm, 45);
  // a pays c's 45 eCPM per click: 45 / (1000 * 0.05) = 0.9; c then pays b's 40 per mille
  // (0.04 an impression); b, alone, pays the reserve (0).
  EXPECT_NEAR(dec.picks[0].price, 0.9, 1e-12);
  EXPECT_NEAR(dec.picks[1].price, 0.04, 1e-12);
  EXPECT_NEAR(dec.picks[2].price, 0.0, 1e-12);
  for (const auto& p : dec.picks) EXPECT_DOUBLE_EQ(p.propensity, 1.0);

  // Reserve 42: b (40) is dropped; a pays 45, c pays the reserve 42 per mille.
  o.auction.reserve_ecpm = 42;
  Deliverer d2(cs, nullptr, std::make_shared<FixedCtrScorer>(std::vector<double>{0.05, 0.02, 0.3}), o);
  ASSERT_TRUE(d2.Decide(r, &dec).ok());
  ASSERT_EQ(dec.picks.size(), 2u);
  EXPECT_EQ(dec.below_floor, 1u);
  EXPECT_NEAR(dec.picks[1].price, 0.042, 1e-12);
  // First price: the bid.
  o.auction.reserve_ecpm = 0;
  o.auction.first_price = true;
  Deliverer d3(cs, nullptr, std::make_shared<FixedCtrScorer>(std::vector<double>{0.05, 0.02, 0.3}), o);
  ASSERT_TRUE(d3.Decide(r, &dec).ok());
  EXPECT_DOUBLE_EQ(dec.picks[0].price, 1.0);
  EXPECT_DOUBLE_EQ(dec.picks[1].price, 0.045);
}

TEST(Auction, PropensitiesSumToOneAndFollowThePolicyFormulas) {
  const std::vector<double> ecpm = {50, 40, 45, 10};
  std::vector<double> p;
  AuctionOptions o;
  o.exploration = Exploration::kSoftmax;
  o.temperature = 0.1;
  ChoiceProbabilities(o, ecpm, &p);
  double z = 0;
  for (double e : ecpm) z += std::exp((e / 50 - 1) / 0.1);
  double sum = 0;
  for (size_t i = 0; i < ecpm.size(); ++i) {
    EXPECT_NEAR(p[i], std::exp((ecpm[i] / 50 - 1) / 0.1) / z, 1e-12);
    sum += p[i];
  }
  EXPECT_NEAR(sum, 1, 1e-12);
  o.exploration = Exploration::kEpsilon;
  o.epsilon = 0.2;
  ChoiceProbabilities(o, ecpm, &p);
  EXPECT_NEAR(p[0], 0.8 + 0.05, 1e-12);
  for (size_t i = 1; i < 4; ++i) EXPECT_NEAR(p[i], 0.05, 1e-12);
  o.exploration = Exploration::kUniform;
  ChoiceProbabilities(o, ecpm, &p);
  for (double x : p) EXPECT_DOUBLE_EQ(x, 0.25);
}

TEST(Auction, LoggedPropensitiesMatchHowOftenEachCampaignIsPicked) {
  std::vector<Campaign> cs = {MakeCampaign("a", 1.0, BidType::kCpc), MakeCampaign("b", 2.0, BidType::kCpc),
                              MakeCampaign("c", 45, BidType::kCpm)};
  DelivererOptions o;
  o.auction.exploration = Exploration::kSoftmax;
  o.auction.temperature = 0.2;
  o.pacing.enabled = false;
  Deliverer d(cs, nullptr, std::make_shared<FixedCtrScorer>(std::vector<double>{0.05, 0.02, 0.3}), o);
  const int n = 20000;
  std::map<uint32_t, int> count;
  std::map<uint32_t, double> propensity;
  for (int i = 0; i < n; ++i) {
    DeliveryRequest r;
    r.user = "u" + std::to_string(i);
    r.time = kT0 + i;
    Decision dec;
    ASSERT_TRUE(d.Decide(r, &dec).ok());
    ASSERT_EQ(dec.picks.size(), 1u);
    double sum = 0;
    for (const auto& c : dec.candidates) sum += c.probability;
    ASSERT_NEAR(sum, 1, 1e-12);
    ++count[dec.picks[0].campaign];
    propensity[dec.picks[0].campaign] = dec.picks[0].propensity;
  }
  for (const auto& [c, k] : count) {
    const double p = propensity[c];
    EXPECT_NEAR(static_cast<double>(k) / n, p, 4 * std::sqrt(p * (1 - p) / n)) << "campaign " << c;
  }
}

TEST(Delivery, FrequencyCapsHoldPerUserPerDay) {
  std::vector<Campaign> cs = {MakeCampaign("capped", 5.0, BidType::kCpc, 1e9, 2), MakeCampaign("other", 0.1, BidType::kCpc)};
  DelivererOptions o;
  o.auction.exploration = Exploration::kGreedy;
  o.pacing.enabled = false;
  Deliverer d(cs, nullptr, std::make_shared<FixedCtrScorer>(std::vector<double>{0.1, 0.1}), o);
  auto pick = [&](const std::string& user, int64_t t) {
    DeliveryRequest r;
    r.user = user;
    r.time = t;
    Decision dec;
    EXPECT_TRUE(d.Decide(r, &dec).ok());
    return dec.picks.empty() ? std::string() : cs[dec.picks[0].campaign].id;
  };
  EXPECT_EQ(pick("u", kT0 + 1), "capped");
  EXPECT_EQ(pick("u", kT0 + 2), "capped");
  EXPECT_EQ(pick("u", kT0 + 3), "other");  // cap of 2 reached
  EXPECT_EQ(pick("u", kT0 + 4), "other");
  EXPECT_EQ(pick("v", kT0 + 5), "capped");  // another user is not capped
  EXPECT_EQ(pick("u", kT0 + 86400 + 1), "capped");  // the next day starts afresh
}

TEST(Delivery, OutcomesChargeOnceAndOnlyForRememberedDecisions) {
  std::vector<Campaign> cs = {MakeCampaign("a", 1.0, BidType::kCpc), MakeCampaign("b", 0.5, BidType::kCpc)};
  DelivererOptions o;
  o.auction.exploration = Exploration::kGreedy;
  o.pacing.enabled = false;
  o.remembered_decisions = 2;
  Deliverer d(cs, nullptr, std::make_shared<FixedCtrScorer>(std::vector<double>{0.1, 0.1}), o);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    DeliveryRequest r;
    r.user = "u";
    r.time = kT0 + i;
    Decision dec;
    ASSERT_TRUE(d.Decide(r, &dec).ok());
    ids.push_back(dec.id);
  }
  double charged = -1;
  // a (eCPM 100) beats b (50): second price 50 / (1000 * 0.1) = 0.5 per click.
  ASSERT_TRUE(d.RecordOutcome(ids[2], 0, true, &charged).ok());
  EXPECT_DOUBLE_EQ(charged, 0.5);
  EXPECT_DOUBLE_EQ(d.ledger().spent_today()[0], 0.5);
  EXPECT_EQ(d.RecordOutcome(ids[2], 0, true, &charged).code(), Status::Code::kInvalidArgument);  // twice
  EXPECT_EQ(d.RecordOutcome(ids[2], 1, true, &charged).code(), Status::Code::kNotFound);         // no slot 1
  EXPECT_EQ(d.RecordOutcome(ids[0], 0, true, &charged).code(), Status::Code::kNotFound);         // forgotten
  ASSERT_TRUE(d.RecordOutcome(ids[1], 0, false, &charged).ok());
  EXPECT_DOUBLE_EQ(charged, 0);
  EXPECT_DOUBLE_EQ(d.ledger().spent_today()[0], 0.5);
  EXPECT_EQ(d.ledger().clicks_today(0), 1u);
}

TEST(Delivery, UnknownUsersTakeTheColdStartPathOrAreRefused) {
  std::vector<Campaign> cs = {MakeCampaign("fr", 1.0, BidType::kCpc), MakeCampaign("any", 0.5, BidType::kCpc)};
  cs[0].targeting.countries = {"FR"};
  auto users = std::make_shared<UserProfiles>();
  users->Add({"known", {"s", "FR", {}}, {{0, "known", 1}}});
  DelivererOptions o;
  o.auction.exploration = Exploration::kGreedy;
  Deliverer d(cs, users, std::make_shared<FixedCtrScorer>(std::vector<double>{0.1, 0.1}), o);
  DeliveryRequest r;
  r.user = "known";
  r.time = kT0;
  Decision dec;
  ASSERT_TRUE(d.Decide(r, &dec).ok());
  EXPECT_FALSE(dec.cold_start);
  EXPECT_EQ(dec.picks[0].campaign, 0u);
  ASSERT_EQ(dec.features.size(), 1u);
  r.user = "stranger";  // no country: the FR campaign's rule fails
  ASSERT_TRUE(d.Decide(r, &dec).ok());
  EXPECT_TRUE(dec.cold_start);
  EXPECT_EQ(dec.picks[0].campaign, 1u);
  EXPECT_EQ(dec.not_targeted, 1u);
  r.attributes.country = "FR";  // the request says where the stranger is
  ASSERT_TRUE(d.Decide(r, &dec).ok());
  EXPECT_EQ(dec.picks[0].campaign, 0u);
  o.reject_unknown_users = true;
  Deliverer strict(cs, users, std::make_shared<FixedCtrScorer>(std::vector<double>{0.1, 0.1}), o);
  EXPECT_EQ(strict.Decide(r, &dec).code(), Status::Code::kNotFound);
}

// A day of traffic with a spike (half of it in hour 2) against budgets that the spike alone
// could exhaust. Clicks are decided by a hash, so the run is deterministic.
struct SpikeRun {
  std::vector<double> spend_by_hour_end[2];  // per campaign: cumulative spend at the end of hour 2 and hour 12
  std::vector<double> final_spend;
};
SpikeRun RunSpike(bool pacing, const std::vector<Campaign>& cs) {
  DelivererOptions o;
  o.auction.exploration = Exploration::kSoftmax;
  o.pacing.enabled = pacing;
  const std::vector<double> ctr = {0.1, 0.08, 0.12};  // calibrated: clicks come at the scored rate
  Deliverer d(cs, nullptr, std::make_shared<FixedCtrScorer>(ctr), o);
  std::vector<int64_t> times;
  for (int i = 0; i < 30000; ++i) times.push_back(kT0 + (i * 86400LL) / 30000);     // steady
  for (int i = 0; i < 30000; ++i) times.push_back(kT0 + 2 * 3600 + (i * 3600LL) / 30000);  // the spike
  std::sort(times.begin(), times.end());
  SpikeRun run;
  bool at2 = false, at12 = false;
  for (size_t i = 0; i < times.size(); ++i) {
    if (!at2 && times[i] >= kT0 + 3 * 3600) run.spend_by_hour_end[0] = d.ledger().spent_today(), at2 = true;
    if (!at12 && times[i] >= kT0 + 12 * 3600) run.spend_by_hour_end[1] = d.ledger().spent_today(), at12 = true;
    DeliveryRequest r;
    r.user = "u" + std::to_string(i % 5000);
    r.time = times[i];
    Decision dec;
    EXPECT_TRUE(d.Decide(r, &dec).ok());
    for (const auto& p : dec.picks) {
      const double u = static_cast<double>(Mix64(HashCombine(i, p.campaign)) >> 11) * 0x1.0p-53;
      EXPECT_TRUE(d.RecordOutcome(dec.id, p.slot, u < ctr[p.campaign]).ok());
    }
  }
  run.final_spend = d.ledger().spent_today();
  return run;
}

TEST(Pacing, SpendStaysWithinBudgetAndSpreadsOverTheDayThroughADemandSpike) {
  // About 6000 clicks a day are on offer; the three budgets together buy about 1300 clicks.
  std::vector<Campaign> cs = {MakeCampaign("a", 1.0, BidType::kCpc, 500), MakeCampaign("b", 1.2, BidType::kCpc, 300),
                              MakeCampaign("c", 0.9, BidType::kCpc, 400)};
  const SpikeRun paced = RunSpike(true, cs);
  const SpikeRun unpaced = RunSpike(false, cs);
  for (size_t c = 0; c < cs.size(); ++c) {
    SCOPED_TRACE(cs[c].id);
    // Never more than the budget (outcomes arrive before the next decision), and the day ends
    // within 5% of it.
    EXPECT_LE(paced.final_spend[c], cs[c].daily_budget + 1e-9);
    EXPECT_GE(paced.final_spend[c], 0.95 * cs[c].daily_budget);
    // The spike does not eat the budget: by the end of hour 2 at most a quarter is spent, and
    // from then on the rest is spread evenly over the 21 hours left (9 of them by noon),
    // where without pacing the spike spends nearly all of it.
    const double b = cs[c].daily_budget, at3 = paced.spend_by_hour_end[0][c];
    EXPECT_LE(at3, 0.25 * b);
    // Tolerance: 3 standard deviations of the click count behind the spend (Poisson), plus 3%.
    const double expected = at3 + (b - at3) * 9 / 21;
    EXPECT_NEAR(paced.spend_by_hour_end[1][c], expected,
                0.03 * b + 3 * cs[c].bid * std::sqrt((expected - at3) / cs[c].bid));
    EXPECT_GE(unpaced.spend_by_hour_end[0][c], 0.85 * cs[c].daily_budget);
    EXPECT_LE(unpaced.final_spend[c], cs[c].daily_budget + 1e-9);
  }
}

TEST(DecisionLog, RoundTripsIntoLibffmTrainingLinesAndNamesBadLines) {
  std::vector<Campaign> cs = {MakeCampaign("a", 1.0, BidType::kCpc), MakeCampaign("b", 2.0, BidType::kCpc)};
  cs[1].features.push_back({2, "brand7", 0.5});
  auto users = std::make_shared<UserProfiles>();
  users->Add({"u1", {"s", "FR", {}}, {{0, "u1", 1}, {10, "age3", 1}}});
  DelivererOptions o;
  Deliverer d(cs, users, std::make_shared<FixedCtrScorer>(std::vector<double>{0.05, 0.02}), o);
  const std::string path = TempPath("decisions.jsonl");
  std::remove(path.c_str());
  DecisionLogWriter w;
  ASSERT_TRUE(w.Open(path).ok());
  std::vector<Decision> made;
  for (int i = 0; i < 6; ++i) {
    DeliveryRequest r;
    r.user = "u1";
    r.time = kT0 + i;
    r.context = {{5, "h" + std::to_string(i), 1}};
    Decision dec;
    ASSERT_TRUE(d.Decide(r, &dec).ok());
    ASSERT_TRUE(w.WriteDecision(dec, cs, Exploration::kSoftmax).ok());
    if (i != 3) ASSERT_TRUE(w.WriteOutcome(dec.id, 0, i % 2 == 0, false, r.time + 5).ok());  // decision 3: no outcome
    made.push_back(dec);
  }
  ASSERT_TRUE(w.Close().ok());
  {
    std::ofstream f(path, std::ios::app);
    f << "this is not json\n";
    f << R"({"type": "outcome", "decision": 999, "slot": 0, "click": 1})" << "\n";
    f << R"({"type": "decision", "id": 77, "time": 1, "user": "u", "cold_start": "yes", "features": [],)"
      << R"( "candidates": {"campaign": [], "pctr": [], "ecpm": [], "p": []}, "chosen": []})" << "\n";
  }
  std::vector<LoggedDecision> log;
  DecisionLogReport report;
  ASSERT_TRUE(ReadDecisionLog(path, &log, &report).ok());
  EXPECT_EQ(report.decisions, 6u);
  EXPECT_EQ(report.outcomes, 5u);
  EXPECT_EQ(report.bad_lines, 3u);
  ASSERT_EQ(report.bad.size(), 3u);
  EXPECT_NE(report.bad[0].find(path + ":12: not a JSON object"), std::string::npos) << report.bad[0];
  EXPECT_NE(report.bad[1].find(path + ":13: outcome of decision 999"), std::string::npos) << report.bad[1];
  EXPECT_NE(report.bad[2].find(path + ":14: a member of an unexpected type"), std::string::npos) << report.bad[2];
  EXPECT_EQ(report.picks_without_outcome, 1u);
  ASSERT_EQ(log.size(), 6u);
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].id, made[i].id);
    EXPECT_EQ(log[i].picks[0].campaign, cs[made[i].picks[0].campaign].id);
    EXPECT_DOUBLE_EQ(log[i].picks[0].propensity, made[i].picks[0].propensity);
    EXPECT_DOUBLE_EQ(log[i].p[0], made[i].candidates[0].probability);
  }

  const std::string train = TempPath("train.libffm");
  uint64_t examples = 0;
  ASSERT_TRUE(ExportTrainingData(log, train, &examples).ok());
  EXPECT_EQ(examples, 6u);
  std::ifstream in(train);
  auto parser = LineParser::Create(DataFormat::kLibffm);
  std::string line;
  for (size_t i = 0; std::getline(in, line); ++i) {
    Batch b;
    BadLineReason reason;
    ASSERT_EQ(parser->Parse(line, i == 0, &b, &reason), LineParser::Outcome::kExample) << line;
    EXPECT_EQ(b.labels[0], (i != 3 && i % 2 == 0) ? 1.0f : 0.0f) << line;
    const Campaign& c = cs[made[i].picks[0].campaign];
    std::vector<RawFeature> want = made[i].features;
    want.insert(want.end(), c.features.begin(), c.features.end());
    ASSERT_EQ(b.keys.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(b.keys[k], FeatureKey(want[k].field, want[k].id));
      EXPECT_EQ(b.fields[k], want[k].field);
      EXPECT_FLOAT_EQ(b.values[k], want[k].value);
    }
  }
}

TEST(OffPolicy, EstimatorsMatchAHandComputationOnAFiveLineLog) {
  // Two campaigns, five logged decisions with a logging propensity each; the target is greedy
  // on the FixedCtrScorer pCTRs (0.1 for a, 0.3 for b, same bid), so it always picks b, with
  // qhat(a) = 0.1, qhat(b) = 0.3.
  std::vector<Campaign> cs = {MakeCampaign("a", 1.0, BidType::kCpc), MakeCampaign("b", 1.0, BidType::kCpc)};
  const std::string path = TempPath("five.jsonl");
  struct Row {
    const char* chosen;
    double propensity;
    int click;
  };
  const Row rows[5] = {{"a", 0.6, 1}, {"b", 0.4, 1}, {"b", 0.5, 0}, {"a", 0.8, 0}, {"b", 0.25, 1}};
  std::string text;
  for (int i = 0; i < 5; ++i) {
    const double pb = std::string(rows[i].chosen) == "b" ? rows[i].propensity : 1 - rows[i].propensity;
    char line[1024];
    std::snprintf(line, sizeof(line),
                  R"({"type":"decision","id":%d,"time":%lld,"user":"u","features":[],"candidates":{"campaign":["a","b"],"pctr":[0,0],"ecpm":[0,0],"p":[%.17g,%.17g]},"chosen":[{"slot":0,"campaign":"%s","propensity":%.17g,"price":0,"features":[]}]})"
                  "\n",
                  i + 1, static_cast<long long>(kT0 + i), 1 - pb, pb, rows[i].chosen, rows[i].propensity);
    text += line;
    if (rows[i].click) text += R"({"type":"outcome","decision":)" + std::to_string(i + 1) + R"(,"slot":0,"click":1})" "\n";
  }
  WriteFile(path, text);
  std::vector<LoggedDecision> log;
  DecisionLogReport report;
  ASSERT_TRUE(ReadDecisionLog(path, &log, &report).ok());
  ASSERT_EQ(report.bad_lines, 0u);
  AuctionOptions greedy;
  greedy.exploration = Exploration::kGreedy;
  FixedCtrScorer scorer({0.1, 0.3});
  std::vector<OpeSample> samples;
  ASSERT_TRUE(BuildOpeSamples(log, cs, scorer, greedy, OpeReward::kClicks, &samples).ok());
  const OpeResult r = EstimatePolicyValue(samples);
  // Weights pi/mu: a rows 0 (greedy never picks a), b rows 1/0.4, 1/0.5, 1/0.25 = 2.5, 2, 4.
  // IPS = (0 + 2.5*1 + 2*0 + 0 + 4*1) / 5 = 1.3
  // SNIPS = (2.5 + 4) / (0 + 2.5 + 2 + 0 + 4) = 6.5 / 8.5
  // DR terms = 0.3 + w (r - qhat(logged)): a rows 0.3; b rows 0.3 + 2.5*0.7, 0.3 + 2*(-0.3), 0.3 + 4*0.7
  //   = 0.3, 2.05, -0.3, 0.3, 3.1 -> mean 5.45 / 5 = 1.09
  EXPECT_NEAR(r.ips.value, 1.3, 1e-12);
  EXPECT_NEAR(r.snips.value, 6.5 / 8.5, 1e-12);
  EXPECT_NEAR(r.dr.value, 1.09, 1e-12);
  // IPS interval: terms 0, 2.5, 0, 0, 4 -> sample sd; half-width 1.96 sd / sqrt(5).
  const double terms[5] = {0, 2.5, 0, 0, 4};
  double ss = 0;
  for (double t : terms) ss += (t - 1.3) * (t - 1.3);
  EXPECT_NEAR(r.ips.high - r.ips.value, 1.959963984540054 * std::sqrt(ss / 4 / 5), 1e-9);
  EXPECT_DOUBLE_EQ(r.max_weight, 4);
  EXPECT_NEAR(r.logged_value, 3.0 / 5, 1e-12);
  EXPECT_FALSE(r.has_truth);
}

TEST(OffPolicy, DoublyRobustIntervalCoversTheTrueValueInAGeneratedWorld) {
  // Logged by uniform delivery in a generated world; the new policy is softmax on eCPM with
  // the popularity prior (bid-driven), whose true click rate the world knows.
  SimWorldOptions wo;
  wo.clicks.seed = 11;
  wo.clicks.num_users = 400;
  wo.clicks.num_items = 100;
  wo.num_campaigns = 8;
  wo.arrivals = 6000;
  wo.budget_fraction = 100;  // budgets do not bind: the log is plain uniform traffic
  std::unique_ptr<SimWorld> world;
  ASSERT_TRUE(SimWorld::Create(wo, &world).ok());
  const std::string path = TempPath("world.jsonl");
  std::remove(path.c_str());
  DecisionLogWriter w;
  ASSERT_TRUE(w.Open(path).ok());
  SimPolicy logging;
  logging.name = "random";
  logging.scorer = std::make_shared<PopularityCtrScorer>();
  logging.auction.exploration = Exploration::kUniform;
  logging.log = &w;
  SimOptions so;
  so.pacing.enabled = false;
  std::vector<SimPolicyResult> results;
  ASSERT_TRUE(RunSimulation(*world, {logging}, so, &results).ok());
  ASSERT_TRUE(w.Close().ok());
  std::vector<LoggedDecision> log;
  DecisionLogReport report;
  ASSERT_TRUE(ReadDecisionLog(path, &log, &report).ok());
  ASSERT_EQ(report.bad_lines, 0u);
  ASSERT_EQ(log.size(), 6000u);
  AuctionOptions target;
  target.exploration = Exploration::kSoftmax;
  target.temperature = 0.2;
  PopularityCtrScorer prior;
  std::vector<OpeSample> samples;
  ASSERT_TRUE(BuildOpeSamples(log, world->campaigns(), prior, target, OpeReward::kClicks, &samples).ok());
  const OpeResult r = EstimatePolicyValue(samples);
  ASSERT_TRUE(r.has_truth);
  EXPECT_GE(r.true_value, r.dr.low);
  EXPECT_LE(r.true_value, r.dr.high);
  EXPECT_GE(r.true_value, r.ips.low);
  EXPECT_LE(r.true_value, r.ips.high);
  EXPECT_LT(r.dr.high - r.dr.low, 0.1);  // informative, not a vacuous interval
  // The logging policy's own logged click rate estimates its true value.
  EXPECT_NEAR(r.logged_value, r.true_logging_value, 0.03);
}

TEST(Requests, ParseRefusesUnknownMembersAndBadTypes) {
  DeliveryRequest r;
  EXPECT_TRUE(ParseDeliveryRequest(nlohmann::json::parse(R"({"user":"u","time":5,"context":[[5,"h1"]],"slots":2})"),
                                   "x:1", 0, &r).ok());
  EXPECT_EQ(r.slots, 2u);
  EXPECT_EQ(r.time, 5);
  Status st = ParseDeliveryRequest(nlohmann::json::parse(R"({"user":"u","slot":2})"), "x:2", 0, &r);
  EXPECT_NE(st.message().find("x:2: unknown member \"slot\""), std::string::npos) << st.message();
  st = ParseDeliveryRequest(nlohmann::json::parse(R"({"user":"u","context":[[5]]})"), "x:3", 0, &r);
  EXPECT_NE(st.message().find("x:3"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace embark
