// embark: one binary for every role and command.
//
//   mpirun -np N embark <command> [--flags]     (or launch/local.sh ... -- <command> [--flags])
//
// Commands: bench (push/pull benchmark), kvcheck (self-verifying cluster check),
//           gen (write synthetic e-commerce data; runs without MPI).
// Rank 0 is the scheduler, ranks 1..num_servers the servers, the rest workers.
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bench/kv_bench.h"
#include "core/hash.h"
#include "core/runtime.h"
#include "tools/kv_check.h"

// Cluster flags (every command that runs a cluster).
DEFINE_int32(num_servers, 1, "number of server ranks (ranks 1..num_servers); the rest after rank 0 are workers");
DEFINE_int32(server_threads, 1, "threads per server, each owning a sub-shard of the rows");
DEFINE_uint32(num_vshards, 4096, "virtual shards keys are hashed to (a power of two; fixed for a job's life)");
DEFINE_uint64(seed, 1, "job seed: row initialisation, data shuffling");
DEFINE_string(bind_ip, "", "IPv4 address to bind and advertise (default: the address the host name resolves to)");
DEFINE_double(heartbeat_interval, 0.5, "seconds between heartbeats");
DEFINE_double(heartbeat_timeout, 10, "seconds of silence after which a rank is declared lost");
DEFINE_double(startup_timeout, 60, "seconds for every rank to register at start-up");
DEFINE_double(request_timeout, 60, "seconds a pull/push may wait for its reply");
DEFINE_string(fault, "", "testing only: RANK:POINT injects a failure (no_register)");

// bench
DEFINE_uint32(val_len, 1, "bench: floats per key");
DEFINE_uint32(batch_keys, 10000, "bench: keys per request");
DEFINE_double(seconds, 2.0, "bench: minimum seconds per phase");
DEFINE_uint64(key_space, 1000000, "bench: number of distinct keys");
DEFINE_string(phases, "push,pull,push+pull,fused", "bench: phases to run, comma-separated");
DEFINE_string(json_out, "", "bench: write results as a JSON array to this file");

// kvcheck
DEFINE_int32(check_keys, 20000, "kvcheck: keys per table");
DEFINE_int32(check_rounds, 3, "kvcheck: push rounds per worker");
DEFINE_string(digest_out, "", "kvcheck: write a digest of the initial rows to this file");

namespace {

const char kUsage[] =
    "usage: embark <command> [--flags]\n"
    "commands (run under mpirun or launch/local.sh):\n"
    "  bench     push/pull throughput benchmark (ps-lite workload)\n"
    "  kvcheck   self-verifying cluster check (pull = push, exact concurrent updates)\n"
    "run 'embark <command> --help' for the flags.";

// Every rank must run the same job; a hash of the command line proves it at registration.
// --bind_ip is per host by nature, so it is left out.
uint64_t HashArgs(int argc, char** argv) {
  uint64_t h = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--bind_ip", 9) == 0) continue;
    h = embark::HashCombine(h, embark::HashBytes(argv[i]));
  }
  return h;
}

// Log lines carry the rank, so the interleaved output of a cluster stays readable.
void PrefixWithRank(std::ostream& s, const google::LogMessageInfo& l, void*) {
  static const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%c%02d:%02d:%02d.%03d r%s", l.severity[0], l.time.hour(), l.time.min(),
                l.time.sec(), l.time.usec() / 1000, rank ? rank : "?");
  s << buf << " " << l.filename << ":" << l.line_number << "]";
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "%s\n", kUsage);
    return embark::kExitUsage;
  }
  const std::string command = argv[1];
  const uint64_t config_hash = HashArgs(argc, argv);
  // gflags sees the command as the program name, so flags are parsed after it.
  int fargc = argc - 1;
  char** fargv = argv + 1;
  gflags::ParseCommandLineFlags(&fargc, &fargv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0], &PrefixWithRank, nullptr);
  if (fargc > 1) {
    std::fprintf(stderr, "embark %s: unexpected argument '%s' (flags are --name=value)\n", command.c_str(), fargv[1]);
    return embark::kExitUsage;
  }

  embark::RuntimeOptions ropts;
  ropts.num_servers = FLAGS_num_servers;
  ropts.server_threads = FLAGS_server_threads;
  ropts.num_vshards = FLAGS_num_vshards;
  ropts.seed = FLAGS_seed;
  ropts.bind_ip = FLAGS_bind_ip;
  ropts.liveness.heartbeat_interval_s = FLAGS_heartbeat_interval;
  ropts.liveness.heartbeat_timeout_s = FLAGS_heartbeat_timeout;
  ropts.liveness.startup_timeout_s = FLAGS_startup_timeout;
  ropts.liveness.request_timeout_s = FLAGS_request_timeout;
  ropts.config_hash = config_hash;
  ropts.fault = FLAGS_fault;
  if (FLAGS_server_threads < 1 || FLAGS_server_threads > 64) {
    std::fprintf(stderr, "--server_threads must be in [1, 64], got %d\n", FLAGS_server_threads);
    return embark::kExitUsage;
  }
  if (FLAGS_heartbeat_interval <= 0 || FLAGS_heartbeat_timeout <= 2 * FLAGS_heartbeat_interval) {
    std::fprintf(stderr, "--heartbeat_timeout must exceed twice --heartbeat_interval (> 0)\n");
    return embark::kExitUsage;
  }

  embark::JobSpec job;
  if (command == "bench") {
    embark::KvBenchOptions o;
    o.val_len = FLAGS_val_len;
    o.batch_keys = FLAGS_batch_keys;
    o.seconds = FLAGS_seconds;
    o.key_space = FLAGS_key_space;
    o.phases = FLAGS_phases;
    o.json_out = FLAGS_json_out;
    o.seed = FLAGS_seed;
    if (o.val_len == 0 || o.batch_keys == 0 || o.key_space == 0) {
      std::fprintf(stderr, "bench: --val_len, --batch_keys and --key_space must be positive\n");
      return embark::kExitUsage;
    }
    job = embark::MakeKvBenchJob(o);
  } else if (command == "kvcheck") {
    embark::KvCheckOptions o;
    o.seed = FLAGS_seed;
    o.keys = FLAGS_check_keys;
    o.rounds = FLAGS_check_rounds;
    o.digest_out = FLAGS_digest_out;
    job = embark::MakeKvCheckJob(o);
  } else {
    std::fprintf(stderr, "embark: unknown command '%s'\n%s\n", command.c_str(), kUsage);
    return embark::kExitUsage;
  }
  return embark::RunJob(&argc, &argv, ropts, job);
}
