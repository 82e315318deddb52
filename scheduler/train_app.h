// TrainApp: the training job's logic on the scheduler (rank 0).
//
// It keeps every worker's clock and releases them by broadcasting the minimum clock (BSP/SSP),
// merges the workers' evaluation accumulators into exact test metrics after every epoch,
// prints a progress line at a fixed interval (examples/s, training loss, ETA), appends one
// JSON object per evaluation to --metrics_out (and a last one with "final": true), and prints
// a summary at the end.
//
// Thread-safety: callbacks run on the scheduler's thread only.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "scheduler/scheduler.h"
#include "worker/evaluation.h"
#include "worker/train_options.h"

namespace embark {

class TrainApp : public SchedulerApp {
 public:
  explicit TrainApp(const TrainOptions& opts);

  void OnStart(SchedulerHandle* s) override;
  void OnApp(SchedulerHandle* s, const Message& msg) override;
  void OnTick(SchedulerHandle* s) override;
  int OnAllWorkersDone(SchedulerHandle* s) override;

 private:
  struct EpochState {
    std::vector<uint64_t> clock;      // per worker
    std::vector<bool> done;           // per worker
    std::vector<uint64_t> examples;   // per worker
    std::vector<double> loss;         // per worker
    uint64_t broadcast_min = 0;
    int evals = 0;
    std::unique_ptr<Evaluation> eval;
    std::vector<std::vector<float>> predictions;  // per worker (final epoch)
    bool reported = false;
    int memory_reports = 0;                     // servers that sent their bounded-memory counters
    std::map<std::string, uint64_t> memory;     // those counters, aggregated over servers
  };
  EpochState& Epoch(int epoch);
  void UpdateMinClock(SchedulerHandle* s, int epoch);
  void FinishEpoch(SchedulerHandle* s, int epoch);
  // FinishEpoch once the epoch's evaluation (or training, without a test set) and, with
  // bounded memory, every server's counters are in.
  void MaybeFinishEpoch(SchedulerHandle* s, int epoch);
  void OnServerMemory(int server, const std::string& payload);
  std::string MetricsLine(int epoch, bool final) const;
  // Checkpoints (see the .cc for the protocol).
  void StartCheckpoint(SchedulerHandle* s, int epoch);
  void OnServerMessage(SchedulerHandle* s, int server, const Message& msg);
  int LatestCheckpoint(std::string* dir) const;
  std::string CheckpointDir(int epoch) const;
  uint64_t ExamplesSoFar() const;
  double TrainLoss(int epoch) const;

  const TrainOptions opts_;
  int num_workers_ = 0;
  double start_ = 0;
  double last_progress_ = 0;
  int current_epoch_ = 1;
  uint64_t examples_per_epoch_ = 0;   // known after epoch 1
  int64_t max_clock_spread_ = 0;
  std::map<int, EpochState> epochs_;
  std::map<std::string, uint64_t> bad_lines_;  // from epoch 1 (every epoch reads the same lines)
  std::map<std::string, double> last_metrics_;
  std::map<std::string, uint64_t> memory_metrics_;  // bounded memory: the last epoch's counters
  std::ofstream metrics_out_;
  int num_servers_ = 0;
  int first_epoch_ = 1;
  int restoring_ = 0;            // servers still loading a checkpoint
  int saving_epoch_ = 0;         // checkpoint being written, 0 = none
  std::vector<std::string> saved_;  // per server: "ok CHECKSUM" of the checkpoint being written
  std::string last_line_;
};

}  // namespace embark
