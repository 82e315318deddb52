// PlotMetrics (`embark plot`): draws a --metrics_out file as a PNG or SVG learning curve
// through gnuplot.
//
//  * Online training (lines with "window"): the progressive-validation metric of every
//    worker's windows against seconds since the stream started -- logloss (or RMSE) on the
//    left axis, AUC on the right -- one curve per worker and metric.
//  * Epoch training (lines with "epoch"): train_loss and the test metrics (test_logloss,
//    test_auc, test_rmse, test_recall@K, ...) against the epoch.
// The format comes from the output name (.png or .svg). A line that is not JSON is an error
// naming FILE:LINE; a file without a metric to draw is an error too. gnuplot's own failure is
// reported with its exit status.
//
// Thread-safety: a plain function; it writes temporary files beside the output.
#pragma once

#include <string>

#include "core/status.h"

namespace embark {

struct PlotOptions {
  std::string metrics;  // the metrics JSONL file
  std::string out;      // PATH.png or PATH.svg
  std::string title;    // default: the metrics file's name
};

Status PlotMetrics(const PlotOptions& options);

}  // namespace embark
