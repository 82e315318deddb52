// kvcheck: a self-verifying job for the integration tests and for checking a cluster install.
//
// Every worker pulls a fixed key set (sequential ids, random 64-bit keys, 0 and UINT64_MAX)
// from three tables and checks, failing the job with the first mismatch:
//   * "init" (8 floats, uniform init): pulled initial rows equal InitRowWeights computed
//     locally, i.e. they do not depend on which server holds a key; worker 0 writes a digest
//     of them to --digest_out so runs with different server counts can be compared;
//   * "exact" (4 floats, zero init, SGD lr 1): every worker pushes integer gradients (with
//     duplicate keys inside a request, several requests in flight) for several rounds; after a
//     barrier every worker pulls exactly minus the sum of all workers' gradients;
//   * "dense" (a dense table of 40000 floats in blocks): likewise for dense blocks;
//   * fused push+pull returns the rows after the push.
#pragma once

#include <string>

#include "runtime/runtime.h"

namespace embark {

struct KvCheckOptions {
  uint64_t seed = 1;
  int rounds = 3;
  int keys = 20000;
  std::string digest_out;
};

JobSpec MakeKvCheckJob(const KvCheckOptions& opts);

}  // namespace embark
