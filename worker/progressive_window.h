// ProgressiveWindow: rolling progressive-validation metrics of online training. Each event is
// scored by the model as it stands before the event is trained on (the trainer calls Add()
// with the predictions of a batch, then trains the batch), so the metric is an honest
// out-of-sample estimate on a stream without a held-out set.
//
// A window closes after `events` events or `seconds` of wall time (--window=10000 or
// --window=1m, ParseWindow). Its line (JSON, one object, no newline) holds the window's index,
// its events, the events so far, events/s over the window, logloss and AUC (classification; AUC
// from a 4096-bin histogram, see models/metrics.h) or RMSE and MAE (ratings), and the lag
// figures the caller passes in.
//
// Thread-safety: none; one trainer thread uses it.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "models/metrics.h"

namespace embark {

struct WindowSpec {
  uint64_t events = 0;  // close after this many events (0: by time)
  double seconds = 0;   // or after this many seconds
};
// "10000" (events) or a duration "30s", "1m", "2h" -> spec; anything else is InvalidArgument.
Status ParseWindow(const std::string& text, WindowSpec* out);

class ProgressiveWindow {
 public:
  // `regression`: ratings (RMSE/MAE) instead of clicks (logloss/AUC). `worker` names the lines.
  ProgressiveWindow(WindowSpec spec, bool regression, int worker, double now_s);

  void Add(const float* predictions, const float* labels, size_t n);
  // True once the open window is complete at `now_s`.
  bool Due(double now_s) const;
  // Closes the open window (if it holds any event) into *line and opens the next.
  // `lag_events`: events (Kafka) or bytes (dir://) known but not read yet, -1 if unknown;
  // `event_lag_s`: now minus the newest event's time, negative if unknown.
  bool Close(double now_s, int64_t lag_events, double event_lag_s, std::string* line);

 private:
  const WindowSpec spec_;
  const bool regression_;
  const int worker_;
  uint64_t index_ = 0;
  uint64_t total_ = 0;
  double start_s_;
  double job_start_s_;
  uint64_t events_ = 0;
  LogLossMetric logloss_;
  AucHistogram auc_{12};
  RegressionMetrics regression_metrics_;
};

}  // namespace embark
