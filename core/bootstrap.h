// Bootstrap: turns a set of MPI ranks into a connected embark cluster.
//
//   0. unless --insecure, rank 0 generates the job's CURVE key pair and broadcasts it over
//      MPI (never over ZeroMQ), or every rank reads it from --curve_key_file; every socket
//      then uses it (core/transport.h);
//   1. every rank binds its ZeroMQ inbox;
//   2. rank 0 (the scheduler) publishes its endpoint with a non-blocking MPI broadcast
//      (polled with sleeps: a blocking MPI wait would spin a whole core);
//   3. every other rank registers over ZeroMQ (rank, role, endpoint, host, pid, a hash of its
//      job flags);
//   4. the scheduler checks that all ranks registered before the start-up timeout (naming
//      those that did not) and run the same job, then sends everyone the ClusterTable;
//   5. servers and workers connect to the peers they exchange data with.
//
// After this, MPI is not used again until the final MPI_Finalize.
//
// Thread-safety: call once, from the main thread, before any other thread uses `transport`.
#pragma once

#include <string>

#include "core/cluster.h"
#include "core/liveness.h"
#include "core/transport.h"

namespace embark {

struct BootstrapOptions {
  std::string bind_ip;          // empty: the address the host name resolves to
  int num_servers = 1;
  LivenessOptions liveness;
  uint64_t config_hash = 0;     // must be equal on all ranks
  std::string shard_map;        // rank 0 only: encoded key -> server map to distribute
  bool skip_register = false;   // fault injection for tests: behave as an unreachable rank
  // CURVE on every socket with a key pair rank 0 generates and hands to every rank through
  // MPI (false: --insecure, plain TCP as before).
  bool secure = true;
  // With secure: every rank reads the key pair from this file (ReadCurveKeyFile) instead of
  // rank 0 generating one and sending it through MPI.
  std::string curve_key_file;
};

Status Bootstrap(const BootstrapOptions& opts, int rank, int size, Transport* transport,
                 ClusterTable* table);

// The IPv4 address to advertise when --bind_ip is not given.
std::string DefaultBindIp();

}  // namespace embark
