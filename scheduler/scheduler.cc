#include "scheduler/scheduler.h"

#include <glog/logging.h>

#include <chrono>
#include <sstream>
#include <thread>

namespace embark {

Scheduler::Scheduler(Transport* transport, const ClusterTable& table, const LivenessOptions& opts,
                     SchedulerApp* app)
    : transport_(transport), table_(table), opts_(opts), app_(app) {
  const double now = NowSeconds();
  last_seen_.assign(table_.size(), now);
  disconnected_at_.assign(table_.size(), 0);
  worker_done_.assign(table_.size(), false);
  shutdown_acked_.assign(table_.size(), false);
  shutdown_acked_[0] = true;
}

Status Scheduler::SendApp(int rank, uint64_t subtype, const std::string& payload) {
  MsgHeader h = MakeHeader(MsgType::kApp, 0);
  h.aux = subtype;
  return transport_->SendString(rank, h, payload);
}

Status Scheduler::BroadcastAppToWorkers(uint64_t subtype, const std::string& payload) {
  for (int w = 0; w < table_.num_workers; ++w) EMBARK_RETURN_IF_ERROR(SendApp(table_.WorkerRank(w), subtype, payload));
  return Status::OK();
}

void Scheduler::Abort(const std::string& reason, int code) {
  LOG(ERROR) << "aborting the job: " << reason;
  MsgHeader h = MakeHeader(MsgType::kAbort, 0);
  h.aux = static_cast<uint64_t>(code);
  for (int r = 1; r < table_.size(); ++r) {
    if (disconnected_at_[r] > 0) continue;
    Status st = transport_->SendString(r, h, reason);
    if (!st.ok()) LOG(WARNING) << "could not tell " << table_.Describe(r) << ": " << st.ToString();
  }
  // Give the others a moment to print the reason before the launcher tears the job down.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  DieNow("job aborted: " + reason, code);
}

void Scheduler::LoseRank(int rank, const std::string& why) {
  Abort("lost " + table_.Describe(rank) + ": " + why, kExitPeerLost);
}

int Scheduler::MembersOf(BarrierGroup group) const {
  switch (group) {
    case BarrierGroup::kWorkers: return table_.num_workers;
    case BarrierGroup::kServers: return table_.num_servers;
    case BarrierGroup::kAll: return table_.size() - 1;
  }
  return 0;
}

bool Scheduler::InGroup(int rank, BarrierGroup group) const {
  if (rank <= 0 || rank >= table_.size()) return false;
  const Role role = table_.nodes[rank].role;
  switch (group) {
    case BarrierGroup::kWorkers: return role == Role::kWorker;
    case BarrierGroup::kServers: return role == Role::kServer;
    case BarrierGroup::kAll: return true;
  }
  return false;
}

void Scheduler::HandleMessage(const Message& msg) {
  const int peer = msg.peer;
  switch (msg.type()) {
    case MsgType::kHeartbeat:
      break;
    case MsgType::kDone: {
      if (table_.nodes[peer].role != Role::kWorker || worker_done_[peer]) break;
      if (msg.header.aux != 0) {
        std::string why = msg.frames.empty() ? "no reason given" : msg.FrameString(0);
        Abort(table_.Describe(peer) + " failed: " + why, static_cast<int>(msg.header.aux));
      }
      worker_done_[peer] = true;
      ++workers_done_;
      VLOG(1) << table_.Describe(peer) << " is done (" << workers_done_ << "/" << table_.num_workers << ")";
      if (workers_done_ == table_.num_workers) BeginShutdown(app_ ? app_->OnAllWorkersDone(this) : kExitOk);
      break;
    }
    case MsgType::kShutdown:
      shutdown_acked_[peer] = true;
      break;
    case MsgType::kBarrier: {
      const uint32_t group = msg.header.table;
      if (group > static_cast<uint32_t>(BarrierGroup::kAll) || !InGroup(peer, static_cast<BarrierGroup>(group))) {
        LOG(WARNING) << "ignoring a barrier for group " << group << " from " << table_.Describe(peer);
        break;
      }
      const auto key = std::make_pair(group, msg.header.aux);
      if (++barrier_arrivals_[key] == MembersOf(static_cast<BarrierGroup>(group))) {
        barrier_arrivals_.erase(key);
        MsgHeader h = MakeHeader(MsgType::kBarrierRelease, 0);
        h.table = group;
        h.aux = msg.header.aux;
        for (int r = 1; r < table_.size(); ++r) {
          if (!InGroup(r, static_cast<BarrierGroup>(group))) continue;
          Status st = transport_->Send(r, h);
          if (!st.ok()) LOG(WARNING) << "barrier release to " << table_.Describe(r) << ": " << st.ToString();
        }
      }
      break;
    }
    case MsgType::kApp:
      if (msg.header.aux == kAppStopRequest) {
        LOG(INFO) << table_.Describe(peer) << " received SIGTERM or SIGINT and asks to stop the job";
        if (stop_requested_at_ == 0) stop_requested_at_ = NowSeconds();
        break;
      }
      if (app_) app_->OnApp(this, msg);
      break;
    default:
      LOG(WARNING) << "scheduler ignores a " << MsgTypeName(msg.type()) << " message from " << table_.Describe(peer);
  }
}

void Scheduler::BeginShutdown(int exit_code) {
  if (shutting_down_) return;
  shutting_down_ = true;
  exit_code_ = exit_code;
  for (int r = 1; r < table_.size(); ++r) {
    Status st = transport_->Send(r, MakeHeader(MsgType::kShutdown, 0));
    if (!st.ok()) LOG(WARNING) << "shutdown to " << table_.Describe(r) << ": " << st.ToString();
  }
}

void Scheduler::CheckLiveness(double now) {
  for (int r = 1; r < table_.size(); ++r) {
    if (shutdown_acked_[r]) continue;
    if (disconnected_at_[r] > 0 && disconnected_at_[r] > last_seen_[r] &&
        (now - disconnected_at_[r] > opts_.disconnect_grace_s || TerminationRequestedAt() > 0)) {
      LoseRank(r, "connection closed (the process exited or was killed)");
    }
    const double silent = now - last_seen_[r];
    if (silent > opts_.heartbeat_timeout_s) {
      std::ostringstream m;
      m << "no heartbeat for " << static_cast<int>(silent) << " s (timeout " << opts_.heartbeat_timeout_s
        << " s): the process hangs or its host is unreachable";
      LoseRank(r, m.str());
    }
  }
}

int Scheduler::Run() {
  if (app_) app_->OnStart(this);
  double next_heartbeat = 0;
  double shutdown_deadline = 0;
  double last_iteration = NowSeconds();
  while (true) {
    Message msg;
    auto res = transport_->Poll(50, &msg);
    const double now = NowSeconds();
    if (now - last_iteration > opts_.heartbeat_timeout_s / 2) {
      // This process itself was stalled (stopped, swapped out, a paused VM): the silence of
      // the others is our own, so restart their clocks instead of declaring them lost.
      LOG(WARNING) << "the scheduler was stalled for " << static_cast<int>(now - last_iteration)
                   << " s; restarting the liveness clocks of every rank";
      for (double& t : last_seen_) t = now;
    }
    last_iteration = now;
    switch (res.event) {
      case Transport::Event::kMessage:
        if (msg.peer <= 0 || msg.peer >= table_.size()) {
          LOG(WARNING) << "scheduler ignores a " << MsgTypeName(msg.type()) << " message from rank " << msg.peer
                       << ", which is not part of this job";
          break;
        }
        last_seen_[msg.peer] = now;
        disconnected_at_[msg.peer] = 0;  // it reconnected: a transient disconnect is no loss
        HandleMessage(msg);
        break;
      case Transport::Event::kPeerDisconnected:
        if (res.peer > 0 && res.peer < table_.size() && !shutdown_acked_[res.peer]) disconnected_at_[res.peer] = now;
        break;
      case Transport::Event::kBadMessage:
        LOG(WARNING) << "bad message from rank " << res.peer << ": " << res.status.ToString();
        break;
      case Transport::Event::kTimeout:
        break;
    }
    if (now >= next_heartbeat) {
      next_heartbeat = now + opts_.heartbeat_interval_s;
      for (int r = 1; r < table_.size(); ++r) {
        if (shutdown_acked_[r] || disconnected_at_[r] > 0) continue;
        Status st = transport_->Send(r, MakeHeader(MsgType::kHeartbeat, 0));
        if (!st.ok()) LOG(WARNING) << "heartbeat to " << table_.Describe(r) << ": " << st.ToString();
      }
    }
    CheckLiveness(now);
    double term_at = TerminationRequestedAt();
    if (term_at == 0 || (stop_requested_at_ > 0 && stop_requested_at_ < term_at)) term_at = stop_requested_at_;
    if (term_at > 0 && opts_.termination_grace_s > 0 && !termination_handled_ && !shutting_down_) {
      // The app may end the job cleanly (e.g. a final checkpoint); a rank lost meanwhile is
      // still reported as such by the liveness checks.
      termination_handled_ = app_ != nullptr && app_->OnTerminationRequested(this);
    }
    if (termination_handled_) {
      if (!shutting_down_ && now - term_at > opts_.termination_grace_s) {
        Abort("received SIGTERM or SIGINT, and the job did not stop cleanly within " +
                  std::to_string(static_cast<int>(opts_.termination_grace_s)) + " s", kExitAborted);
      }
    } else if (term_at > 0 && now - term_at > 0.5) {
      Abort("the launcher stopped the job (SIGTERM or SIGINT) and no rank was seen to fail", kExitAborted);
    }
    if (app_ && !shutting_down_) app_->OnTick(this);
    if (shutting_down_) {
      if (shutdown_deadline == 0) shutdown_deadline = now + opts_.heartbeat_timeout_s;
      bool all = true;
      for (int r = 1; r < table_.size(); ++r) all = all && shutdown_acked_[r];
      if (all) return exit_code_;
      if (now > shutdown_deadline) {
        std::ostringstream m;
        m << "shutdown not acknowledged within " << opts_.heartbeat_timeout_s << " s by:";
        for (int r = 1; r < table_.size(); ++r)
          if (!shutdown_acked_[r]) m << " " << table_.Describe(r);
        Abort(m.str(), kExitAborted);
      }
    }
  }
}

}  // namespace embark
