// Single-process training: the `train` job without a cluster.
//
// One process holds a server (the same ps/server.cc code, rows and optimizers) and one
// worker (the same Trainer); requests go from the KV client to the server by function call
// instead of ZeroMQ, and the worker talks to the same scheduler-side TrainApp directly.
// It is the no-network baseline of the benchmarks and the reference that distributed runs are
// compared with: with one worker and the same flags, the cluster must produce the same model.
//
// Thread-safety: RunLocalTrain is called once from main().
#pragma once

#include "models/model.h"
#include "worker/train_options.h"

namespace embark {

// Trains and evaluates as `embark train` would on 1 server + 1 worker; returns an exit code.
int RunLocalTrain(const TrainOptions& opts, const Model& model, uint64_t seed);

}  // namespace embark
