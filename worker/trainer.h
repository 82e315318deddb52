// Trainer: a worker's training loop.
//
// Per batch: wait for the consistency condition (BSP/SSP clock), pull the rows the batch
// needs (one prepared key set per table, deduplicated and grouped by server once), compute
// loss and gradients with the model on `compute_threads` threads, push the gradients, report
// the clock. Under SSP and ASP the next batch is read and its rows are pulled while the current
// one computes (double buffering); under BSP the next pull must see every worker's updates of
// this clock, so only reading and parsing overlap (the reader's prefetch thread).
//
// After every epoch: a barrier among workers, then evaluation on this worker's share of the
// test files; the scheduler merges the workers' metric accumulators exactly. Ranking models
// (Model::IsRanking) are evaluated by a RankingEvaluator on this worker's share of the test
// users instead.
//
// Mid-epoch checkpoints (train_protocol.h): after a batch, and while waiting for slower
// workers, the trainer looks for the scheduler's cut request; at the cut it records its input
// position (the reader's snapshot plus a batch it holds but has not trained) and waits until
// the checkpoint is written. A resumed run trains the interrupted epoch's remainder it is given.
//
// Online training (TrainOptions::stream): the one epoch is the stream; with --metrics_out each
// batch is first scored by the rows it pulled (before its own update: progressive validation)
// and the worker appends a line per closed window to the metrics file. The trainer keeps the
// stream position after the last batch it trained (the reader's starting positions updated by
// every trained batch's Batch::stream_after): that, not the reader's read-ahead, is what a cut
// records (data/stream_position.h), together with the length of
// its --trained_log (worker/trained_log.h). A cut released with "stop" (SIGTERM) ends the
// stream there.
//
// Thread-safety: Run() is called once, from the worker's main thread.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/fork_join.h"
#include "worker/worker_context.h"
#include "models/model.h"
#include "worker/kv_client.h"
#include "worker/progressive_window.h"
#include "worker/ranking_evaluator.h"
#include "worker/block_scheduler.h"
#include "worker/epoch_cache.h"
#include "worker/rating_blocks.h"
#include "worker/row_replica.h"
#include "data/stream_position.h"
#include "worker/train_options.h"
#include "worker/trained_log.h"

namespace embark {

class Trainer {
 public:
  Trainer(const TrainOptions& opts, const Model& model, WorkerContext& ctx);
  // Requests still in flight (an error path) must not write into freed buffers.
  ~Trainer() { kv_.CancelAll(); }
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  Status Run();

 private:
  // The rows of one batch: prepared keys and pulled values per table, in flight or arrived.
  struct Slot {
    Batch batch;
    std::vector<PreparedKeys> keys;        // per table
    PulledRows rows;
    std::vector<int> pull_ts;              // per table, 0 = none in flight
    std::vector<std::vector<uint32_t>> feature_pos;  // per sparse table: feature positions
    Gradients grads;
    std::vector<std::vector<float>> push_buffers;    // per table, prepared order
    std::vector<int> push_ts;
  };

  // A batch resolved against the replica (--sync=local): the rows it reads, compacted.
  struct LocalBatch {
    Batch batch;
    std::vector<int32_t> replica_row;           // per feature: its replica row, -1 if ignored
    PulledRows rows;                            // compact weights, as the model reads them
    std::vector<std::vector<uint32_t>> uniq;    // per sparse table: replica index per compact row
    // Compaction scratch, per table and replica index: the batch that last saw the row, and
    // the row's compact index in it.
    std::vector<std::vector<uint32_t>> stamp, compact;
    uint32_t seq = 0;
    uint64_t lookups = 0;
    std::vector<std::vector<uint32_t>> stale;   // per table: rows read again before this batch
    uint64_t stale_pulled = 0;
    // Example-at-a-time steps (TrainExamplesInPlace): per feature occurrence of one example its
    // row, gradient buffer, table and replica index; dense weights and summed gradients per table.
    std::vector<const float*> example_row;
    std::vector<float*> example_grad;
    std::vector<int32_t> example_table, example_index;
    std::vector<float> grad_scratch;
    std::vector<std::vector<float>> dense, dense_grad;
  };

