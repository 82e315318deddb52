// Decision log: one JSON line per delivery decision and one per outcome, appended as they
// happen, and read back -- joined -- for training and off-policy evaluation.
//
// Lines (JSON Lines, one object per line; written with nlohmann-json):
//   {"type": "decision", "id": 7, "time": 1767225600, "user": "u1", "cold_start": false,
//    "policy": "softmax",
//    "features": [[0, "u1"], [5, "h13"]],                        user + context, as scored
//    "candidates": {"campaign": ["c1", "c2"], "pctr": [...], "ecpm": [...], "p": [...]},
//                                                                p: P(slot 0 = candidate)
//    "true_ctr": [...],                                          simulator only: the world's
//                                                                click probability per candidate
//    "chosen": [{"slot": 0, "campaign": "c2", "item": "i9", "bid_type": "cpc", "bid": 1.2,
//                "propensity": 0.41, "price": 0.8, "features": [[1, "i9"], ...]}]}
//   {"type": "outcome", "decision": 7, "slot": 0, "click": 1, "conversion": 0, "time": ...}
// A chosen campaign's features are copied into the log, so an impression and its outcome
// make a training example without the campaigns file: label = click, features = the
// decision's features followed by the chosen campaign's (ExportTrainingData writes them as
// libffm, the format every CTR trainer reads). An impression without an outcome line is an
// impression that was not clicked.
//
// Reading never drops a line silently: a line that is not JSON, misses a member, or an outcome
// of a decision the log does not hold (or a second outcome of one pick) is counted as bad and
// named "FILE:LINE: reason" in the report.
//
// Thread-safety: DecisionLogWriter's methods may be called from any threads (one lock); the
// reader functions are reentrant.
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/auction.h"
#include "delivery/deliverer.h"
#include "delivery/raw_feature.h"

namespace embark {

class DecisionLogWriter {
 public:
  DecisionLogWriter() = default;
  ~DecisionLogWriter();
  DecisionLogWriter(const DecisionLogWriter&) = delete;
  DecisionLogWriter& operator=(const DecisionLogWriter&) = delete;

  // Opens `path` for appending (created if absent).
  Status Open(const std::string& path);
  // `true_ctr` (optional, one per candidate) is the simulator's ground truth.
  Status WriteDecision(const Decision& d, const std::vector<Campaign>& campaigns, Exploration policy,
                       const std::vector<double>* true_ctr = nullptr);
  Status WriteOutcome(uint64_t decision_id, uint32_t slot, bool click, bool conversion, int64_t time);
  Status Close();

 private:
  Status WriteLine(const std::string& line);
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  std::string path_;
};

struct LoggedPick {
  uint32_t slot = 0;
  std::string campaign;
  double propensity = 0;
  double price = 0;
  double bid = 0;
  std::string bid_type;
  std::vector<RawFeature> features;
  int click = -1;  // -1: no outcome line (read as no click)
  int conversion = 0;
};

struct LoggedDecision {
  uint64_t id = 0;
  int64_t time = 0;
  std::string user;
  bool cold_start = false;
  std::string policy;
  std::vector<RawFeature> features;
  std::vector<std::string> candidates;
  std::vector<double> pctr, ecpm, p;
  std::vector<double> true_ctr;  // empty unless the simulator wrote it
  std::vector<LoggedPick> picks;
  std::string source;            // "FILE:LINE" of the decision line
};

struct DecisionLogReport {
  uint64_t lines = 0;       // non-blank lines read
  uint64_t decisions = 0;
  uint64_t outcomes = 0;
  uint64_t bad_lines = 0;
  std::vector<std::string> bad;  // "FILE:LINE: reason", the first 100
  uint64_t picks_without_outcome = 0;
};

// Reads and joins a decision log (several files: comma-separated). IoError only when a file
// cannot be read; bad lines go to the report.
Status ReadDecisionLog(const std::string& paths, std::vector<LoggedDecision>* out, DecisionLogReport* report);

// Writes every logged impression as a libffm training line ("click field:id:value ...");
// *examples gets the count. InvalidArgument (naming the decision's line) for an id the libffm
// format cannot hold (whitespace or ':').
Status ExportTrainingData(const std::vector<LoggedDecision>& log, const std::string& out_path, uint64_t* examples);

}  // namespace embark
