// TrainApp: the training job's logic on the scheduler (rank 0).
//
// It keeps every worker's clock and releases them by broadcasting the minimum clock (BSP/SSP),
// merges the workers' evaluation accumulators into exact test metrics after every epoch,
// prints a progress line at a fixed interval (examples/s, training loss, ETA), appends one
// JSON object per evaluation to --metrics_out (and a last one with "final": true), and prints
// a summary at the end.
//
// Checkpoints (checkpoint/checkpoint_store.h for the layout): at an epoch boundary, or mid-epoch
// at a cut (train_protocol.h) every --checkpoint_every steps or seconds. Once every worker is
// paused or done, every server writes its shard (full, or a delta every time but each
// --full_every-th), the scheduler writes the workers' positions and its own state, then the
// MANIFEST, prunes old checkpoints and releases the workers. --resume restores the newest
// complete checkpoint and its delta chain on any number of servers and workers.
//
// Streams: a cut records every worker's stream position (data/stream_position.h); a worker
// whose stream ended reports its final position (kTrainStreamEnd), written in its place. On
// resume the positions are merged and sent to every new worker. SIGTERM (or a stop request
// from another rank) on a stream job with --checkpoint_dir: one final cut, whose release tells
// the workers to stop there; the job then ends normally with exit code 0.
//
// Thread-safety: callbacks run on the scheduler's thread only.
#pragma once

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.h"
#include "scheduler/early_stopping.h"
#include "scheduler/publish_guard.h"
#include "scheduler/scheduler.h"
#include "worker/evaluation.h"
#include "worker/train_options.h"

namespace embark {

class TrainApp : public SchedulerApp {
 public:
  explicit TrainApp(const TrainOptions& opts);

  // Called on the scheduler's thread with the directory of every checkpoint once its MANIFEST
  // is written (complete and consistent): `train --publish_dir` publishes it as a serving
  // version there (serving/publisher.h; set by the entry point, a layer above). A failure is
  // logged and the next checkpoint calls again.
  using CheckpointHook = std::function<Status(const std::string& checkpoint_dir)>;
  void SetCheckpointHook(CheckpointHook hook) { checkpoint_hook_ = std::move(hook); }

  void OnStart(SchedulerHandle* s) override;
  void OnApp(SchedulerHandle* s, const Message& msg) override;
  void OnTick(SchedulerHandle* s) override;
  int OnAllWorkersDone(SchedulerHandle* s) override;
  bool OnTerminationRequested(SchedulerHandle* s) override;

