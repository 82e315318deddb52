#include "worker/checkpoint_interval.h"

#include <cctype>

namespace embark {

Status ParseCheckpointInterval(const std::string& text, CheckpointInterval* out) {
  *out = CheckpointInterval();
  if (text.empty()) return Status::OK();
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("--checkpoint_every=" + text + ": " + why +
                                   "; use a positive number with a unit: 1epoch, 2epochs, 5000steps, 30s, 10m, 1h");
  };
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (n > (UINT64_MAX - 9) / 10) return bad("number too large");
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) return bad("no number");
  if (n == 0) return bad("the number must be positive");
  const std::string unit = text.substr(i);
  uint64_t seconds_per_unit = 0;
  if (unit == "epoch" || unit == "epochs") {
    out->unit = CheckpointInterval::Unit::kEpochs;
  } else if (unit == "step" || unit == "steps") {
    out->unit = CheckpointInterval::Unit::kSteps;
  } else if (unit == "s") {
    seconds_per_unit = 1;
  } else if (unit == "m") {
    seconds_per_unit = 60;
  } else if (unit == "h") {
    seconds_per_unit = 3600;
  } else {
    return bad(unit.empty() ? "no unit" : "unknown unit '" + unit + "'");
  }
  if (seconds_per_unit > 0) {
    if (n > UINT64_MAX / seconds_per_unit) return bad("number too large");
    out->unit = CheckpointInterval::Unit::kSeconds;
    n *= seconds_per_unit;
  }
  if (out->unit == CheckpointInterval::Unit::kEpochs && n > 1000000) return bad("too many epochs");
  out->count = n;
  return Status::OK();
}

}  // namespace embark
