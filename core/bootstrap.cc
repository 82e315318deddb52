#include "core/bootstrap.h"

#include "core/app_channel.h"
#include "core/shm_segment.h"

#include <arpa/inet.h>
#include <mpi.h>
#include <netdb.h>
#include <unistd.h>

#include <glog/logging.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

namespace embark {

namespace {

constexpr int kEndpointBytes = 256;

std::string HostName() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

// Rank 0's `value` (the scheduler's endpoint, the job's keys) reaches everyone through
// MPI_Ibcast, polled with sleeps and a deadline.
Status ShareFromRankZero(int rank, double timeout_s, const char* what, std::string* endpoint) {
  char buf[kEndpointBytes] = {0};
  if (rank == 0) std::snprintf(buf, sizeof(buf), "%s", endpoint->c_str());
  MPI_Request req;
  MPI_Ibcast(buf, kEndpointBytes, MPI_CHAR, 0, MPI_COMM_WORLD, &req);
  const double deadline = NowSeconds() + timeout_s;
  int done = 0;
  while (true) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (NowSeconds() > deadline) {
      // The request stays pending; the process is about to exit, so that is harmless.
      return Status::Timeout(std::string("did not receive ") + what + " from rank 0 within " +
                             std::to_string(static_cast<int>(timeout_s)) + " s (is rank 0 running?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  *endpoint = std::string(buf, strnlen(buf, sizeof(buf)));
  return Status::OK();
}

Status RunSchedulerRegistration(const BootstrapOptions& opts, int size, Transport* t,
                                ClusterTable* table) {
  std::vector<bool> registered(size, false);
  registered[0] = true;
  int missing = size - 1;
  const double deadline = NowSeconds() + opts.liveness.startup_timeout_s;
  while (missing > 0) {
    if (TerminationRequestedAt() > 0) return Status::Aborted("received SIGTERM or SIGINT during start-up");
    double left = deadline - NowSeconds();
    if (left <= 0) {
      std::ostringstream m;
      m << "start-up timeout after " << opts.liveness.startup_timeout_s << " s: " << missing
        << " of " << size - 1 << " ranks did not register with the scheduler at "
        << table->nodes[0].endpoint << ":";
      for (int r = 1; r < size; ++r)
        if (!registered[r]) m << " " << DescribeRankByPosition(r, opts.num_servers);
      m << ". Registered:";
      for (int r = 1; r < size; ++r)
        if (registered[r]) m << " rank " << r << " at " << table->nodes[r].endpoint << ";";
      return Status::Timeout(m.str());
    }
    Message msg;
    auto res = t->Poll(static_cast<int>(std::min(left, 0.2) * 1000) + 1, &msg);
    if (res.event == Transport::Event::kBadMessage) {
      LOG(WARNING) << "ignoring a bad message during start-up from rank " << res.peer << ": " << res.status.ToString();
      continue;
    }
    if (res.event != Transport::Event::kMessage || msg.type() != MsgType::kRegister) continue;
    NodeInfo info;
    if (msg.frames.size() != 1 || !DeserializeNodeInfo(msg.FrameString(0), &info).ok() ||
        info.rank != msg.peer || info.rank <= 0 || info.rank >= size) {
      LOG(WARNING) << "ignoring a malformed registration from rank " << msg.peer;
      continue;
    }
    if (info.config_hash != opts.config_hash) {
      return Status::InvalidArgument("rank " + std::to_string(info.rank) + " on " + info.host +
                                     " runs a different job (its flags differ from rank 0's); "
                                     "every rank must get the same command line");
    }
    if (!registered[info.rank]) {
      registered[info.rank] = true;
      --missing;
    }
    table->nodes[info.rank] = info;
  }
  table->shard_map = opts.shard_map;
  const std::string bytes = SerializeTable(*table);
  for (int r = 1; r < size; ++r) {
    EMBARK_RETURN_IF_ERROR(t->Connect(r, table->nodes[r].endpoint));
    EMBARK_RETURN_IF_ERROR(t->SendString(r, MakeHeader(MsgType::kNodeTable, 0), bytes));
  }
  return Status::OK();
}

Status RegisterWithScheduler(const BootstrapOptions& opts, const NodeInfo& me,
                             const std::string& scheduler_endpoint, Transport* t, ClusterTable* table) {
  EMBARK_RETURN_IF_ERROR(t->Connect(0, scheduler_endpoint));
  if (!opts.skip_register) {
    EMBARK_RETURN_IF_ERROR(t->SendString(0, MakeHeader(MsgType::kRegister, me.rank), SerializeNodeInfo(me)));
  }
  const double deadline = NowSeconds() + opts.liveness.startup_timeout_s;
  while (true) {
    if (TerminationRequestedAt() > 0) return Status::Aborted("received SIGTERM or SIGINT during start-up");
    double left = deadline - NowSeconds();
    if (left <= 0) {
      return Status::Timeout("rank " + std::to_string(me.rank) + " registered at the scheduler " +
                             scheduler_endpoint + " but got no node table within " +
                             std::to_string(static_cast<int>(opts.liveness.startup_timeout_s)) +
                             " s (some other rank did not start; see the scheduler's log)");
    }
    Message msg;
    auto res = t->Poll(static_cast<int>(std::min(left, 0.2) * 1000) + 1, &msg);
    if (res.event == Transport::Event::kPeerDisconnected && res.peer == 0) {
      // The scheduler may not have bound yet when we connected; only a later loss matters,
      // and the deadline covers it.
      continue;
    }
    if (res.event != Transport::Event::kMessage) continue;
    if (msg.type() == MsgType::kAbort) {
      return Status::Aborted("the scheduler aborted start-up: " + (msg.frames.empty() ? std::string() : msg.FrameString(0)));
    }
    if (msg.type() != MsgType::kNodeTable || msg.peer != 0 || msg.frames.size() != 1) continue;
    return DeserializeTable(msg.FrameString(0), table);
  }
}

// The last step of start-up: every rank reports ready (it has the table and its connections)
// and waits for the scheduler's go. Until then no rank sends data, so a worker's first pull can
// never reach a server that is still waiting for its own table (and would discard it).
Status StartTogether(const BootstrapOptions& opts, int rank, int size, Transport* t, const ClusterTable& table) {
  MsgHeader ready = MakeHeader(MsgType::kBarrier, rank);
  ready.table = static_cast<uint32_t>(BarrierGroup::kAll);
  ready.aux = 0;  // the start barrier; ControlPlane's barriers count from 1
  const double deadline = NowSeconds() + opts.liveness.startup_timeout_s;
  if (rank != 0) EMBARK_RETURN_IF_ERROR(t->Send(0, ready));
  std::vector<bool> arrived(size, false);
  int missing = rank == 0 ? size - 1 : 1;
  while (missing > 0) {
    if (TerminationRequestedAt() > 0) return Status::Aborted("received SIGTERM or SIGINT during start-up");
    const double left = deadline - NowSeconds();
    if (left <= 0) {
      std::ostringstream m;
      if (rank == 0) {
        m << "start-up timeout: ranks that got the node table but did not report ready:";
        for (int r = 1; r < size; ++r)
          if (!arrived[r]) m << " " << table.Describe(r);
      } else {
        m << "the scheduler did not start the job within " << opts.liveness.startup_timeout_s << " s";
      }
      return Status::Timeout(m.str());
    }
    Message msg;
    auto res = t->Poll(static_cast<int>(std::min(left, 0.2) * 1000) + 1, &msg);
    if (res.event != Transport::Event::kMessage) continue;
    if (rank == 0 && msg.type() == MsgType::kBarrier && msg.header.aux == 0 && msg.peer > 0 &&
        msg.peer < size && !arrived[msg.peer]) {
      arrived[msg.peer] = true;
      --missing;
    } else if (rank != 0 && msg.peer == 0 && msg.type() == MsgType::kBarrierRelease && msg.header.aux == 0) {
      --missing;
    } else if (rank != 0 && msg.peer == 0 && msg.type() == MsgType::kAbort) {
      return Status::Aborted("the scheduler aborted start-up: " + (msg.frames.empty() ? std::string() : msg.FrameString(0)));
    }
  }
  if (rank == 0) {
    MsgHeader go = MakeHeader(MsgType::kBarrierRelease, 0);
    go.table = static_cast<uint32_t>(BarrierGroup::kAll);
    go.aux = 0;
    for (int r = 1; r < size; ++r) EMBARK_RETURN_IF_ERROR(t->Send(r, go));
  }
  return Status::OK();
}

}  // namespace

std::string DefaultBindIp() {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  std::string ip = "127.0.0.1";
  if (getaddrinfo(HostName().c_str(), nullptr, &hints, &res) == 0 && res != nullptr) {
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf))) ip = buf;
    freeaddrinfo(res);
  }
  return ip;
}

