// The push/pull benchmark: ps-lite's workload (../shared/docs/peers.md) on embark.
//
// Key space K = 1e6, key i = i * floor(2^64 / K). A batch is B consecutive entries of a
// per-worker random permutation of [0, K), sorted, so B distinct keys; values uniform(-0.01,
// 0.01), L floats per key. Every batch is generated before the timing starts.
//
// Default (rotating_batches = 0): every timed operation sends a key set the server has not
// seen recently, as in training (new keys every batch). Each worker pre-generates
// FreshBatchCount() batches (more than the server's key-set cache can hold, so its LRU never
// hits across operations; the permutation is drawn again whenever it runs out) and cycles
// through them. Warm-up (untimed): push the whole key space once, then pull and push-pull a
// few batches. Within a push+pull step the pull reuses the push's key set, as a training step
// (pull, then push of the same batch) does.
// rotating_batches = N > 0: ps-lite's original workload, N pre-generated batches reused in
// turn (warm-up: push each once); with N = 8 every request after the first round hits the
// server's key-set cache, which flatters the figures against training.
//
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

#include "runtime/runtime.h"

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
  int rotating_batches = 0;       // 0: fresh key set per operation; N: cycle N batches
  size_t server_key_cache = 64;   // the servers' --server_key_cache, to size the fresh pool
};

// Batches per worker in the fresh-key-set mode.
size_t FreshBatchCount(const KvBenchOptions& opts);

JobSpec MakeKvBenchJob(const KvBenchOptions& opts);

}  // namespace embark
