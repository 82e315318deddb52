// A LIBMF-style single-process baseline for MF training throughput: ratings loaded into
// memory, ids mapped to dense indices, plain SGD on one rating at a time over dense factor
// arrays (no network, no hashing on the hot path, one thread). Benchmarks report embark's
// ratings/s as a ratio to this.
//
// Thread-safety: RunMfSgdBaseline is called once from main().
#pragma once

#include <string>

namespace embark {

struct MfSgdBaselineOptions {
  std::string train;
  std::string test;
  int dim = 64;
  int epochs = 10;
  float lr = 0.01f;
  float reg = 0.05f;
  uint64_t seed = 1;
};

// Prints "baseline: N ratings/s over E epochs, test RMSE R" and returns an exit code.
int RunMfSgdBaseline(const MfSgdBaselineOptions& opts);

}  // namespace embark
