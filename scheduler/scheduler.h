// Scheduler: the loop of rank 0 after bootstrap.
//
// It watches every rank's liveness (heartbeats, closed connections), releases barriers,
// relays application messages to a SchedulerApp (the job-specific part: epochs, evaluation,
// metrics), and ends the job: cleanly once every worker is done (shutdown handshake with
// every rank), or by aborting everyone with a message naming the rank that was lost.
//
// Thread-safety: Run() owns the transport's receiving side; SchedulerApp callbacks run on
// that same thread, so an app needs no locking for state it touches only from callbacks.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster.h"
#include "core/control_plane.h"
#include "core/liveness.h"
#include "core/transport.h"

namespace embark {

// What a SchedulerApp may ask of the scheduler it runs in.
class SchedulerHandle {
 public:
  virtual ~SchedulerHandle() = default;
  virtual const ClusterTable& table() const = 0;
  virtual Status SendApp(int rank, uint64_t subtype, const std::string& payload) = 0;
  virtual Status BroadcastAppToWorkers(uint64_t subtype, const std::string& payload) = 0;
  // Tells every rank why the job stops, then ends this process with `code`.
  [[noreturn]] virtual void Abort(const std::string& reason, int code) = 0;
};

class SchedulerApp {
 public:
  virtual ~SchedulerApp() = default;
  virtual void OnStart(SchedulerHandle* scheduler) {}
  // An application message (MsgType::kApp) from a server or worker.
  virtual void OnApp(SchedulerHandle* scheduler, const Message& msg) {}
  // Called about every 50 ms.
  virtual void OnTick(SchedulerHandle* scheduler) {}
  // Every worker reported done with exit code 0. Returns the job's exit code.
  virtual int OnAllWorkersDone(SchedulerHandle* scheduler) { return kExitOk; }
  // A SIGTERM/SIGINT reached this rank, or another rank asked to stop (kAppStopRequest), and
  // LivenessOptions::termination_grace_s is set. True: the app ends the job cleanly itself
  // (within the grace, else the scheduler aborts); false: the job is aborted as without grace.
  virtual bool OnTerminationRequested(SchedulerHandle* scheduler) { return false; }
};

class Scheduler : public SchedulerHandle {
 public:
  Scheduler(Transport* transport, const ClusterTable& table, const LivenessOptions& opts,
            SchedulerApp* app);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs until the job ends; returns the exit code for a clean end. A lost rank or a failed
  // worker ends the process from inside (after telling every other rank why).
  int Run();

  Status SendApp(int rank, uint64_t subtype, const std::string& payload) override;
  Status BroadcastAppToWorkers(uint64_t subtype, const std::string& payload) override;
  [[noreturn]] void Abort(const std::string& reason, int code) override;
  const ClusterTable& table() const override { return table_; }

 private:
  void HandleMessage(const Message& msg);
  void CheckLiveness(double now);
  [[noreturn]] void LoseRank(int rank, const std::string& why);
  void BeginShutdown(int exit_code);
  int MembersOf(BarrierGroup group) const;
  bool InGroup(int rank, BarrierGroup group) const;

  Transport* const transport_;
  const ClusterTable table_;
  const LivenessOptions opts_;
  SchedulerApp* const app_;

  std::vector<double> last_seen_;        // per rank
  std::vector<double> disconnected_at_;  // per rank; 0 = connected
  std::vector<bool> worker_done_;        // per rank
  std::vector<bool> shutdown_acked_;     // per rank
  int workers_done_ = 0;
  bool shutting_down_ = false;
  int exit_code_ = kExitOk;
  double stop_requested_at_ = 0;     // a rank sent kAppStopRequest (it got SIGTERM)
  bool termination_handled_ = false; // the app took the SIGTERM over (OnTerminationRequested)
  std::map<std::pair<uint32_t, uint64_t>, int> barrier_arrivals_;
};

}  // namespace embark
