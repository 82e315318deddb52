// WorkerContext: what a job's worker function is given to run with — its KV client, its
// channel to the scheduler, and where it stands among the workers and servers of the job.
//
// The job runners (runtime/runtime.h on MPI ranks, runtime/local_runner.h in one process)
// build it; the jobs (worker/trainer.h, the kvcheck and kv-bench jobs) only use it, which is
// why it lives here, below the runtime, and not beside RunJob.
//
// Thread-safety: plain pointers and values; the objects pointed to state their own contracts.
#pragma once

#include "core/app_channel.h"

namespace embark {

class KVClient;

struct WorkerContext {
  KVClient* kv;
  AppChannel* control;  // the scheduler, as far as a job is concerned
  int worker_index;
  int num_workers;
  int num_servers;
};

}  // namespace embark
