#include "worker/progressive_window.h"

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace embark {

Status ParseWindow(const std::string& text, WindowSpec* out) {
  *out = WindowSpec{};
  const std::string usage = "--window=" + text + ": use a count of events (10000) or a duration (30s, 1m, 2h)";
  if (text.empty() || text.find_first_not_of("0123456789") == 0) return Status::InvalidArgument(usage);
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  const std::string unit(end);
  if (n == 0) return Status::InvalidArgument(usage + " (it must be positive)");
  if (unit.empty()) {
    out->events = n;
  } else if (unit == "s") {
    out->seconds = static_cast<double>(n);
  } else if (unit == "m") {
    out->seconds = 60.0 * static_cast<double>(n);
  } else if (unit == "h") {
    out->seconds = 3600.0 * static_cast<double>(n);
  } else {
    return Status::InvalidArgument(usage);
  }
  return Status::OK();
}

ProgressiveWindow::ProgressiveWindow(WindowSpec spec, bool regression, int worker, double now_s)
    : spec_(spec), regression_(regression), worker_(worker), start_s_(now_s), job_start_s_(now_s) {}

void ProgressiveWindow::Add(const float* predictions, const float* labels, size_t n) {
  if (regression_) {
    regression_metrics_.Add(predictions, labels, n);
  } else {
    logloss_.Add(predictions, labels, n);
    auc_.Add(predictions, labels, n);
  }
  events_ += n;
  total_ += n;
}

bool ProgressiveWindow::Due(double now_s) const {
  if (spec_.events > 0) return events_ >= spec_.events;
  return now_s - start_s_ >= spec_.seconds;
}

bool ProgressiveWindow::Close(double now_s, int64_t lag_events, double event_lag_s, std::string* line) {
  if (events_ == 0) {
    start_s_ = now_s;
    return false;
  }
  nlohmann::json j;
  j["window"] = index_;
  j["worker"] = worker_;
  j["seconds"] = now_s - job_start_s_;
  j["events"] = events_;
  j["events_total"] = total_;
  const double span = now_s - start_s_;
  j["events_per_s"] = span > 0 ? static_cast<double>(events_) / span : 0.0;
  // NaN is not JSON: a metric without a value (a window of one class has no AUC) is null.
  auto put = [&](const char* name, double v) { j[name] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  if (regression_) {
    put("rmse", regression_metrics_.Rmse());
    put("mae", regression_metrics_.Mae());
  } else {
    put("logloss", logloss_.Mean());
    put("auc", auc_.Auc());
  }
  j["lag"] = lag_events;
  if (event_lag_s >= 0) j["event_lag_s"] = event_lag_s;
  *line = j.dump();
  ++index_;
  events_ = 0;
  start_s_ = now_s;
  logloss_ = LogLossMetric();
  auc_.Clear();
  regression_metrics_ = RegressionMetrics();
  return true;
}

}  // namespace embark
