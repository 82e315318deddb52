#include "delivery/decision_log.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace embark {

using nlohmann::json;

DecisionLogWriter::~DecisionLogWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

Status DecisionLogWriter::Open(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  path_ = path;
  file_ = std::fopen(path.c_str(), "ab");
  if (file_ == nullptr) return Status::IoError("cannot open decision log " + path + ": " + std::strerror(errno));
  return Status::OK();
}

Status DecisionLogWriter::WriteLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_ == nullptr) return Status::Internal("decision log not open");
  // Flushed per line: a served log is read (and tailed) while the server runs, and a crash
  // loses at most the line being written.
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF ||
      std::fflush(file_) != 0)
    return Status::IoError("cannot write decision log " + path_ + ": " + std::strerror(errno));
  return Status::OK();
}

Status DecisionLogWriter::WriteDecision(const Decision& d, const std::vector<Campaign>& campaigns, Exploration policy,
                                        const std::vector<double>* true_ctr) {
  json j;
  j["type"] = "decision";
  j["id"] = d.id;
  j["time"] = d.time;
  j["user"] = d.user;
  j["cold_start"] = d.cold_start;
  j["policy"] = ExplorationName(policy);
  j["features"] = RawFeaturesToJson(d.features);
  json ids = json::array(), pctr = json::array(), ecpm = json::array(), p = json::array();
  for (const ScoredCandidate& c : d.candidates) {
    ids.push_back(campaigns[c.campaign].id);
    pctr.push_back(c.pctr);
    ecpm.push_back(c.ecpm);
    p.push_back(c.probability);
  }
  j["candidates"] = {{"campaign", ids}, {"pctr", pctr}, {"ecpm", ecpm}, {"p", p}};
  if (true_ctr != nullptr) j["true_ctr"] = *true_ctr;
  json chosen = json::array();
  for (const DeliveryPick& pick : d.picks) {
    const Campaign& c = campaigns[pick.campaign];
    chosen.push_back({{"slot", pick.slot},
                      {"campaign", c.id},
                      {"item", c.item},
                      {"bid_type", c.bid_type == BidType::kCpc ? "cpc" : "cpm"},
                      {"bid", c.bid},
                      {"propensity", pick.propensity},
                      {"price", pick.price},
                      {"features", RawFeaturesToJson(c.features)}});
  }
  j["chosen"] = chosen;
  return WriteLine(j.dump());
}

Status DecisionLogWriter::WriteOutcome(uint64_t decision_id, uint32_t slot, bool click, bool conversion, int64_t time) {
  json j = {{"type", "outcome"}, {"decision", decision_id}, {"slot", slot},
            {"click", click ? 1 : 0}, {"conversion", conversion ? 1 : 0}, {"time", time}};
  return WriteLine(j.dump());
}

Status DecisionLogWriter::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_ == nullptr) return Status::OK();
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) return Status::IoError("cannot close decision log " + path_ + ": " + std::strerror(errno));
  return Status::OK();
}

namespace {

// Reads numbers of an array member; false when it is not an array of numbers.
bool Numbers(const json& j, std::vector<double>* out) {
  if (!j.is_array()) return false;
  out->clear();
  for (const json& x : j) {
    if (!x.is_number()) return false;
    out->push_back(x.get<double>());
  }
  return true;
}

// Parses a decision line; returns "" or the reason it is bad.
std::string ParseDecision(const json& j, LoggedDecision* d) {
  if (!j.contains("id") || !j["id"].is_number_unsigned()) return "decision without an unsigned \"id\"";
  d->id = j["id"].get<uint64_t>();
  if (!j.contains("time") || !j["time"].is_number_integer()) return "decision without an integer \"time\"";
  d->time = j["time"].get<int64_t>();
  if (!j.contains("user") || !j["user"].is_string()) return "decision without a string \"user\"";
  d->user = j["user"].get<std::string>();
  d->cold_start = j.value("cold_start", false);
  d->policy = j.value("policy", "");
  if (!j.contains("features")) return "decision without \"features\"";
  Status st = ParseRawFeatures(j["features"], "features", &d->features);
  if (!st.ok()) return st.message();
  if (!j.contains("candidates") || !j["candidates"].is_object()) return "decision without a \"candidates\" object";
  const json& c = j["candidates"];
  if (!c.contains("campaign")) return "candidates without \"campaign\"";
  st = ParseStringList(c["campaign"], "candidates.campaign", &d->candidates);
  if (!st.ok()) return st.message();
  if (!c.contains("pctr") || !Numbers(c["pctr"], &d->pctr) || !c.contains("ecpm") || !Numbers(c["ecpm"], &d->ecpm) ||
      !c.contains("p") || !Numbers(c["p"], &d->p))
    return "candidates need number arrays \"pctr\", \"ecpm\" and \"p\"";
  const size_t n = d->candidates.size();
  if (d->pctr.size() != n || d->ecpm.size() != n || d->p.size() != n) return "candidate arrays of different lengths";
  if (j.contains("true_ctr") && (!Numbers(j["true_ctr"], &d->true_ctr) || d->true_ctr.size() != n))
    return "\"true_ctr\" must be one number per candidate";
  if (!j.contains("chosen") || !j["chosen"].is_array()) return "decision without a \"chosen\" array";
  for (const json& k : j["chosen"]) {
    LoggedPick p;
    if (!k.is_object() || !k.contains("slot") || !k["slot"].is_number_unsigned() || !k.contains("campaign") ||
        !k["campaign"].is_string() || !k.contains("propensity") || !k["propensity"].is_number() ||
        !k.contains("price") || !k["price"].is_number() || !k.contains("features"))
      return "a chosen entry needs \"slot\", \"campaign\", \"propensity\", \"price\" and \"features\"";
    p.slot = k["slot"].get<uint32_t>();
    p.campaign = k["campaign"].get<std::string>();
    p.propensity = k["propensity"].get<double>();
    if (!(p.propensity > 0 && p.propensity <= 1)) return "a propensity outside (0, 1]";
    p.price = k["price"].get<double>();
    p.bid = k.value("bid", 0.0);
    p.bid_type = k.value("bid_type", "");
    st = ParseRawFeatures(k["features"], "chosen.features", &p.features);
    if (!st.ok()) return st.message();
    if (p.slot != d->picks.size()) return "chosen slots out of order";
    d->picks.push_back(std::move(p));
  }
  return "";
}

}  // namespace

