#include "core/cluster.h"

#include <sstream>

#include <cereal/archives/binary.hpp>

#include "core/bounded_archive.h"

namespace embark {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kScheduler: return "scheduler";
    case Role::kServer: return "server";
    case Role::kWorker: return "worker";
  }
  return "unknown";
}

bool SameHost(const NodeInfo& a, const NodeInfo& b) {
  return !a.boot_id.empty() && a.boot_id == b.boot_id && a.host == b.host && a.net_ns == b.net_ns;
}

Role RoleOfRank(int rank, int num_servers, int* role_index) {
  Role role;
  int index;
  if (rank == 0) {
    role = Role::kScheduler;
    index = 0;
  } else if (rank <= num_servers) {
    role = Role::kServer;
    index = rank - 1;
  } else {
    role = Role::kWorker;
    index = rank - 1 - num_servers;
  }
  if (role_index) *role_index = index;
  return role;
}

Status CheckClusterShape(int size, int num_servers) {
  if (num_servers < 1) return Status::InvalidArgument("--num_servers must be at least 1, got " + std::to_string(num_servers));
  if (size < num_servers + 2) {
    std::ostringstream m;
    m << "the job has " << size << " ranks but needs at least " << num_servers + 2
      << " (1 scheduler + " << num_servers << " servers + at least 1 worker); "
      << "raise mpirun -np or lower --num_servers";
    return Status::InvalidArgument(m.str());
  }
  return Status::OK();
}

std::string DescribeRankByPosition(int rank, int num_servers) {
  int index = 0;
  Role role = RoleOfRank(rank, num_servers, &index);
  std::ostringstream m;
  m << "rank " << rank << " (" << RoleName(role);
  if (role != Role::kScheduler) m << " " << index;
  m << ")";
  return m.str();
}

std::string ClusterTable::Describe(int rank) const {
  if (rank < 0 || rank >= size()) return "rank " + std::to_string(rank) + " (not in the job)";
  const NodeInfo& n = nodes[rank];
  std::ostringstream m;
  m << "rank " << rank << " (" << RoleName(n.role);
  if (n.role != Role::kScheduler) m << " " << n.role_index;
  m << ", " << n.host << " pid " << n.pid << ", " << n.endpoint << ")";
  return m.str();
}

template <class T>
static std::string ToBytes(const T& value) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(value);
  }
  return os.str();
}

// These bytes come from the network: BoundedInputArchive checks every length prefix against
// the bytes left before anything is allocated.
template <class T>
static Status FromBytes(const std::string& bytes, T* value, const char* what) {
  std::string error;
  if (!DecodeBounded(bytes, value, &error)) return Status::Corruption(std::string("cannot decode ") + what + ": " + error);
  return Status::OK();
}

std::string SerializeTable(const ClusterTable& table) { return ToBytes(table); }
Status DeserializeTable(const std::string& bytes, ClusterTable* table) {
  EMBARK_RETURN_IF_ERROR(FromBytes(bytes, table, "node table"));
  // Counts from the wire: negative ones are refused, and the sum is taken in 64 bits (a sum of
  // two hostile ints overflowed, and could wrap around to the real size).
  if (table->num_servers < 0 || table->num_workers < 0 ||
      int64_t{1} + table->num_servers + table->num_workers != table->size())
    return Status::Corruption("node table size does not match its server and worker counts");
  return Status::OK();
}
std::string SerializeNodeInfo(const NodeInfo& info) { return ToBytes(info); }
Status DeserializeNodeInfo(const std::string& bytes, NodeInfo* info) { return FromBytes(bytes, info, "registration"); }

}  // namespace embark
