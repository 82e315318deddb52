// Runtime: runs one embark job on the ranks of an MPI launch.
//
// A job (bench, train, a check) supplies its tables, the scheduler-side app and the worker's
// main function; the runtime does everything else identically for every job: MPI start-up,
// bootstrap, the role of each rank (scheduler, server, worker), liveness, the clean shutdown
// handshake, and exit codes (core/liveness.h).
//
// Thread-safety: RunJob is called once from main().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/control_plane.h"
#include "core/liveness.h"
#include "ps/bounded_memory.h"
#include "ps/table_config.h"
#include "scheduler/scheduler.h"
#include "worker/worker_context.h"

namespace embark {

struct JobSpec {
  std::string name;
  std::vector<TableConfig> tables;
  // Rank 0 only: the job's scheduler-side logic (may be null).
  std::function<std::unique_ptr<SchedulerApp>()> make_scheduler_app;
  // Workers: the job itself. A non-OK Status fails the whole job with its message.
  std::function<Status(WorkerContext&)> worker_main;
};

struct RuntimeOptions {
  int num_servers = 1;
  int server_threads = 1;
  size_t server_key_cache = 64;
  size_t max_message_bytes = 1 << 20;  // KV client: split larger per-server requests (0 = never)
  // The most bytes one message may carry or ask for (every socket's ZMQ_MAXMSGSIZE derives
  // from it; servers refuse larger requests, clients split below it).
  uint64_t max_request_bytes = kDefaultMaxRequestBytes;
  bool insecure = false;  // --insecure: no CURVE (plain TCP between ranks)
  std::string curve_key_file;  // --curve_key_file: the job's key pair from this file, not through MPI
  // Workers share memory with servers on their host (see worker/shm_channel.h): one segment
  // of shm_bytes per such server.
  bool shm = true;
  uint64_t shm_bytes = 64 << 20;
  uint32_t num_vshards = 4096;
  uint64_t seed = 1;
  std::string bind_ip;
  LivenessOptions liveness;
  uint64_t config_hash = 0;
  BoundedMemoryOptions server_memory;  // servers: admission, TTL, budget (ps/bounded_memory.h)
  // Testing only: "RANK:POINT" makes rank RANK fail at POINT (no_register: never registers).
  std::string fault;
};

// Runs the job on this rank; returns the process exit code. MPI must not be initialised yet.
int RunJob(int* argc, char*** argv, const RuntimeOptions& opts, const JobSpec& job);

}  // namespace embark