  // `resume`: the remainder of an interrupted epoch to train instead of this worker's share.
  Status TrainEpoch(int epoch, const RemainingInput* resume);
  // The same epoch with local updates (--sync=local): batches train on the replica, and every
  // --sync_every batches (and before a checkpoint cut and at the end) Sync exchanges deltas.
  Status TrainEpochLocal(int epoch, const RemainingInput* resume);
  // First epoch: reads and resolves this worker's whole share into the epoch cache. Past
  // --input_cache_mb the batch that did not fit goes to *overflow / *overflow_rows and
  // *overflowed is set (the rest of the share is still in the reader).
  Status LoadShare(LocalBatch* lb, Batch* overflow, std::vector<int32_t>* overflow_rows, bool* overflowed);
  // Maps the batch's features to replica rows, pulling the rows not held yet (or, with
  // `deferred`, appending their indices there per table for the caller to pull).
  Status ResolveLocal(LocalBatch* lb, std::vector<std::vector<uint32_t>>* deferred = nullptr);
  // Compacts the batch's replica rows (one per distinct row) and copies their weights.
  Status GatherLocal(LocalBatch* lb);
  // Reads again the batch's rows that went stale at the last sync.
  Status RefreshStale(LocalBatch* lb);
  // Epochs from memory: reads again, in one request per table, the stale rows the next
  // --sync_every batches will read (so batches do not wait for them one by one).
  Status PrefetchInterval();
  // Reads the given replica rows (per table, by index) from their servers into the replica.
  Status PullIntoReplica(const std::vector<std::vector<uint32_t>>& rows);
  // Model forward/backward on the gathered rows, then the optimizer on the replica; `grads`
  // given: on this thread alone, applying without change tracking (Hogwild, see TrainCachedRound).
  LossSum ComputeLocal(LocalBatch* lb, Gradients* grads = nullptr);
  // One batch on the replica: TrainExamplesInPlace where the model trains an example at a time
  // (and --local_step=example), else GatherLocal + ComputeLocal. `grads` as for ComputeLocal.
  Status TrainLocalBatch(LocalBatch* lb, Gradients* grads, LossSum* loss);
  // The model's example-at-a-time path: each example reads its rows where the replica holds
  // them and every row's optimizer steps right after the example; dense tables step once
  // after the batch. `tracked`: marks the rows changed (false for Hogwild threads).
  Status TrainExamplesInPlace(LocalBatch* lb, bool tracked, LossSum* loss);
  // Cached epochs with several compute threads: each thread takes whole batches from the
  // cache and updates the replica without locks until `batches` were trained.
  LossSum TrainCachedRound(uint64_t batches, uint64_t* trained, uint64_t* examples, Status* error);
  // After the first load of a pair model's share (Model::PairTables): moves the epoch cache
  // into a grid of rating blocks (blocks_) when every cached example has exactly one user row
  // and one item row; otherwise logs why and keeps the cache.
  void BuildBlocks();
  // One epoch from memory in conflict-free blocks: every block once. One worker trains the
  // whole grid as one round; W workers train W sub-epochs of the stratified schedule (DSGD),
  // exchanging rows between them.
  Status TrainBlockEpoch(int epoch, uint64_t* clock, uint64_t* examples, double* loss_sum);
  // The blocks of `round` on all compute threads, each row's optimizer stepped after every
  // example, lock-free (no two threads hold blocks that share a row). Progress lines report
  // clock_at(examples trained so far in the round).
  Status TrainBlockRound(int epoch, const std::vector<uint32_t>& round, uint64_t seed,
                         const std::function<uint64_t(uint64_t)>& clock_at, uint64_t* examples, double* loss_sum);
  // --block_log: appends the rows the last PushDeltas sent, one line each.
  Status LogBlockRows(int epoch, int sub_epoch);
  // Repartition for stratified blocks (repartition_): keeps the examples of `batch` whose user
  // belongs to this worker (user block % W == worker index; an example without exactly one
  // user and one item row goes by its position in the input), and notes whether every example
  // read is a pair (every worker reads the whole input, so all reach the same verdict).
  void KeepOwnUsers(Batch* batch);
  // Whether an example of n features (their fields, and replica rows or null before they are
  // resolved: -1 = ignored) is a pair of the model's (Model::PairTables): exactly one user and
  // one item feature and no other sparse table; then *user and *item are their positions.
  bool PairOfExample(const uint16_t* fields, const int32_t* rows, size_t n, size_t* user, size_t* item);
  // Pushes every changed row's delta and waits for the acks; the rows of `hold_table` (if not
  // -1) stay changed here for a later exchange.
  Status PushDeltas(int hold_table = -1);
  // Reads every held row again (or forgets them past --replica_rows).
  Status RefreshReplica();
  // After a sync: reads again the rows this worker changed (and the dense tables); the other
  // held rows go stale and are read when next used.
  // `hold_table`: its rows are left as they are (see PushDeltas). `adopt_pushed`: the pushed
  // sparse rows are not read back but taken as they are here (RowReplica::AdoptPushed).
  Status RefreshChanged(int hold_table = -1, bool adopt_pushed = false);
  // Index of the table of `field` (or -1), cached per field.
  int TableOf(uint16_t field) {
    int16_t& t = table_of_field_[field];
    if (t == kFieldUnknown) t = static_cast<int16_t>(model_.TableOfField(field));
    return t;
  }
  // Mid-epoch checkpoints: takes the scheduler's cut requests for `epoch` (non-blocking), and
  // if one is due after `clock` finished batches, records the position and waits for the
  // checkpoint. `held` is a batch taken from the reader but not trained (or null).
  // `idle`: a stream worker waiting for events pauses at any clock (it has nothing to train).
  Status PauseIfCut(int epoch, uint64_t clock, uint64_t examples, double loss_sum, const Batch* held, bool idle = false);
  // Takes the scheduler's cut requests (non-blocking); true if one is due after `clock` batches.
  bool CutDue(int epoch, uint64_t clock, bool idle = false);
  Status OpenReader();
  Status ReportEpochDone(int epoch, uint64_t clock, uint64_t examples, double loss_sum, double seconds,
                         double load_seconds = 0);
  Status LoadTest();
  // Waits for an application message from the scheduler, bounded by --clock_timeout.
  Status WaitFor(uint64_t subtype, const char* what, std::string* payload);
  Status Evaluate(int epoch, bool final);
  // Validation (--valid, --valid_fraction): this worker's share, read once, then scored after
  // every epoch and sent as kTrainValidEval.
  Status LoadValid();
  Status EvaluateValid(int epoch);
  // Scores `batches` with the servers' current rows into `eval`; appends the predictions to
  // `preds` unless it is null.
  Status ScoreBatches(const std::vector<Batch>& batches, Evaluation* eval, std::vector<float>* preds);
  // Reads the next batch into `slot` and issues its pulls; sets *end at the end of the epoch.
  Status Load(DataReader* reader, Slot* slot, bool* end);
  // Groups `batch`'s keys by table and issues their pulls into `slot`.
  Status PreparePulls(const Batch& batch, Slot* slot);
  Status WaitPulls(Slot* slot);
  Status WaitPushes(Slot* slot);
  // Dense tables travel as server-grouped blocks; models see them as one flat vector.
  void UngroupDense(Slot* slot);
  // The model on `rows` over the compute threads; the summed gradients end in part_grads_[0].
  LossSum ForwardBackwardParts(const Batch& batch, const PulledRows& rows);
  LossSum Compute(Slot* slot);
  Status PushGradients(Slot* slot);
  // `while_waiting` (optional) runs every wait round (at most ~0.1 s apart).
  Status WaitForClock(int epoch, uint64_t clock, const std::function<Status()>& while_waiting = nullptr);
  Status ReportClock(int epoch, uint64_t clock, uint64_t examples, double loss_sum);

