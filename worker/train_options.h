// TrainOptions: everything the `train` command was asked to do, shared by the scheduler's
// training app and the workers (every rank parses the same command line).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/model_description.h"
#include "models/model_registry.h"
#include "ps/bounded_memory.h"
#include "data/data_reader.h"

namespace embark {

enum class Consistency { kBsp, kSsp, kAsp };

// How a worker's updates reach the servers (README "Synchronisation"):
//   kExact  pull the batch's rows, push its gradients, every batch (the reference path);
//   kLocal  train on the worker's own copies of the rows (worker/row_replica.h) and exchange
//           what changed with the servers every `sync_every` batches.
enum class SyncMode { kExact, kLocal };
Status ParseSyncMode(const std::string& name, SyncMode* out);
const char* SyncModeName(SyncMode m);
Status ParseConsistency(const std::string& name, Consistency* out);
const char* ConsistencyName(Consistency c);

struct TrainOptions {
  std::string model;             // mf, lr, fm, ...
  DataFormat format = DataFormat::kRatings;
  std::shared_ptr<const CsvSchema> csv_schema;  // format csv: loaded once from --schema
  uint32_t num_fields = 0;       // libffm: a line with a field >= this is bad (field_out_of_range); 0 = any
  std::string train;             // files, globs, directories (comma-separated)
  std::string test;              // optional
  // Validation (optional): files evaluated after every epoch like the test files, or a
  // held-out fraction of the training lines (DataReaderOptions::holdout; the training reads
  // the others). Early stopping judges by it: after `early_stop` epochs without a better
  // validation loss (RMSE, or logloss) than the best so far, the job ends (0: never).
  std::string valid;
  double valid_fraction = 0;
  int early_stop = 0;
  // Online training: `train` is a stream (dir:// or kafka://, data/stream_source.h), read in
  // one epoch that ends with the stream or at these limits (0 = none).
  bool stream = false;
  uint64_t max_events = 0;       // per worker
  double max_seconds = 0;
  double startup_timeout_s = 60;  // kafka://: longest wait for a broker
  // Progressive validation windows (worker/progressive_window.h), written to metrics_out.
  uint64_t window_events = 10000;  // a window closes after this many events of a worker ...
  double window_seconds = 0;       // ... or, when set instead, after this many seconds
  // Streams: each worker appends the ids of the events it trained to trained_log.<worker>
  // (worker/trained_log.h); empty: none.
  std::string trained_log;
  int epochs = 10;
  size_t batch_size = 256;
  Consistency consistency = Consistency::kBsp;
  int staleness = 0;             // SSP bound (clocks); 0 for BSP
  SyncMode sync = SyncMode::kLocal;
  // --sync given on the command line. Without it, local updates are used where they are known
  // to keep the model's quality: mf and imf, and any model trained by a single worker (the
  // per-batch path exactly). Several workers training a CTR model add up their changes of the
  // same hot rows (the bias, frequent features) and overshoot at the default steps, so those
  // default to kExact (see EffectiveSync).
  bool sync_set = false;
  uint64_t sync_every = 256;     // kLocal: batches between exchanges with the servers
  // kLocal: models that can (Model::TrainsExampleAtATime) step every row after each example;
  // false: one step per row per batch from the summed gradients, as kExact does.
  bool example_steps = true;
  // kLocal, pair models (Model::PairTables) with example steps: epochs from memory train in a
  // grid of blocks x blocks conflict-free blocks (worker/block_scheduler.h); -1 chooses the
  // grid, 0 trains in one shuffled order instead.
  int blocks = -1;
  // Tests: each worker appends the rows it changed in every block sub-epoch to this path plus .<worker index>.
  std::string block_log;
  size_t input_cache_bytes = size_t{4} << 30;  // kLocal: a worker's parsed share kept in memory (0 = read every epoch)
  uint64_t replica_rows = uint64_t{1} << 24;  // kLocal: sparse rows a worker holds before it forgets them at a sync
  uint64_t seed = 1;
  size_t shuffle_buffer = 100000;
  BadLinePolicy bad_lines = BadLinePolicy::kFail;
  int compute_threads = 1;
  double progress_every_s = 5;
  std::string metrics_out;       // JSON lines
  std::string predictions_out;   // optional: worker 0 writes its final test predictions here
  double clock_timeout_s = 600;  // longest wait for slower workers before giving up
  std::string checkpoint_dir;    // empty: no checkpoints
  int checkpoint_every_epochs = 0;  // 0: none
  uint64_t checkpoint_every_steps = 0;    // mid-epoch cuts every N steps (batch clocks); 0: none
  double checkpoint_every_seconds = 0;    // mid-epoch cuts every N seconds; 0: none
  int full_every = 5;            // every N-th checkpoint is full, the others deltas (1: always full)
  int keep_checkpoints = 3;
  // Live publishing (serving/publisher.h): every checkpoint is also published as a serving
  // bundle version in publish_dir (a delta against the previous version; every
  // publish_full_every-th a full bundle).
  std::string publish_dir;
  int publish_full_every = 10;
  // The quality guard: a checkpoint is not published when the mean training loss of the
  // examples since the previous publish attempt (each scored before the model trained on it:
  // progressive validation on a stream) exceeds that of the examples before the version last
  // published by more than this fraction (0: off). See TrainApp::MaybePublish.
  double publish_guard = 0.25;
  bool resume = false;           // continue from the latest complete checkpoint in checkpoint_dir
  bool ranking = false;          // the model ranks items (Model::IsRanking): ranking evaluation
  ModelTask task = ModelTask::kClassification;  // the model's (Describe().task): how tests are evaluated
  int top_k = 10;                // ranking: K of Recall@K, NDCG@K, HitRate@K
  std::string items;             // ranking: optional item catalogue file (libffm, one item a line)
  BoundedMemoryOptions server_memory;  // admission / TTL / budget on the servers (off by default)
  int slow_worker = -1;          // testing only: this worker sleeps slow_ms per batch
  int slow_ms = 0;
  // The model options the user set, as text (models/model_spec.h); every checkpoint's MANIFEST
  // records them as "option NAME VALUE" lines so `embark export` can rebuild the model.
  std::vector<std::pair<std::string, std::string>> model_options;
};

// The synchronisation a job with `num_workers` workers uses (see TrainOptions::sync_set).
inline SyncMode EffectiveSync(const TrainOptions& o, int num_workers) {
  if (o.sync_set || o.sync == SyncMode::kExact) return o.sync;
  const ModelInfo* info = FindModel(o.model);
  if (num_workers == 1 || (info != nullptr && info->local_sync)) return SyncMode::kLocal;
  return SyncMode::kExact;
}

// How a worker's staleness bound is enforced: BSP = 0, SSP = staleness, ASP = unbounded.
inline int64_t EffectiveStaleness(const TrainOptions& o) {
  switch (o.consistency) {
    case Consistency::kBsp: return 0;
    case Consistency::kSsp: return o.staleness;
    case Consistency::kAsp: return INT64_MAX / 2;
  }
  return 0;
}

}  // namespace embark