 private:
  struct EpochState {
    std::vector<uint64_t> clock;      // per worker
    std::vector<bool> done;           // per worker
    std::vector<uint64_t> examples;   // per worker
    std::vector<double> loss;         // per worker
    uint64_t broadcast_min = 0;
    int evals = 0;
    std::unique_ptr<Evaluation> eval;
    int valid_evals = 0;              // --valid / --valid_fraction
    std::unique_ptr<Evaluation> valid_eval;
    std::vector<std::vector<float>> predictions;  // per worker (final epoch)
    bool reported = false;
    int memory_reports = 0;                     // servers that sent their bounded-memory counters
    std::map<std::string, uint64_t> memory;     // those counters, aggregated over servers
    double train_seconds = 0;         // the slowest worker's training time of the epoch
    double load_seconds = 0;          // of which reading the share into memory (slowest worker)
    // Summed over workers (EpochDone): the epoch's bytes to and from the servers, and the
    // replica's row reads and the rows pulled into it.
    uint64_t kv_bytes = 0;
    uint64_t row_reads = 0;
    uint64_t rows_pulled = 0;
  };
  EpochState& Epoch(int epoch);
  void UpdateMinClock(SchedulerHandle* s, int epoch);
  void FinishEpoch(SchedulerHandle* s, int epoch);
  // FinishEpoch once the epoch's evaluation (or training, without a test set) and, with
  // bounded memory, every server's counters are in.
  void MaybeFinishEpoch(SchedulerHandle* s, int epoch);
  void OnServerMemory(int server, const std::string& payload);
  // The epoch the job ends after: opts_.epochs, or the one early stopping ended it at.
  int LastEpoch() const { return early_.stopped_at() > 0 ? early_.stopped_at() : opts_.epochs; }
  std::string MetricsLine(int epoch, bool final) const;
  // Checkpoints (see the .cc for the protocol).
  void StartCheckpoint(SchedulerHandle* s, int epoch);
  // `force`: now, whatever --checkpoint_every says (the final cut of a stopping stream).
  void MaybeStartCut(SchedulerHandle* s, int epoch, bool force = false);
  // Stream checkpoints: the position file of worker w (its cut, or where its stream ended),
  // with every trained log's committed length.
  std::string StreamPositionBytes(SchedulerHandle* s, int w);
  void CheckCutReady(SchedulerHandle* s);
  // A stream job with checkpoints, once every worker's stream ended: its last checkpoint.
  void FinishStream(SchedulerHandle* s, int epoch);
  // Asks every server to write its shard of checkpoint `name` (in_epoch: 0 or the epoch cut).
  void StartSave(SchedulerHandle* s, const std::string& name, int epochs_done, int in_epoch, uint64_t step);
  void FinishSave(SchedulerHandle* s);
  void OnServerMessage(SchedulerHandle* s, int server, const Message& msg);
  // Validates checkpoint `name` and its chain, restores the scheduler's state from it and asks
  // the servers to load it.
  Status Restore(SchedulerHandle* s, const std::string& name);
  // "cannot resume from ...: why; earlier complete checkpoints: ..." for a refused checkpoint.
  std::string Refusal(const std::string& name, const std::string& why) const;
  std::string SchedulerStateBytes(int epochs_done, int in_epoch, uint64_t step) const;
  uint64_t ExamplesSoFar() const;
  // The training loss summed over the examples trained in this run and in the cut epoch it
  // resumed inside: ExamplesSoFar() - examples_before_ of them (the epochs completed before a
  // restore keep no loss).
  double LossSoFar() const;
  double TrainLoss(int epoch) const;
  uint64_t MaxClock(int epoch) const;
  // Global steps (train_protocol.h) once epoch `epoch` reached its highest clock so far.
  uint64_t GlobalStep(int epoch) const;

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
  std::vector<std::string> resume_inputs_;  // per worker: its share of a cut epoch's remainder
  uint64_t resume_subtype_ = 0;             // kTrainResumeInput (files) or kTrainResumeStream
  std::unique_ptr<CheckpointStore> store_;  // null without --checkpoint_dir
  CheckpointHook checkpoint_hook_;          // --publish_dir (SetCheckpointHook)
  // Calls checkpoint_hook_ for checkpoint `dir` unless the quality guard withholds it.
  void MaybePublish(const std::string& dir);
  PublishGuard publish_guard_;     // --publish_guard (a new one per run: no baseline after a resume)
  std::string restored_;         // name of the checkpoint restored, for messages
  // The checkpoint being written ("" = none): its name, kind, the epoch it cut (0 = boundary).
  std::string saving_;
  bool saving_delta_ = false;
  int saving_epochs_done_ = 0;
  int saving_in_epoch_ = 0;
  uint64_t saving_step_ = 0;
  std::vector<std::string> saved_;  // per server: "ok CHECKSUM" of the checkpoint being written
  std::string last_checkpoint_;     // newest checkpoint written or restored: the next delta's base
  int chain_length_ = 0;            // checkpoints in its chain (1 = it is full)
  uint64_t last_step_ = 0;          // its step
  double last_checkpoint_time_ = 0;
  uint64_t next_step_cut_ = 0;
  // A mid-epoch cut in progress.
  struct Cut {
    bool active = false;
    int epoch = 0;
    std::vector<std::string> positions;  // per worker: EncodePosition bytes once paused
  };
  Cut cut_;
  // Streams.
  std::vector<std::string> stream_end_;           // per worker: EncodePosition where its stream ended
  std::map<int32_t, uint64_t> committed_logs_;    // --trained_log: index -> bytes at the last cut
  bool stopping_ = false;                         // SIGTERM: the next cut is the last
  bool final_stream_save_ = false;                // the checkpoint being written is FinishStream's
  // Progress before this run (restored from a checkpoint).
  uint64_t steps_done_ = 0;         // global steps of the completed epochs
  uint64_t examples_before_ = 0;    // examples of the epochs completed before the restore
  int resumed_epoch_ = 0;           // the cut epoch this run resumed inside (0 = none)
  uint64_t resumed_examples_ = 0;   // its examples, loss and highest clock before the cut
  double resumed_loss_ = 0;
  uint64_t resumed_clock_ = 0;
  uint64_t examples_at_start_ = 0;  // ExamplesSoFar() when this run started (for examples/s)
  std::string last_line_;
  // With a validation set: its best epoch, and with --early_stop where the job stops (its state
  // is kept in last_metrics_, so in every checkpoint).
  EarlyStopping early_;
  std::string best_checkpoint_;  // with --checkpoint_dir: the best epoch's checkpoint, never pruned
  std::vector<std::vector<float>> best_predictions_;  // its test predictions (--predictions_out), per worker
};

}  // namespace embark