  const TrainOptions opts_;
  const Model& model_;
  WorkerContext& ctx_;
  KVClient& kv_;
  const std::vector<TableConfig> tables_;
  ForkJoinPool pool_;
  std::vector<Gradients> part_grads_;    // per compute thread
  std::vector<std::vector<uint64_t>> dense_block_ids_;  // per table
  std::vector<std::unique_ptr<Slot>> slots_;
  // --sync=local
  static constexpr int16_t kFieldUnknown = -2;
  std::vector<int16_t> table_of_field_;
  std::unique_ptr<RowReplica> replica_;
  std::vector<LocalBatch> local_batches_;  // one per compute thread
  static constexpr double kClockReportSeconds = 0.2;  // --sync=local: longest silence towards the scheduler
  double last_clock_report_ = 0;
  std::vector<PreparedKeys> sync_keys_;     // per table: the rows of the last PushDeltas
  std::vector<std::vector<uint32_t>> sync_indices_;
  uint64_t replica_misses_ = 0;
  // The counters behind an epoch's traffic figures (EpochDone): read at the epoch's start and
  // subtracted at its end, so the evaluation's pulls in between are not counted.
  struct Traffic {
    uint64_t sent = 0, received = 0, row_reads = 0, rows_pulled = 0;
  };
  Traffic CurrentTraffic() const;
  Traffic epoch_traffic_start_;
  uint64_t block_row_reads_ = 0;  // two a rating trained in blocks
  std::unique_ptr<EpochCache> epoch_cache_;
  // Block training (BuildBlocks): the share's ratings by block, and the schedule of the threads.
  std::unique_ptr<RatingBlocks> blocks_;
  std::unique_ptr<BlockScheduler> block_scheduler_;
  // Stratified blocks on several workers: each reads the whole input and keeps its users' examples.
  bool repartition_ = false;
  int block_grid_ = 4;             // blocks a side (--blocks, or chosen by workers and threads)
  bool all_pairs_ = true;          // every example read so far has one user and one item row
  uint64_t examples_seen_ = 0;     // examples read, kept or not (the position for non-pairs)
  uint64_t examples_kept_ = 0;
  bool cache_complete_ = false;
  bool cache_disabled_ = false;
  bool training_from_memory_ = false;  // this epoch trains from the cache (rows stay held)  // the rows outgrew --replica_rows: every epoch reads the files
  uint64_t min_clock_ = 0;
  int min_clock_epoch_ = -1;
  std::unique_ptr<DataReader> reader_;
  // Online training with --metrics_out: each batch is scored before it trains
  // (ScoreProgressive), and every closed window is appended to metrics_out as a line.
  Status ScoreProgressive(const Slot& slot);
  Status WriteWindow(bool last);
  std::unique_ptr<ProgressiveWindow> window_;
  std::vector<float> window_preds_;
  double stream_start_s_ = 0;
  // Streams: where this worker's share stands after the last batch it trained; the resume
  // message of a resumed run (null otherwise); the trained log; a stop at the last cut.
  // Records in `pos` the stream position of the last trained batch (committing the log).
  Status StreamCutOf(InputPosition* pos);
  StreamPositions trained_stream_;
  std::unique_ptr<StreamResume> stream_resume_;
  std::unique_ptr<TrainedLog> trained_log_;
  bool stop_at_cut_ = false;
  bool cut_pending_ = false;     // a cut request for the current epoch not served yet
  bool cut_decode_failed_ = false;
  uint64_t cut_clock_ = 0;
  std::vector<Batch> test_batches_;
  std::unique_ptr<RankingEvaluator> ranking_;  // ranking models: replaces test_batches_
  bool test_loaded_ = false;
  std::vector<Batch> valid_batches_;
  bool valid_loaded_ = false;
};

}  // namespace embark
