// ControlPlane: a server's or worker's link to the scheduler (rank 0).
//
// It owns the heartbeat thread and the control state every non-scheduler rank needs:
//   * heartbeats to the scheduler, sent only while the rank's receiving loop makes progress
//     (a rank whose loop is stuck stops heartbeating and is declared lost by the scheduler);
//   * detection of a lost scheduler (no heartbeat from it, or its connection closed);
//   * abort: the scheduler names a lost rank, this rank logs it and exits non-zero;
//   * SIGTERM from the launcher: wait briefly for the scheduler to say why, then exit non-zero;
//     with LivenessOptions::termination_grace_s, ask the scheduler to stop the job cleanly
//     instead and exit non-zero only if it has not ended the job within the grace;
//   * barriers and application messages with timeouts;
//   * the clean shutdown handshake.
//
// The rank's single receiving thread (server loop or KV client) hands every control message
// to Handle() and every disconnect to OnPeerDisconnected(); everything else here is safe to
// call from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/app_channel.h"
#include "core/cluster.h"
#include "core/liveness.h"
#include "core/transport.h"

namespace embark {

class ControlPlane : public AppChannel {
 public:
  ControlPlane(Transport* transport, const ClusterTable& table, int rank, const LivenessOptions& opts);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  void Start();  // starts the heartbeat thread
  void Stop();   // joins it

  // Receiving thread: returns true if `msg` was a control message (and consumed it).
  bool Handle(const Message& msg);
  void OnPeerDisconnected(int peer);
  // Receiving thread: call once per loop iteration so heartbeats reflect real progress.
  void NoteProgress() { last_progress_.store(NowSeconds(), std::memory_order_relaxed); }

  // Blocks until every rank of `group` reached barrier number `seq`.
  Status Barrier(BarrierGroup group, double timeout_s) override;
  // Application messages to and from the scheduler (subtype = MsgHeader::aux).
  Status SendToScheduler(uint64_t subtype, const std::string& payload) override;
  // Waits for the next application message of `subtype` from the scheduler.
  Status WaitApp(uint64_t subtype, std::string* payload, double timeout_s) override;

  // Workers: report this rank's work as finished (exit code), then wait for kShutdown.
  Status FinishAndWaitShutdown(int exit_code);
  bool shutdown_requested() const;
  // Acknowledge kShutdown so the scheduler knows this rank is leaving cleanly.
  void AckShutdown();

  const ClusterTable& table() const { return table_; }
  const LivenessOptions& options() const { return opts_; }

 private:
  void HeartbeatLoop();
  // Waits on cv_ until pred() or the deadline; returns false on timeout.
  template <class Pred>
  bool WaitUntil(std::unique_lock<std::mutex>& lock, double deadline, Pred pred);

  Transport* const transport_;
  const ClusterTable table_;
  const int rank_;
  const LivenessOptions opts_;

  std::atomic<double> last_progress_{0};
  std::atomic<double> last_scheduler_contact_{0};
  std::atomic<double> scheduler_disconnected_at_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool shutdown_ = false;
  bool stop_ = false;
  std::map<uint32_t, uint64_t> barrier_released_;   // group -> highest released sequence
  std::map<uint32_t, uint64_t> barrier_next_;       // group -> next sequence to enter
  std::map<uint64_t, std::deque<std::string>> app_inbox_;
  std::string disconnected_peers_;                  // for the SIGTERM diagnosis
  bool stop_requested_ = false;                     // heartbeat thread only: kAppStopRequest sent
  std::thread heartbeat_thread_;
};

}  // namespace embark
