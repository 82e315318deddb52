#include "core/control_plane.h"

#include <glog/logging.h>

#include <chrono>
#include <sstream>

namespace embark {

ControlPlane::ControlPlane(Transport* transport, const ClusterTable& table, int rank,
                           const LivenessOptions& opts)
    : transport_(transport), table_(table), rank_(rank), opts_(opts) {
  double now = NowSeconds();
  last_progress_ = now;
  last_scheduler_contact_ = now;
}

ControlPlane::~ControlPlane() { Stop(); }

void ControlPlane::Start() { heartbeat_thread_ = std::thread([this] { HeartbeatLoop(); }); }

void ControlPlane::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

template <class Pred>
bool ControlPlane::WaitUntil(std::unique_lock<std::mutex>& lock, double deadline, Pred pred) {
  while (!pred()) {
    double left = deadline - NowSeconds();
    if (left <= 0) return false;
    cv_.wait_for(lock, std::chrono::duration<double>(std::min(left, 0.1)));
  }
  return true;
}

bool ControlPlane::Handle(const Message& msg) {
  switch (msg.type()) {
    case MsgType::kHeartbeat: case MsgType::kAbort: case MsgType::kShutdown:
    case MsgType::kBarrierRelease: case MsgType::kApp:
      if (msg.peer != 0) {
        // Only the scheduler steers a rank; a control message from anyone else is dropped.
        LOG(WARNING) << "ignoring a " << MsgTypeName(msg.type()) << " message from rank " << msg.peer
                     << " (control messages come from the scheduler only)";
        return true;
      }
      last_scheduler_contact_.store(NowSeconds(), std::memory_order_relaxed);
      scheduler_disconnected_at_.store(0);  // it is reachable again
      break;
    default:
      return false;
  }
  switch (msg.type()) {
    case MsgType::kHeartbeat:
      return true;
    case MsgType::kAbort: {
      std::string reason = msg.frames.empty() ? "no reason given" : msg.FrameString(0);
      DieNow(table_.Describe(rank_) + " stops: the job was aborted: " + reason,
             static_cast<int>(msg.header.aux ? msg.header.aux : kExitAborted));
    }
    case MsgType::kShutdown: {
      std::lock_guard<std::mutex> lock(mu_);
      shutdown_ = true;
      cv_.notify_all();
      return true;
    }
    case MsgType::kBarrierRelease: {
      std::lock_guard<std::mutex> lock(mu_);
      uint64_t& released = barrier_released_[msg.header.table];
      released = std::max(released, msg.header.aux);
      cv_.notify_all();
      return true;
    }
    case MsgType::kApp: {
      std::lock_guard<std::mutex> lock(mu_);
      app_inbox_[msg.header.aux].push_back(msg.frames.empty() ? std::string() : msg.FrameString(0));
      cv_.notify_all();
      return true;
    }
    default:
      return false;
  }
}

void ControlPlane::OnPeerDisconnected(int peer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return;
  if (peer == 0) {
    double expected = 0;
    scheduler_disconnected_at_.compare_exchange_strong(expected, NowSeconds());
  }
  if (!disconnected_peers_.empty()) disconnected_peers_ += "; ";
  disconnected_peers_ += table_.Describe(peer);
}

Status ControlPlane::Barrier(BarrierGroup group, double timeout_s) {
  const uint32_t g = static_cast<uint32_t>(group);
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = ++barrier_next_[g];
  }
  MsgHeader h = MakeHeader(MsgType::kBarrier, rank_);
  h.table = g;
  h.aux = seq;
  EMBARK_RETURN_IF_ERROR(transport_->Send(0, h));
  std::unique_lock<std::mutex> lock(mu_);
  if (!WaitUntil(lock, NowSeconds() + timeout_s, [&] { return barrier_released_[g] >= seq || stop_; })) {
    return Status::Timeout("barrier " + std::to_string(seq) + " not released by the scheduler within " +
                           std::to_string(timeout_s) + " s");
  }
  return Status::OK();
}

Status ControlPlane::SendToScheduler(uint64_t subtype, const std::string& payload) {
  MsgHeader h = MakeHeader(MsgType::kApp, rank_);
  h.aux = subtype;
  return transport_->SendString(0, h, payload);
}

Status ControlPlane::WaitApp(uint64_t subtype, std::string* payload, double timeout_s) {
  std::unique_lock<std::mutex> lock(mu_);
  auto& queue = app_inbox_[subtype];
  if (!WaitUntil(lock, NowSeconds() + timeout_s, [&] { return !queue.empty() || stop_; }) || queue.empty()) {
    return Status::Timeout("no message of kind " + std::to_string(subtype) + " from the scheduler within " +
                           std::to_string(timeout_s) + " s");
  }
  *payload = std::move(queue.front());
  queue.pop_front();
  return Status::OK();
}

