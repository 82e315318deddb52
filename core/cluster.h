// The cluster's membership: which rank plays which role, where its inbox listens, and the
// job-wide tables every process must agree on (the key -> server shard map).
//
// Ranks are assigned by position: rank 0 is the scheduler, ranks 1..S the servers, the rest
// the workers. The scheduler builds the ClusterTable from the registrations it receives at
// start-up and sends it to every rank; nothing in it changes during a run.
//
// Thread-safety: plain values; the table is immutable once bootstrap returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "core/status.h"

namespace embark {

enum class Role : uint8_t { kScheduler = 0, kServer = 1, kWorker = 2 };
const char* RoleName(Role role);

struct NodeInfo {
  int rank = -1;
  Role role = Role::kWorker;
  int role_index = 0;       // server index or worker index (0-based); 0 for the scheduler
  std::string endpoint;     // tcp://ip:port of the rank's inbox
  std::string host;
  int pid = 0;
  uint64_t config_hash = 0; // hash of the job flags: every rank must run the same job
  std::string boot_id;      // the kernel's boot id: with `host`, tells ranks sharing memory
  std::string net_ns;       // the rank's network namespace ("net:[4026531840]"): ranks in
                            // different namespaces are different hosts (simulated hosts)

  template <class Archive>
  void serialize(Archive& ar) {
    uint8_t r = static_cast<uint8_t>(role);
    ar(rank, r, role_index, endpoint, host, pid, config_hash, boot_id, net_ns);
    role = static_cast<Role>(r);
  }
};

struct ClusterTable {
  int num_servers = 0;
  int num_workers = 0;
  std::vector<NodeInfo> nodes;  // indexed by rank
  std::string shard_map;        // ShardMap::Encode() of the scheduler's key -> server map

  template <class Archive>
  void serialize(Archive& ar) { ar(num_servers, num_workers, nodes, shard_map); }

  int size() const { return static_cast<int>(nodes.size()); }
  int ServerRank(int server_index) const { return 1 + server_index; }
  int WorkerRank(int worker_index) const { return 1 + num_servers + worker_index; }
  // "rank 3 (worker 1, vm pid 4242, tcp://127.0.0.1:40001)"
  std::string Describe(int rank) const;
};

// True if two ranks run on the same host (same host name, boot id and network namespace), so
// they can share memory. False when either boot id is unknown. Network namespaces share the
// host name and boot id, so one machine running ranks in several namespaces (the multi-host
// harness, containers) is several hosts here: those ranks talk over TCP.
bool SameHost(const NodeInfo& a, const NodeInfo& b);
// The role and role index of `rank` in a job of `size` ranks with `num_servers` servers.
Role RoleOfRank(int rank, int num_servers, int* role_index = nullptr);
// Checks that `size` ranks can hold a scheduler, num_servers servers and at least one worker.
Status CheckClusterShape(int size, int num_servers);
// "rank 3 (worker 1)" from the positional rule, usable before any table exists.
std::string DescribeRankByPosition(int rank, int num_servers);

std::string SerializeTable(const ClusterTable& table);
Status DeserializeTable(const std::string& bytes, ClusterTable* table);
std::string SerializeNodeInfo(const NodeInfo& info);
Status DeserializeNodeInfo(const std::string& bytes, NodeInfo* info);

}  // namespace embark
