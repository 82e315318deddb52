#include "runtime/runtime.h"

#include <malloc.h>
#include <unistd.h>
#include <mpi.h>

#include <glog/logging.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/bootstrap.h"
#include "partition/shard_map.h"
#include "ps/placement.h"
#include "ps/server.h"
#include "worker/kv_client.h"

namespace embark {

namespace {

int RunScheduler(Transport* transport, const ClusterTable& table, const RuntimeOptions& opts,
                 const JobSpec& job) {
  std::ostringstream m;
  m << job.name << ": " << table.size() << " ranks (" << table.num_servers << " servers, "
    << table.num_workers << " workers):";
  for (int r = 0; r < table.size(); ++r) m << "\n  " << table.Describe(r);
  LOG(INFO) << m.str();
  std::unique_ptr<SchedulerApp> app = job.make_scheduler_app ? job.make_scheduler_app() : nullptr;
  Scheduler scheduler(transport, table, opts.liveness, app.get());
  return scheduler.Run();
}

int RunServerOrWorker(int rank, Transport* transport, const ClusterTable& table,
                      const RuntimeOptions& opts, const JobSpec& job) {
  ShardMap shards;
  Status st = ShardMap::Decode(table.shard_map, &shards);
  if (!st.ok()) DieNow("rank " + std::to_string(rank) + ": bad shard map from the scheduler: " + st.ToString(), kExitStartup);
  Placement placement(shards, job.tables);
  ControlPlane control(transport, table, rank, opts.liveness);
  control.Start();
  const NodeInfo& me = table.nodes[rank];
  if (me.role == Role::kServer) {
    ServerOptions sopts;
    sopts.threads = opts.server_threads;
    sopts.seed = opts.seed;
    sopts.key_set_cache = opts.server_key_cache;
    sopts.memory = opts.server_memory;
    sopts.max_request_bytes = opts.max_request_bytes;
    Server server(transport, &control, placement, me.role_index, sopts);
    st = server.Run();
    if (!st.ok()) DieNow(table.Describe(rank) + " failed: " + st.ToString(), kExitAborted);
    control.Stop();
    return kExitOk;
  }
  KVClient kv(transport, &control, placement, opts.liveness.request_timeout_s, opts.max_message_bytes,
              opts.max_request_bytes);
  if (opts.shm) kv.EnableSharedMemory(opts.shm_bytes);
  kv.Start();
  WorkerContext ctx{&kv, &control, me.role_index, table.num_workers, table.num_servers};
  st = job.worker_main(ctx);
  if (!st.ok()) {
    // Tell the scheduler why, so it can stop every rank with this reason; then leave.
    // Bad input (a malformed line is Corruption, a missing file NotFound/IoError) is the
    // user's to fix: exit code 1. Timeouts and lost peers are the job's: 5.
    const int code = st.code() == Status::Code::kInvalidArgument || st.code() == Status::Code::kIoError ||
                             st.code() == Status::Code::kNotFound || st.code() == Status::Code::kCorruption
                         ? kExitUsage
                         : kExitAborted;
    kv.CancelAll();
    MsgHeader h = MakeHeader(MsgType::kDone, rank);
    h.aux = static_cast<uint64_t>(code);
    (void)transport->SendString(0, h, st.ToString());
    // Wait for the scheduler's abort (which ends this process from the receiving thread).
    std::this_thread::sleep_for(std::chrono::seconds(2));
    DieNow(table.Describe(rank) + " failed: " + st.ToString(), code);
  }
  control.FinishAndWaitShutdown(kExitOk);
  control.AckShutdown();
  kv.Stop();
  control.Stop();
  return kExitOk;
}

}  // namespace

int RunJob(int* argc, char*** argv, const RuntimeOptions& opts, const JobSpec& job) {
  // Message buffers of megabytes are allocated and freed for every request (by ZeroMQ and by
  // the server's replies). Above glibc's default 128 KiB threshold each would be a fresh mmap
  // whose pages fault in on first touch, which costs more than the copy itself on this kind
  // of VM; keeping them on the heap lets freed buffers be reused warm.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // MPI_Init waits for every rank of the job to start; a rank that never starts would make it
  // wait forever, so a watchdog bounds it with the start-up timeout.
  std::atomic<bool> mpi_ready{false};
  std::thread watchdog([&] {
    const double deadline = NowSeconds() + opts.liveness.startup_timeout_s;
    while (!mpi_ready.load() && NowSeconds() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!mpi_ready.load()) {
      const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
      const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
      char host[256] = {0};
      gethostname(host, sizeof(host) - 1);
      DieNow(std::string("rank ") + (r ? r : "?") + " of " + (n ? n : "?") + " (" + host + " pid " +
                 std::to_string(getpid()) + "): MPI_Init did not complete within " +
                 std::to_string(static_cast<int>(opts.liveness.startup_timeout_s)) +
                 " s: some rank of the job did not start (MPI waits for all of them)",
             kExitStartup);
    }
  });
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  mpi_ready = true;
  watchdog.join();
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  InstallTerminationHandler();

  Transport transport(rank, static_cast<int>(opts.liveness.request_timeout_s * 1000), opts.max_request_bytes);
  BootstrapOptions bopts;
  bopts.bind_ip = opts.bind_ip;
  bopts.num_servers = opts.num_servers;
  bopts.liveness = opts.liveness;
  bopts.config_hash = opts.config_hash;
  bopts.secure = !opts.insecure;
  bopts.curve_key_file = opts.curve_key_file;
  if (rank == 0) {
    Status shape = CheckClusterShape(size, opts.num_servers);
    if (!shape.ok()) DieNow(shape.message(), kExitUsage);
    bopts.shard_map = ShardMap::Balanced(opts.num_servers, opts.num_vshards).Encode();
  }
  if (opts.fault == std::to_string(rank) + ":no_register") {
    LOG(WARNING) << "fault injection: rank " << rank << " does not register";
    bopts.skip_register = true;
  }
  ClusterTable table;
  Status st = Bootstrap(bopts, rank, size, &transport, &table);
  if (!st.ok()) {
    DieNow(DescribeRankByPosition(rank, opts.num_servers) + ": start-up failed: " + st.ToString(),
           st.code() == Status::Code::kInvalidArgument ? kExitUsage : kExitStartup);
  }
  const int code = rank == 0 ? RunScheduler(&transport, table, opts, job)
                             : RunServerOrWorker(rank, &transport, table, opts, job);
  // Clean end: let queued messages (the shutdown acknowledgement) leave before closing.
  transport.Close(1000);
  if (code != kExitOk) DieNow(job.name + " failed with exit code " + std::to_string(code), code);
  // MPI_Finalize waits for every rank; if one never gets there (stopped, stuck), end anyway
  // so mpirun reports it instead of waiting forever.
  std::thread finalize_watchdog([limit = 2 * opts.liveness.heartbeat_timeout_s, &mpi_ready] {
    const double deadline = NowSeconds() + limit;
    while (mpi_ready.load() && NowSeconds() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (mpi_ready.load()) DieNow("MPI_Finalize did not complete within " + std::to_string(static_cast<int>(limit)) +
                                 " s (another rank is stuck); exiting without it", kExitAborted);
  });
  MPI_Finalize();
  mpi_ready = false;
  finalize_watchdog.join();
  return code;
}

}  // namespace embark