Status ControlPlane::FinishAndWaitShutdown(int exit_code) {
  MsgHeader h = MakeHeader(MsgType::kDone, rank_);
  h.aux = static_cast<uint64_t>(exit_code);
  EMBARK_RETURN_IF_ERROR(transport_->Send(0, h));
  // Other workers may still be busy, so there is no fixed deadline here; the wait is bounded by
  // the scheduler's liveness instead (the heartbeat thread ends the process if it is lost).
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_ && !stop_) cv_.wait_for(lock, std::chrono::milliseconds(100));
  return Status::OK();
}

bool ControlPlane::shutdown_requested() const {
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(mu_));
  return shutdown_;
}

void ControlPlane::AckShutdown() {
  Status st = transport_->Send(0, MakeHeader(MsgType::kShutdown, rank_));
  if (!st.ok()) LOG(WARNING) << "shutdown acknowledgement to the scheduler failed: " << st.ToString();
}

void ControlPlane::HeartbeatLoop() {
  const auto interval = std::chrono::duration<double>(opts_.heartbeat_interval_s);
  std::unique_lock<std::mutex> lock(mu_);
  double last_iteration = NowSeconds();
  while (!stop_) {
    cv_.wait_for(lock, interval);
    if (stop_) break;
    const bool shutting_down = shutdown_;
    const std::string disconnected = disconnected_peers_;
    lock.unlock();
    const double now = NowSeconds();
    if (now - last_iteration > opts_.heartbeat_timeout_s / 2) {
      // This process was stalled, not the scheduler: restart the clock instead of blaming it.
      LOG(WARNING) << table_.Describe(rank_) << " was stalled for " << static_cast<int>(now - last_iteration)
                   << " s; restarting its liveness clock";
      last_scheduler_contact_.store(now);
    }
    last_iteration = now;

    const double term_at = TerminationRequestedAt();
    const double grace = opts_.termination_grace_s;
    if (term_at > 0 && grace > 0 && !stop_requested_) {
      // The job may stop cleanly (a final checkpoint): the scheduler decides and ends us.
      stop_requested_ = true;
      MsgHeader h = MakeHeader(MsgType::kApp, rank_);
      h.aux = kAppStopRequest;
      Status st = transport_->Send(0, h);
      if (!st.ok()) LOG(WARNING) << "stop request to the scheduler failed: " << st.ToString();
      LOG(INFO) << table_.Describe(rank_) << " received SIGTERM or SIGINT; the scheduler is asked to stop the job cleanly "
                << "(at most " << grace << " s)";
    }
    if (term_at > 0 && now - term_at > 0.7 + grace) {
      // The scheduler had its chance to send an abort naming the lost rank; it did not.
      DieNow(table_.Describe(rank_) + " stops: received SIGTERM or SIGINT (from the launcher or a user)" +
                 (grace > 0 ? " and the job did not end within " + std::to_string(static_cast<int>(grace)) + " s" : std::string()) +
                 (disconnected.empty() ? std::string(" (no peer connection was lost)")
                                       : "; connections lost to: " + disconnected),
             kExitAborted);
    }
    if (!shutting_down) {
      const double silent = now - last_scheduler_contact_.load();
      if (silent > opts_.heartbeat_timeout_s) {
        std::ostringstream m;
        m << table_.Describe(rank_) << " stops: lost " << table_.Describe(0) << ": no heartbeat for "
          << static_cast<int>(silent) << " s (timeout " << opts_.heartbeat_timeout_s << " s)";
        DieNow(m.str(), kExitPeerLost);
      }
      const double gone_at = scheduler_disconnected_at_.load();
      if (gone_at > 0 && now - gone_at > opts_.disconnect_grace_s) {
        DieNow(table_.Describe(rank_) + " stops: lost " + table_.Describe(0) + ": connection closed (the process exited or was killed)",
               kExitPeerLost);
      }
    }
    // Heartbeat only while the receiving loop is alive: a stuck loop must look dead.
    if (now - last_progress_.load() < opts_.heartbeat_timeout_s / 2) {
      Status st = transport_->Send(0, MakeHeader(MsgType::kHeartbeat, rank_));
      if (!st.ok()) LOG(WARNING) << "heartbeat to the scheduler failed: " << st.ToString();
    }
    lock.lock();
  }
}

}  // namespace embark
