// The push/pull benchmark: ps-lite's workload (../shared/docs/peers.md) on embark.
//
// Key space K = 1e6, key i = i * floor(2^64 / K). Each worker pre-generates 8 batches of B
// sorted keys (consecutive entries of a per-worker random permutation of [0, K)) and values
// uniform(-0.01, 0.01), L floats per key. Warm-up (untimed): push every batch, pull one.
// Timed phases, each at least `seconds` and 20 operations per worker, one request outstanding
// per worker, workers starting each phase together (barrier):
//   push, pull, push+pull (one push then one pull of the same keys: a key counts once),
//   fused (one round trip pushing values and returning the updated rows).
// Figures: keys/s = keys summed over workers / the slowest worker's seconds;
// value MB/s = keys/s * 4L, doubled for push+pull and fused (values travel both ways).
//
// Output contract (scripts depend on it): --json_out gets a JSON array with one object per
// phase: {"phase": ..., "keys_per_sec": ..., "value_mb_per_sec": ...} plus descriptive fields.
#pragma once

#include <string>

#include "core/runtime.h"

namespace embark {

struct KvBenchOptions {
  uint32_t val_len = 1;
  uint32_t batch_keys = 10000;
  double seconds = 2.0;
  uint64_t key_space = 1000000;
  int min_ops = 20;
  std::string phases = "push,pull,push+pull,fused";
  std::string json_out;
  uint64_t seed = 1;
};

JobSpec MakeKvBenchJob(const KvBenchOptions& opts);

}  // namespace embark