Status Bootstrap(const BootstrapOptions& opts, int rank, int size, Transport* transport,
                 ClusterTable* table) {
  EMBARK_RETURN_IF_ERROR(CheckClusterShape(size, opts.num_servers));
  const std::string ip = opts.bind_ip.empty() ? DefaultBindIp() : opts.bind_ip;
  if (opts.secure && !opts.curve_key_file.empty()) {
    CurveKeys keys;
    EMBARK_RETURN_IF_ERROR(ReadCurveKeyFile(opts.curve_key_file, &keys));
    EMBARK_RETURN_IF_ERROR(transport->EnableCurve(keys.public_key, keys));
  } else if (opts.secure) {
    CurveKeys keys;
    std::string shared;
    if (rank == 0) {
      EMBARK_RETURN_IF_ERROR(Transport::GenerateCurveKeys(&keys));
      shared = keys.public_key + " " + keys.secret_key;
    }
    EMBARK_RETURN_IF_ERROR(ShareFromRankZero(rank, opts.liveness.startup_timeout_s, "the job's CURVE keys", &shared));
    if (shared.size() != 81) return Status::Internal("malformed CURVE keys from rank 0");
    keys.public_key = shared.substr(0, 40);
    keys.secret_key = shared.substr(41, 40);
    EMBARK_RETURN_IF_ERROR(transport->EnableCurve(keys.public_key, keys));
  }
  std::string endpoint;
  EMBARK_RETURN_IF_ERROR(transport->Bind(ip, 0, &endpoint));

  NodeInfo me;
  me.rank = rank;
  me.role = RoleOfRank(rank, opts.num_servers, &me.role_index);
  me.endpoint = endpoint;
  me.host = HostName();
  me.pid = static_cast<int>(getpid());
  me.boot_id = ReadBootId();
  me.net_ns = ReadNetNamespace();
  me.config_hash = opts.config_hash;

  std::string scheduler_endpoint = endpoint;
  EMBARK_RETURN_IF_ERROR(ShareFromRankZero(rank, opts.liveness.startup_timeout_s, "the scheduler's endpoint", &scheduler_endpoint));

  table->num_servers = opts.num_servers;
  table->num_workers = size - 1 - opts.num_servers;
  if (rank == 0) {
    table->nodes.assign(size, NodeInfo{});
    table->nodes[0] = me;
    EMBARK_RETURN_IF_ERROR(RunSchedulerRegistration(opts, size, transport, table));
  } else {
    EMBARK_RETURN_IF_ERROR(RegisterWithScheduler(opts, me, scheduler_endpoint, transport, table));
  }
  // Data-plane connections: workers send requests to servers, servers reply to workers.
  if (me.role == Role::kWorker) {
    for (int s = 0; s < table->num_servers; ++s)
      EMBARK_RETURN_IF_ERROR(transport->Connect(table->ServerRank(s), table->nodes[table->ServerRank(s)].endpoint));
  } else if (me.role == Role::kServer) {
    for (int w = 0; w < table->num_workers; ++w)
      EMBARK_RETURN_IF_ERROR(transport->Connect(table->WorkerRank(w), table->nodes[table->WorkerRank(w)].endpoint));
  }
  return StartTogether(opts, rank, size, transport, *table);
}

}  // namespace embark