Status ReadDecisionLog(const std::string& paths, std::vector<LoggedDecision>* out, DecisionLogReport* report) {
  out->clear();
  *report = DecisionLogReport();
  std::unordered_map<uint64_t, size_t> index;  // decision id -> position in *out
  auto bad = [&](const std::string& where, const std::string& why) {
    ++report->bad_lines;
    if (report->bad.size() < 100) report->bad.push_back(where + ": " + why);
  };
  std::stringstream list(paths);
  for (std::string path; std::getline(list, path, ',');) {
    if (path.empty()) continue;
    std::ifstream in(path);
    if (!in) return Status::IoError("cannot open decision log " + path);
    std::string line;
    for (uint64_t number = 1; std::getline(in, line); ++number) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ++report->lines;
      const std::string where = path + ":" + std::to_string(number);
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        bad(where, "not a JSON object");
        continue;
      }
      const std::string type = j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : "";
      // Members are type-checked before they are read; the catch is the net under that, so a
      // line with a member of an unexpected type is a named bad line, never a crash.
      try {
        if (type == "decision") {
          LoggedDecision d;
          const std::string why = ParseDecision(j, &d);
          if (!why.empty()) {
            bad(where, why);
            continue;
          }
          if (index.count(d.id)) {
            bad(where, "a second decision with id " + std::to_string(d.id));
            continue;
          }
          d.source = where;
          index[d.id] = out->size();
          out->push_back(std::move(d));
          ++report->decisions;
        } else if (type == "outcome") {
          if (!j.contains("decision") || !j["decision"].is_number_unsigned() || !j.contains("slot") ||
              !j["slot"].is_number_unsigned() || !j.contains("click") || !j["click"].is_number_integer()) {
            bad(where, "an outcome needs unsigned \"decision\" and \"slot\" and an integer \"click\"");
            continue;
          }
          auto it = index.find(j["decision"].get<uint64_t>());
          if (it == index.end()) {
            bad(where, "outcome of decision " + std::to_string(j["decision"].get<uint64_t>()) + " that no earlier line holds");
            continue;
          }
          LoggedDecision& d = (*out)[it->second];
          const uint32_t slot = j["slot"].get<uint32_t>();
          if (slot >= d.picks.size()) {
            bad(where, "outcome of slot " + std::to_string(slot) + " that decision " + std::to_string(d.id) + " did not fill");
            continue;
          }
          if (d.picks[slot].click >= 0) {
            bad(where, "a second outcome of decision " + std::to_string(d.id) + " slot " + std::to_string(slot));
            continue;
          }
          const int64_t click = j["click"].get<int64_t>();
          if (click != 0 && click != 1) {
            bad(where, "click must be 0 or 1");
            continue;
          }
          d.picks[slot].click = static_cast<int>(click);
          d.picks[slot].conversion = j.value("conversion", 0) ? 1 : 0;
          ++report->outcomes;
        } else {
          bad(where, "\"type\" must be \"decision\" or \"outcome\"");
        }
      } catch (const json::exception& e) {
        bad(where, std::string("a member of an unexpected type: ") + e.what());
      }
    }
    if (in.bad()) return Status::IoError("cannot read decision log " + path);
  }
  for (const LoggedDecision& d : *out)
    for (const LoggedPick& p : d.picks) report->picks_without_outcome += p.click < 0 ? 1 : 0;
  return Status::OK();
}

namespace {
bool LibffmSafe(const std::string& id) {
  if (id.empty()) return false;
  for (char ch : id)
    if (ch == ':' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') return false;
  return true;
}
}  // namespace

Status ExportTrainingData(const std::vector<LoggedDecision>& log, const std::string& out_path, uint64_t* examples) {
  std::ofstream out(out_path, std::ios::trunc);
  if (!out) return Status::IoError("cannot open " + out_path + " for writing");
  *examples = 0;
  std::string line;
  for (const LoggedDecision& d : log) {
    for (const LoggedPick& p : d.picks) {
      line.assign(p.click == 1 ? "1" : "0");
      for (const std::vector<RawFeature>* list : {&d.features, &p.features}) {
        for (const RawFeature& f : *list) {
          if (!LibffmSafe(f.id))
            return Status::InvalidArgument(d.source + ": feature id \"" + f.id +
                                           "\" cannot be written as libffm (empty, whitespace or ':')");
          line += ' ' + std::to_string(f.field) + ':' + f.id + ':';
          char value[32];
          std::snprintf(value, sizeof(value), "%.9g", f.value);
          line += value;
        }
      }
      out << line << '\n';
      ++*examples;
    }
  }
  out.close();
  if (!out) return Status::IoError("cannot write " + out_path);
  return Status::OK();
}

}  // namespace embark
