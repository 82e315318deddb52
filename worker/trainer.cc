#include "worker/trainer.h"

#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <mutex>
#include <numeric>
#include <thread>

#include "core/hash.h"
#include "worker/epoch_cache.h"
#include "worker/evaluation.h"
#include "worker/row_replica.h"
#include "data/input_position.h"
#include "worker/train_protocol.h"

namespace embark {

namespace {
// The held rows that are stale (not read since the last exchange), each once, per table: what a
// coming stretch of training must read again before it starts (PullIntoReplica).
class StaleRows {
 public:
  StaleRows(const RowReplica& rep, size_t tables) : rep_(rep), rows_(tables), seen_(tables) {}
  void Note(int t, uint32_t index) {
    if (rep_.IsFresh(t, index)) return;
    if (seen_[t].empty()) seen_[t].assign(rep_.held(t), 0);
    if (seen_[t][index]) return;
    seen_[t][index] = 1;
    rows_[t].push_back(index);
  }
  const std::vector<std::vector<uint32_t>>& rows() const { return rows_; }

 private:
  const RowReplica& rep_;
  std::vector<std::vector<uint32_t>> rows_;
  std::vector<std::vector<uint8_t>> seen_;
};
}  // namespace

Status ParseConsistency(const std::string& name, Consistency* out) {
  if (name == "bsp") *out = Consistency::kBsp;
  else if (name == "ssp") *out = Consistency::kSsp;
  else if (name == "asp") *out = Consistency::kAsp;
  else return Status::InvalidArgument("--consistency must be bsp, ssp or asp, got '" + name + "'");
  return Status::OK();
}

const char* ConsistencyName(Consistency c) {
  switch (c) {
    case Consistency::kBsp: return "bsp";
    case Consistency::kSsp: return "ssp";
    case Consistency::kAsp: return "asp";
  }
  return "?";
}

Status ParseSyncMode(const std::string& name, SyncMode* out) {
  if (name == "exact") *out = SyncMode::kExact;
  else if (name == "local") *out = SyncMode::kLocal;
  else return Status::InvalidArgument("--sync must be exact or local, got '" + name + "'");
  return Status::OK();
}

const char* SyncModeName(SyncMode m) { return m == SyncMode::kLocal ? "local" : "exact"; }

Trainer::Trainer(const TrainOptions& opts, const Model& model, WorkerContext& ctx)
    : opts_(opts),
      model_(model),
      ctx_(ctx),
      kv_(*ctx.kv),
      tables_(kv_.placement().tables()),
      pool_(opts.compute_threads),
      part_grads_(pool_.parts()) {
  dense_block_ids_.resize(tables_.size());
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (!tables_[t].dense) continue;
    for (uint32_t b = 0; b < kv_.placement().NumDenseBlocks(t); ++b) dense_block_ids_[t].push_back(b);
  }
  for (int i = 0; i < 2; ++i) slots_.push_back(std::make_unique<Slot>());
}

Status Trainer::PreparePulls(const Batch& batch, Slot* slot) {
  const size_t n_tables = tables_.size();
  slot->keys.resize(n_tables);
  slot->rows.rows.resize(n_tables);
  slot->pull_ts.assign(n_tables, 0);
  slot->feature_pos.resize(n_tables);
  slot->rows.row_of_feature.assign(batch.num_features(), -1);
  std::vector<std::vector<uint64_t>> table_keys(n_tables);
  for (auto& p : slot->feature_pos) p.clear();
  for (size_t i = 0; i < batch.num_features(); ++i) {
    const int t = model_.TableOfField(batch.fields[i]);
    if (t < 0) continue;
    if (t >= static_cast<int>(n_tables) || tables_[t].dense) {
      return Status::Internal("model " + model_.name() + " maps field " + std::to_string(batch.fields[i]) +
                              " to table " + std::to_string(t) + ", which is not a sparse table");
    }
    table_keys[t].push_back(batch.keys[i]);
    slot->feature_pos[t].push_back(static_cast<uint32_t>(i));
  }
  for (size_t t = 0; t < n_tables; ++t) {
    PreparedKeys& keys = slot->keys[t];
    if (tables_[t].dense) {
      kv_.Prepare(t, dense_block_ids_[t].data(), dense_block_ids_[t].size(), &keys);
    } else {
      kv_.Prepare(t, table_keys[t].data(), table_keys[t].size(), &keys);
      for (size_t j = 0; j < slot->feature_pos[t].size(); ++j)
        slot->rows.row_of_feature[slot->feature_pos[t][j]] = static_cast<int32_t>(keys.index_of_input[j]);
    }
    slot->rows.rows[t].resize(keys.size() * kv_.RowWidth(t));
    if (keys.size() > 0) slot->pull_ts[t] = kv_.Pull(keys, slot->rows.rows[t].data());
  }
  return Status::OK();
}

Status Trainer::WaitPulls(Slot* slot) {
  Status first;
  for (int& ts : slot->pull_ts) {
    if (ts == 0) continue;
    Status st = kv_.Wait(ts);
    ts = 0;
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

void Trainer::UngroupDense(Slot* slot) {
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (!tables_[t].dense) continue;
    const uint32_t width = kv_.RowWidth(t);
    const PreparedKeys& keys = slot->keys[t];
    std::vector<float> flat(tables_[t].dense_size);
    for (size_t b = 0; b < keys.index_of_input.size(); ++b) {
      const uint64_t begin = b * width;
      const uint64_t len = std::min<uint64_t>(width, tables_[t].dense_size - begin);
      std::memcpy(flat.data() + begin, slot->rows.rows[t].data() + size_t{keys.index_of_input[b]} * width, len * sizeof(float));
    }
    slot->rows.rows[t].swap(flat);
  }
}

LossSum Trainer::ForwardBackwardParts(const Batch& batch, const PulledRows& rows) {
  const size_t n_tables = tables_.size();
  const int parts = pool_.parts();
  const size_t n = batch.size();
  std::vector<LossSum> losses(parts);
  for (int p = 0; p < parts; ++p) {
    part_grads_[p].rows.resize(n_tables);
    for (size_t t = 0; t < n_tables; ++t) part_grads_[p].rows[t].assign(rows.rows[t].size(), 0.0f);
  }
  pool_.Run([&](int p) {
    const size_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) losses[p] = model_.ForwardBackward(batch, begin, end, rows, &part_grads_[p]);
  });
  // Parts are summed in a fixed order, so a run's result does not depend on thread timing.
  for (size_t t = 0; t < n_tables; ++t) {
    std::vector<float>& sum = part_grads_[0].rows[t];
    for (int p = 1; p < parts; ++p) {
      const std::vector<float>& g = part_grads_[p].rows[t];
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += g[i];
    }
  }
  LossSum total;
  for (const LossSum& l : losses) {
    total.loss += l.loss;
    total.examples += l.examples;
  }
  return total;
}

LossSum Trainer::Compute(Slot* slot) {
  const size_t n_tables = tables_.size();
  const LossSum total = ForwardBackwardParts(slot->batch, slot->rows);
  slot->push_buffers.resize(n_tables);
  for (size_t t = 0; t < n_tables; ++t) {
    std::vector<float>& sum = part_grads_[0].rows[t];
    if (tables_[t].dense) {
      // Back to server-grouped blocks, padded to the block width.
      const uint32_t width = kv_.RowWidth(t);
      const PreparedKeys& keys = slot->keys[t];
      slot->push_buffers[t].assign(keys.size() * width, 0.0f);
      for (size_t b = 0; b < keys.index_of_input.size(); ++b) {
        const uint64_t begin = b * width;
        const uint64_t len = std::min<uint64_t>(width, tables_[t].dense_size - begin);
        std::memcpy(slot->push_buffers[t].data() + size_t{keys.index_of_input[b]} * width, sum.data() + begin, len * sizeof(float));
      }
    } else {
      slot->push_buffers[t].swap(sum);
    }
  }
  return total;
}

Status Trainer::PushGradients(Slot* slot) {
  slot->push_ts.assign(tables_.size(), 0);
  for (size_t t = 0; t < tables_.size(); ++t)
    if (slot->keys[t].size() > 0) slot->push_ts[t] = kv_.Push(slot->keys[t], slot->push_buffers[t].data());
  return Status::OK();
}

Status Trainer::WaitPushes(Slot* slot) {
  Status first;
  for (int& ts : slot->push_ts) {
    if (ts == 0) continue;
    Status st = kv_.Wait(ts);
    ts = 0;
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status Trainer::WaitForClock(int epoch, uint64_t clock, const std::function<Status()>& while_waiting) {
  const int64_t bound = EffectiveStaleness(opts_);
  if (opts_.consistency == Consistency::kAsp) return Status::OK();
  // A cut request must be noticed while blocked here (the worker we wait for may be paused).
  const double round_s = while_waiting ? 0.1 : 1.0;
  if (min_clock_epoch_ != epoch) {
    min_clock_epoch_ = epoch;
    min_clock_ = 0;
  }
  double deadline = NowSeconds() + opts_.clock_timeout_s;
  while (static_cast<int64_t>(clock) - static_cast<int64_t>(min_clock_) > bound) {
    std::string payload;
    if (while_waiting) {
      // Time spent paused for a checkpoint is not time spent waiting for slower workers.
      const double paused_from = NowSeconds();
      EMBARK_RETURN_IF_ERROR(while_waiting());
      deadline += NowSeconds() - paused_from;
    }
    Status st = ctx_.control->WaitApp(kTrainMinClock, &payload, round_s);
    if (st.ok()) {
      MinClock m;
      if (!DecodeMsg(payload, &m)) return Status::Corruption("undecodable clock message from the scheduler");
      if (m.epoch == epoch) min_clock_ = std::max(min_clock_, m.min_clock);
    } else if (NowSeconds() > deadline) {
      return Status::Timeout("worker " + std::to_string(ctx_.worker_index) + " waited " +
                             std::to_string(static_cast<int>(opts_.clock_timeout_s)) +
                             " s for slower workers to reach clock " + std::to_string(clock - bound) +
                             " (epoch " + std::to_string(epoch) + ")");
    }
  }
  return Status::OK();
}

Status Trainer::ReportClock(int epoch, uint64_t clock, uint64_t examples, double loss_sum) {
  last_clock_report_ = NowSeconds();
  ClockReport r;
  r.epoch = epoch;
  r.clock = clock;
  r.examples = examples;
  r.loss_sum = loss_sum;
  return ctx_.control->SendToScheduler(kTrainClock, EncodeMsg(r));
}

Status Trainer::Load(DataReader* reader, Slot* slot, bool* end) {
  EMBARK_RETURN_IF_ERROR(reader->Next(&slot->batch, end));
  if (*end) return Status::OK();
  return PreparePulls(slot->batch, slot);
}

bool Trainer::CutDue(int epoch, uint64_t clock, bool idle) {
  std::string payload;
  while (ctx_.control->WaitApp(kTrainCut, &payload, 0).ok()) {
    CutRequest c;
    if (!DecodeMsg(payload, &c)) {
      cut_decode_failed_ = true;
      return true;  // PauseIfCut reports it
    }
    if (c.epoch != epoch) continue;  // meant for an epoch this worker already finished
    cut_pending_ = true;
    cut_clock_ = c.clock;
  }
  return cut_pending_ && (idle || clock >= cut_clock_);
}

Status Trainer::PauseIfCut(int epoch, uint64_t clock, uint64_t examples, double loss_sum, const Batch* held, bool idle) {
  const bool due = CutDue(epoch, clock, idle);
  if (cut_decode_failed_) return Status::Corruption("undecodable cut request from the scheduler");
  if (!due) return Status::OK();
  cut_pending_ = false;
  InputPosition pos;
  pos.epoch = epoch;
  pos.clock = clock;
  pos.examples = examples;
  pos.loss_sum = loss_sum;
  if (opts_.stream) {
    // Events read ahead (held, queued) are after the trained position: read again on resume.
    EMBARK_RETURN_IF_ERROR(StreamCutOf(&pos));
  } else {
    EMBARK_RETURN_IF_ERROR(reader_->Snapshot(&pos.input));
    if (held != nullptr) {
      pos.input.pending.insert(pos.input.pending.end(), held->origins.begin(), held->origins.end());
      std::sort(pos.input.pending.begin(), pos.input.pending.end());
    }
  }
  EMBARK_RETURN_IF_ERROR(ctx_.control->SendToScheduler(kTrainPaused, EncodePosition(pos)));
  // Nobody pushes until the servers have written their shards: the cut is consistent.
  std::string done;
  EMBARK_RETURN_IF_ERROR(WaitFor(kTrainCutDone, "the mid-epoch checkpoint to be written", &done));
  const size_t nl = done.find('\n');
  if (nl != std::string::npos && done.substr(nl + 1) == "stop") {
    stop_at_cut_ = true;
    LOG(INFO) << "worker " << ctx_.worker_index << " stops at the final checkpoint " << done.substr(0, nl);
  }
  return Status::OK();
}

Status Trainer::StreamCutOf(InputPosition* pos) {
  pos->has_stream = true;
  pos->stream.stream = StreamIdentity(opts_.train);
  pos->stream.next = trained_stream_;
  if (trained_log_) {
    uint64_t bytes = 0;
    EMBARK_RETURN_IF_ERROR(trained_log_->Commit(&bytes));
    pos->stream.trained_logs[ctx_.worker_index] = bytes;
  }
  return Status::OK();
}

Status Trainer::ResolveLocal(LocalBatch* lb, std::vector<std::vector<uint32_t>>* deferred) {
  const Batch& batch = lb->batch;
  const size_t n_tables = tables_.size();
  RowReplica& rep = *replica_;
  lb->replica_row.assign(batch.num_features(), -1);
  std::vector<std::vector<uint64_t>> missing(n_tables);
  for (size_t i = 0; i < batch.num_features(); ++i) {
    const int t = TableOf(batch.fields[i]);
    if (t < 0) continue;
    if (t >= static_cast<int>(n_tables) || tables_[t].dense) {
      return Status::Internal("model " + model_.name() + " maps field " + std::to_string(batch.fields[i]) +
                              " to table " + std::to_string(t) + ", which is not a sparse table");
    }
    lb->replica_row[i] = static_cast<int32_t>(rep.Resolve(t, batch.keys[i], &missing[t]));
  }
  // Rows this worker does not hold yet come from their servers, all tables at once: Resolve
  // gave them the indices after the ones held before this batch.
  std::vector<std::vector<uint32_t>> fresh_rows(n_tables);
  for (size_t t = 0; t < n_tables; ++t) {
    if (missing[t].empty()) continue;
    replica_misses_ += missing[t].size();
    const uint32_t first = static_cast<uint32_t>(rep.held(t) - missing[t].size());
    for (uint32_t k = 0; k < missing[t].size(); ++k) fresh_rows[t].push_back(first + k);
  }
  if (deferred != nullptr) {
    deferred->resize(n_tables);
    for (size_t t = 0; t < n_tables; ++t) (*deferred)[t].insert((*deferred)[t].end(), fresh_rows[t].begin(), fresh_rows[t].end());
    return Status::OK();
  }
  return PullIntoReplica(fresh_rows);
}

Status Trainer::GatherLocal(LocalBatch* lb) {
  const Batch& batch = lb->batch;
  const size_t n_tables = tables_.size();
  RowReplica& rep = *replica_;
  lb->rows.rows.resize(n_tables);
  lb->uniq.resize(n_tables);
  for (auto& u : lb->uniq) u.clear();
  lb->rows.row_of_feature.assign(batch.num_features(), -1);
  lb->stamp.resize(n_tables);
  lb->compact.resize(n_tables);
  if (++lb->seq == 0) {  // the stamps wrapped: forget them all
    for (auto& st : lb->stamp) std::fill(st.begin(), st.end(), 0);
    lb->seq = 1;
  }
  // Each replica row read by the batch gets one compact row (duplicates share it).
  for (size_t i = 0; i < batch.num_features(); ++i) {
    const int32_t index = lb->replica_row[i];
    if (index < 0) continue;
    const int t = TableOf(batch.fields[i]);
    std::vector<uint32_t>& stamp = lb->stamp[t];
    std::vector<uint32_t>& compact = lb->compact[t];
    if (static_cast<size_t>(index) >= stamp.size()) {
      stamp.resize(rep.held(t), 0);
      compact.resize(rep.held(t));
    }
    if (stamp[index] != lb->seq) {
      stamp[index] = lb->seq;
      compact[index] = static_cast<uint32_t>(lb->uniq[t].size());
      lb->uniq[t].push_back(static_cast<uint32_t>(index));
    }
    lb->rows.row_of_feature[i] = static_cast<int32_t>(compact[index]);
  }
  // Rows gone stale at the last sync (held, but not used in its interval) are read again.
  EMBARK_RETURN_IF_ERROR(RefreshStale(lb));
  for (size_t t = 0; t < n_tables; ++t) {
    std::vector<float>& out = lb->rows.rows[t];
    if (tables_[t].dense) {
      out.resize(rep.dim(t));
      rep.DenseWeights(t, out.data());
      continue;
    }
    lb->lookups += lb->uniq[t].size();
    const uint32_t dim = rep.dim(t);
    out.resize(lb->uniq[t].size() * size_t{dim});
    for (size_t j = 0; j < lb->uniq[t].size(); ++j)
      std::memcpy(out.data() + j * dim, rep.Row(t, lb->uniq[t][j]), dim * sizeof(float));
  }
  return Status::OK();
}

Status Trainer::PullIntoReplica(const std::vector<std::vector<uint32_t>>& rows) {
  RowReplica& rep = *replica_;
  const size_t n_tables = rows.size();
  std::vector<PreparedKeys> prepared(n_tables);
  std::vector<std::vector<float>> fetched(n_tables);
  std::vector<int> ts(n_tables, 0);
  std::vector<uint64_t> keys;
  for (size_t t = 0; t < n_tables; ++t) {
    if (rows[t].empty()) continue;
    keys.clear();
    for (uint32_t index : rows[t]) keys.push_back(rep.keys(t)[index]);
    kv_.Prepare(t, keys.data(), keys.size(), &prepared[t]);
    fetched[t].resize(prepared[t].size() * size_t{kv_.placement().StoredRowWidth(t)});
    ts[t] = kv_.PullRows(prepared[t], fetched[t].data());
  }
  Status first;
  for (size_t t = 0; t < n_tables; ++t) {
    if (ts[t] == 0) continue;
    Status st = kv_.Wait(ts[t]);
    if (!st.ok()) {
      if (first.ok()) first = st;
      continue;
    }
    const uint32_t width = kv_.placement().StoredRowWidth(t);
    for (size_t i = 0; i < rows[t].size(); ++i)
      rep.FillIndex(t, rows[t][i], fetched[t].data() + size_t{prepared[t].index_of_input[i]} * width);
  }
  return first;
}

Status Trainer::PrefetchInterval() {
  if (epoch_cache_ == nullptr || !cache_complete_) return Status::OK();
  const size_t n_tables = tables_.size();
  RowReplica& rep = *replica_;
  std::vector<int32_t> rows;
  std::vector<uint16_t> fields;
  epoch_cache_->Peek(opts_.sync_every * opts_.batch_size, &rows, &fields);
  StaleRows stale(rep, n_tables);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i] >= 0) stale.Note(TableOf(fields[i]), static_cast<uint32_t>(rows[i]));
  return PullIntoReplica(stale.rows());
}

Status Trainer::RefreshStale(LocalBatch* lb) {
  RowReplica& rep = *replica_;
  const size_t n_tables = tables_.size();
  std::vector<std::vector<uint32_t>>& stale = lb->stale;
  stale.resize(n_tables);
  bool any = false;
  for (size_t t = 0; t < n_tables; ++t) {
    stale[t].clear();
    if (tables_[t].dense) continue;
    for (uint32_t index : lb->uniq[t])
      if (!rep.IsFresh(t, index)) stale[t].push_back(index);
    any |= !stale[t].empty();
  }
  if (!any) return Status::OK();
  for (const auto& rows : stale) lb->stale_pulled += rows.size();
  return PullIntoReplica(stale);
}

LossSum Trainer::ComputeLocal(LocalBatch* lb, Gradients* grads) {
  const size_t n_tables = tables_.size();
  RowReplica& rep = *replica_;
  if (grads != nullptr) {
    grads->rows.resize(n_tables);
    for (size_t t = 0; t < n_tables; ++t) grads->rows[t].assign(lb->rows.rows[t].size(), 0.0f);
    const LossSum loss = model_.ForwardBackward(lb->batch, 0, lb->batch.size(), lb->rows, grads);
    for (size_t t = 0; t < n_tables; ++t) {
      const std::vector<float>& g = grads->rows[t];
      if (tables_[t].dense) {
        rep.ApplyDense(t, g.data());
        continue;
      }
      const uint32_t dim = rep.dim(t);
      for (size_t j = 0; j < lb->uniq[t].size(); ++j) rep.ApplyUntracked(t, lb->uniq[t][j], g.data() + j * dim);
    }
    return loss;
  }
  const LossSum total = ForwardBackwardParts(lb->batch, lb->rows);
  for (size_t t = 0; t < n_tables; ++t) {
    const std::vector<float>& sum = part_grads_[0].rows[t];
    if (tables_[t].dense) {
      rep.ApplyDense(t, sum.data());
      continue;
    }
    const uint32_t dim = rep.dim(t);
    for (size_t j = 0; j < lb->uniq[t].size(); ++j) rep.Apply(t, lb->uniq[t][j], sum.data() + j * dim);
  }
  return total;
}

Status Trainer::TrainLocalBatch(LocalBatch* lb, Gradients* grads, LossSum* loss) {
  if (opts_.example_steps && model_.TrainsExampleAtATime()) return TrainExamplesInPlace(lb, grads == nullptr, loss);
  EMBARK_RETURN_IF_ERROR(GatherLocal(lb));
  *loss = ComputeLocal(lb, grads);
  return Status::OK();
}

Status Trainer::TrainExamplesInPlace(LocalBatch* lb, bool tracked, LossSum* loss) {
  const Batch& batch = lb->batch;
  const size_t n_tables = tables_.size();
  RowReplica& rep = *replica_;
  // Rows gone stale at the last sync are read again first (once each: stamped per batch).
  lb->stamp.resize(n_tables);
  lb->stale.resize(n_tables);
  for (auto& st : lb->stale) st.clear();
  if (++lb->seq == 0) {
    for (auto& st : lb->stamp) std::fill(st.begin(), st.end(), 0);
    lb->seq = 1;
  }
  bool any_stale = false;
  for (size_t i = 0; i < batch.num_features(); ++i) {
    const int32_t index = lb->replica_row[i];
    if (index < 0) continue;
    const int t = TableOf(batch.fields[i]);
    if (rep.IsFresh(t, static_cast<uint32_t>(index))) continue;
    std::vector<uint32_t>& stamp = lb->stamp[t];
    if (static_cast<size_t>(index) >= stamp.size()) stamp.resize(rep.held(t), 0);
    if (stamp[index] == lb->seq) continue;
    stamp[index] = lb->seq;
    lb->stale[t].push_back(static_cast<uint32_t>(index));
    any_stale = true;
  }
  if (any_stale) {
    for (const auto& rows : lb->stale) lb->stale_pulled += rows.size();
    EMBARK_RETURN_IF_ERROR(PullIntoReplica(lb->stale));
  }
  lb->dense.resize(n_tables);
  lb->dense_grad.resize(n_tables);
  uint32_t widest = 0;
  for (size_t t = 0; t < n_tables; ++t) {
    if (!tables_[t].dense) {
      widest = std::max(widest, rep.dim(t));
      continue;
    }
    lb->dense[t].resize(rep.dim(t));
    rep.DenseWeights(t, lb->dense[t].data());
    lb->dense_grad[t].assign(rep.dim(t), 0.0f);
  }
  uint32_t longest = 0;
  for (size_t e = 0; e < batch.size(); ++e) longest = std::max(longest, batch.offsets[e + 1] - batch.offsets[e]);
  if (lb->example_row.size() < longest) {
    lb->example_row.resize(longest);
    lb->example_grad.resize(longest);
    lb->example_table.resize(longest);
    lb->example_index.resize(longest);
  }
  if (lb->grad_scratch.size() < size_t{longest} * widest) lb->grad_scratch.resize(size_t{longest} * widest);
  const ExampleRows rows{lb->example_row.data(), lb->example_grad.data(), lb->dense.data(), lb->dense_grad.data()};
  LossSum out;
  // Rows are read at random, and past the caches each read waits for memory: fetch the rows
  // (weights and optimizer state) of the example kRowPrefetch places ahead while this one
  // computes. 16 ahead: on 1.6M generated ratings over 60k rows (31 MB of rows, past the
  // caches) an epoch takes 1.9 s of CPU without, 1.1 s at 4 ahead, 0.9-1.0 s at 16.
  constexpr size_t kRowPrefetch = 16;
  auto prefetch_rows = [&](size_t e) {
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      const int32_t index = lb->replica_row[f];
      if (index < 0) continue;
      const int t = TableOf(batch.fields[f]);
      const char* row = reinterpret_cast<const char*>(rep.Row(t, static_cast<uint32_t>(index)));
      const size_t bytes = size_t{rep.stored_width(t)} * sizeof(float);
      for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(row + off, 1);
    }
  };
  for (size_t e = 0; e < std::min(kRowPrefetch, batch.size()); ++e) prefetch_rows(e);
  for (size_t e = 0; e < batch.size(); ++e) {
    if (e + kRowPrefetch < batch.size()) prefetch_rows(e + kRowPrefetch);
    const uint32_t begin = batch.offsets[e];
    const uint32_t n = batch.offsets[e + 1] - begin;
    for (uint32_t j = 0; j < n; ++j) {
      const int32_t index = lb->replica_row[begin + j];
      lb->example_index[j] = index;
      if (index < 0) {
        lb->example_row[j] = nullptr;
        lb->example_grad[j] = nullptr;
        lb->example_table[j] = -1;
        continue;
      }
      const int t = TableOf(batch.fields[begin + j]);
      lb->example_table[j] = t;
      lb->example_row[j] = rep.Row(t, static_cast<uint32_t>(index));
      float* g = lb->grad_scratch.data() + size_t{j} * widest;
      std::fill(g, g + rep.dim(t), 0.0f);
      lb->example_grad[j] = g;
    }
    out.loss += model_.ExampleForwardBackward(batch, e, rows);
    // Occurrences that share a row take one step with their summed gradient, as in a batch.
    for (uint32_t j = 1; j < n; ++j) {
      if (lb->example_table[j] < 0) continue;
      for (uint32_t k = 0; k < j; ++k) {
        if (lb->example_table[k] != lb->example_table[j] || lb->example_index[k] != lb->example_index[j]) continue;
        const uint32_t dim = rep.dim(lb->example_table[j]);
        for (uint32_t c = 0; c < dim; ++c) lb->example_grad[k][c] += lb->example_grad[j][c];
        lb->example_table[j] = -1;
        break;
      }
    }
    for (uint32_t j = 0; j < n; ++j) {
      const int t = lb->example_table[j];
      if (t < 0) continue;
      if (tracked) rep.Apply(t, static_cast<uint32_t>(lb->example_index[j]), lb->example_grad[j]);
      else rep.ApplyUntracked(t, static_cast<uint32_t>(lb->example_index[j]), lb->example_grad[j]);
    }
  }
  for (size_t t = 0; t < n_tables; ++t)
    if (tables_[t].dense) rep.ApplyDense(t, lb->dense_grad[t].data());
  lb->lookups += batch.num_features();
  out.examples = batch.size();
  *loss = out;
  return Status::OK();
}

LossSum Trainer::TrainCachedRound(uint64_t batches, uint64_t* trained, uint64_t* examples, Status* error) {
  // Hogwild (Niu et al., NIPS 2011): the threads' batches rarely share a row, and when they do
  // an update may be lost to a race; that is the price of no locks. Changes are not tracked
  // per row (the list would need a lock): the next sync compares every held row with its base.
  replica_->MarkAllChanged();
  std::mutex mu;
  Status round_error;
  uint64_t taken = 0;
  std::vector<LossSum> losses(pool_.parts());
  std::vector<uint64_t> counts(pool_.parts(), 0);
  pool_.Run([&](int p) {
    LocalBatch& lb = local_batches_[p];
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (taken >= batches || !epoch_cache_->Next(opts_.batch_size, &lb.batch, &lb.replica_row)) return;
        ++taken;
      }
      LossSum l;
      Status st = TrainLocalBatch(&lb, &part_grads_[p], &l);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (round_error.ok()) round_error = st;
        taken = batches;  // the other threads stop too
        return;
      }
      losses[p].loss += l.loss;
      losses[p].examples += l.examples;
      counts[p] += lb.batch.size();
    }
  });
  LossSum total;
  for (int p = 0; p < pool_.parts(); ++p) {
    total.loss += losses[p].loss;
    total.examples += losses[p].examples;
    *examples += counts[p];
  }
  *trained = taken;
  *error = round_error;
  return total;
}

bool Trainer::PairOfExample(const uint16_t* fields, const int32_t* rows, size_t n, size_t* user, size_t* item) {
  int user_table = -1, item_table = -1;
  model_.PairTables(&user_table, &item_table);
  int users = 0, items = 0;
  for (size_t f = 0; f < n; ++f) {
    if (rows != nullptr && rows[f] < 0) continue;
    const int t = TableOf(fields[f]);
    if (t < 0) continue;  // a field the model ignores
    if (t == user_table) {
      *user = f;
      ++users;
    } else if (t == item_table) {
      *item = f;
      ++items;
    } else {
      return false;
    }
  }
  return users == 1 && items == 1;
}

void Trainer::KeepOwnUsers(Batch* batch) {
  const uint32_t workers = static_cast<uint32_t>(ctx_.num_workers);
  const uint32_t grid = static_cast<uint32_t>(block_grid_);
  Batch kept;
  for (size_t e = 0; e < batch->size(); ++e) {
    const uint32_t begin = batch->offsets[e], end = batch->offsets[e + 1];
    size_t user = 0, item = 0;
    const bool pair = PairOfExample(&batch->fields[begin], nullptr, end - begin, &user, &item);
    all_pairs_ = all_pairs_ && pair;
    const uint32_t owner = pair ? RatingBlocks::BlockOf(batch->keys[begin + user], 0, grid) % workers
                                : static_cast<uint32_t>(examples_seen_ % workers);
    ++examples_seen_;
    if (owner != static_cast<uint32_t>(ctx_.worker_index)) continue;
    ++examples_kept_;
    for (uint32_t f = begin; f < end; ++f) kept.AddFeature(batch->keys[f], batch->values[f], batch->fields[f]);
    kept.EndExample(batch->labels[e]);
    if (!batch->origins.empty()) kept.origins.push_back(batch->origins[e]);
  }
  std::swap(*batch, kept);
}

void Trainer::BuildBlocks() {
  int user_table = -1, item_table = -1;
  if (opts_.blocks == 0 || !opts_.example_steps || !model_.PairTables(&user_table, &item_table)) return;
  const int workers = ctx_.num_workers;
  // Several workers train blocks only on shares cut by user (the repartition), all of pairs.
  if (workers > 1 && (!repartition_ || !all_pairs_)) return;
  if (epoch_cache_ == nullptr) return;
  // Enough blocks a side that every thread finds a free one (a thread holds a row and a
  // column of the grid: with twice as many as threads, a finished thread rarely waits); with
  // W workers each trains a (G/W) x (G/W) part of the grid per sub-epoch.
  const uint32_t grid = static_cast<uint32_t>(block_grid_);
  auto blocks = std::make_unique<RatingBlocks>(grid);
  std::string refused;
  epoch_cache_->ForEachExample([&](float label, const uint64_t* keys, const uint16_t* fields, const int32_t* rows,
                                   size_t n) {
    if (!refused.empty()) return;
    size_t user = 0, item = 0;
    if (!PairOfExample(fields, rows, n, &user, &item)) {
      refused = "an example does not have exactly one user and one item feature, and nothing else";
      return;
    }
    blocks->Add(keys[user], keys[item],
                PairExample{static_cast<uint32_t>(rows[user]), static_cast<uint32_t>(rows[item]), label});
  });
  if (!refused.empty()) {
    // (With several workers all_pairs_ already held, so every worker keeps to the same path.)
    LOG(INFO) << "worker " << ctx_.worker_index << ": trains in one shuffled order, not in blocks: " << refused;
    return;
  }
  // Ratings are grouped by the side with more rows (RatingBlocks' header): its rows are the
  // ones that would not stay cached otherwise.
  blocks->set_group_axis(replica_->held(user_table) >= replica_->held(item_table) ? 0 : 1);
  // Part of loading (as LIBMF sorts its blocks before its first iteration), not of epoch 1.
  blocks->GroupAll();
  blocks_ = std::move(blocks);
  block_scheduler_ = std::make_unique<BlockScheduler>(grid, opts_.clock_timeout_s);
  epoch_cache_.reset();  // the blocks hold every example (12 bytes each instead of 52)
}

Status Trainer::TrainBlockRound(int epoch, const std::vector<uint32_t>& round, uint64_t seed,
                                 const std::function<uint64_t(uint64_t)>& clock_at, uint64_t* examples, double* loss_sum) {
  int user_table = -1, item_table = -1;
  model_.PairTables(&user_table, &item_table);
  RowReplica& rep = *replica_;
  const size_t n_tables = tables_.size();
  // Rows gone stale since they were read (another worker's changes) are read again first.
  {
    StaleRows stale(rep, n_tables);
    for (uint32_t b : round)
      for (const PairExample& e : blocks_->block(b)) {
        stale.Note(user_table, e.user);
        stale.Note(item_table, e.item);
      }
    EMBARK_RETURN_IF_ERROR(PullIntoReplica(stale.rows()));
  }
  block_scheduler_->StartRound(round, seed);
  // One thread steps rows with change tracking; several step them untracked (the change list
  // is shared) and the next sync compares every held row with its base.
  const bool tracked = pool_.parts() == 1;
  if (!tracked) rep.MarkAllChanged();
  std::mutex mu;  // dense steps, the first error, the totals
  Status error;
  std::atomic<uint64_t> done_examples{0};
  double total_loss = 0;
  const uint64_t batch = opts_.batch_size;
  pool_.Run([&](int p) {
    std::vector<std::vector<float>> dense(n_tables), dense_grad(n_tables);
    auto read_dense = [&] {
      for (size_t t = 0; t < n_tables; ++t) {
        if (!tables_[t].dense) continue;
        dense[t].resize(rep.dim(t));
        rep.DenseWeights(t, dense[t].data());
        dense_grad[t].assign(rep.dim(t), 0.0f);
      }
    };
    // Dense tables (mf: the global mean) take one step per --batch_size examples, as on the
    // other local paths; the threads share them, so the step holds the lock.
    auto step_dense = [&] {
      std::lock_guard<std::mutex> lock(mu);
      for (size_t t = 0; t < n_tables; ++t)
        if (tables_[t].dense) rep.ApplyDense(t, dense_grad[t].data());
      read_dense();
    };
    {
      std::lock_guard<std::mutex> lock(mu);
      read_dense();
    }
    const uint32_t user_dim = rep.dim(user_table), item_dim = rep.dim(item_table);
    const size_t user_bytes = size_t{rep.stored_width(user_table)} * sizeof(float);
    const size_t item_bytes = size_t{rep.stored_width(item_table)} * sizeof(float);
    std::vector<float> user_grad(user_dim), item_grad(item_dim);
    double loss = 0;
    uint64_t since_dense = 0;
    while (true) {
      uint32_t b = 0;
      bool over = false;
      Status st = block_scheduler_->Take(&b, &over);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (error.ok()) error = st;
        block_scheduler_->Abort();
        break;
      }
      if (over) break;
      blocks_->ShuffleBlock(b, seed);
      const std::vector<PairExample>& ex = blocks_->block(b);
      // Rows are read at random within the block: fetch those of the example kAhead places on.
      constexpr size_t kAhead = 8;
      auto prefetch = [&](const PairExample& e) {
        const char* u = reinterpret_cast<const char*>(rep.Row(user_table, e.user));
        const char* i = reinterpret_cast<const char*>(rep.Row(item_table, e.item));
        for (size_t off = 0; off < user_bytes; off += 64) __builtin_prefetch(u + off, 1);
        for (size_t off = 0; off < item_bytes; off += 64) __builtin_prefetch(i + off, 1);
      };
      for (size_t k = 0; k < std::min(kAhead, ex.size()); ++k) prefetch(ex[k]);
      for (size_t k = 0; k < ex.size(); ++k) {
        if (k + kAhead < ex.size()) prefetch(ex[k + kAhead]);
        const PairExample& e = ex[k];
        loss += model_.PairForwardBackward(rep.Row(user_table, e.user), rep.Row(item_table, e.item), e.label,
                                           user_grad.data(), item_grad.data(), dense.data(), dense_grad.data());
        if (tracked) {
          rep.Apply(user_table, e.user, user_grad.data());
          rep.Apply(item_table, e.item, item_grad.data());
        } else {
          rep.ApplyUntracked(user_table, e.user, user_grad.data());
          rep.ApplyUntracked(item_table, e.item, item_grad.data());
        }
        if (++since_dense == batch) {
          step_dense();
          since_dense = 0;
          // Tests slow one worker down (--slow_worker) by a pause per --batch_size examples.
          if (opts_.slow_worker == ctx_.worker_index && opts_.slow_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(opts_.slow_ms));
        }
      }
      block_scheduler_->Done(b);
      const uint64_t so_far = done_examples.fetch_add(ex.size()) + ex.size();
      // Part 0 runs on the worker's main thread, the one that talks to the scheduler.
      if (p == 0 && NowSeconds() - last_clock_report_ > kClockReportSeconds) {
        Status report = ReportClock(epoch, clock_at(so_far), *examples + so_far, *loss_sum);
        if (!report.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (error.ok()) error = report;
          block_scheduler_->Abort();
          break;
        }
      }
    }
    if (since_dense > 0) step_dense();
    std::lock_guard<std::mutex> lock(mu);
    total_loss += loss;
  });
  EMBARK_RETURN_IF_ERROR(error);
  *examples += done_examples.load();
  *loss_sum += total_loss;
  return Status::OK();
}

Status Trainer::TrainBlockEpoch(int epoch, uint64_t* clock, uint64_t* examples, double* loss_sum) {
  const uint64_t seed =
      HashCombine(HashCombine(opts_.seed, static_cast<uint64_t>(epoch)), static_cast<uint64_t>(ctx_.worker_index));
  const uint32_t grid = blocks_->grid();
  const uint64_t batch = opts_.batch_size;
  const int workers = ctx_.num_workers;
  int user_table = -1, item_table = -1;
  model_.PairTables(&user_table, &item_table);
  if (workers == 1) {
    // The lone worker's rows change nowhere else: the whole grid is one round, and its clock
    // (for progress lines) counts batches of --batch_size.
    std::vector<uint32_t> round(blocks_->num_blocks());
    std::iota(round.begin(), round.end(), 0u);
    const uint64_t base_examples = *examples;
    EMBARK_RETURN_IF_ERROR(TrainBlockRound(
        epoch, round, seed, [&](uint64_t n) { return *clock + (n + batch - 1) / batch; }, examples, loss_sum));
    *clock += (*examples - base_examples + batch - 1) / batch;
    return Status::OK();
  }
  // Stratified SGD (DSGD): this worker holds the users of user blocks u with u % W == its index
  // (the repartition at load, KeepOwnUsers). Sub-epoch s trains its blocks of item group
  // (index + s) % W, the item blocks i with i % W equal to it: in every sub-epoch the workers
  // train distinct item groups, so no row is updated by two workers at once, and each exchange
  // (push the changed rows, wait for every worker, read the changed rows again) sits between
  // sub-epochs. The clock counts sub-epochs.
  for (int s = 0; s < workers; ++s) {
    const uint32_t group = static_cast<uint32_t>((ctx_.worker_index + s) % workers);
    std::vector<uint32_t> round;
    for (uint32_t u = 0; u < grid; ++u)
      for (uint32_t i = group; i < grid; i += static_cast<uint32_t>(workers))
        if (!blocks_->block(u * grid + i).empty()) round.push_back(u * grid + i);
    const uint64_t done = static_cast<uint64_t>(s);
    EMBARK_RETURN_IF_ERROR(
        TrainBlockRound(epoch, round, HashCombine(seed, done), [&](uint64_t) { return done; }, examples, loss_sum));
    // The user rows are this worker's alone: they stay here until the epoch's last exchange.
    // (With several threads the round marked every row changed, so that exchange compares
    // every held user row with its base and misses none.)
    const int hold = s + 1 < workers ? user_table : -1;
    EMBARK_RETURN_IF_ERROR(PushDeltas(hold));
    if (!opts_.block_log.empty()) EMBARK_RETURN_IF_ERROR(LogBlockRows(epoch, s));
    *clock = done + 1;
    EMBARK_RETURN_IF_ERROR(ReportClock(epoch, *clock, *examples, *loss_sum));
    EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, *clock));
    // Only this worker changed the rows it pushed: they are not read back. Every other item
    // row may have changed elsewhere; the next round reads those it needs.
    EMBARK_RETURN_IF_ERROR(RefreshChanged(hold, /*adopt_pushed=*/true));
  }
  return Status::OK();
}

Status Trainer::LogBlockRows(int epoch, int sub_epoch) {
  // One line per sparse row this worker changed in the sub-epoch (the rows its last PushDeltas
  // sent): the instrumented check that no two workers update a row in the same sub-epoch.
  const std::string path = opts_.block_log + "." + std::to_string(ctx_.worker_index);
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return Status::IoError("--block_log: cannot open " + path + " for appending");
  for (size_t t = 0; t < tables_.size(); ++t) {
    if (tables_[t].dense) continue;
    for (uint32_t index : sync_indices_[t])
      std::fprintf(f, "%d %d %d %s %llu\n", ctx_.worker_index, epoch, sub_epoch, tables_[t].name.c_str(),
                   static_cast<unsigned long long>(replica_->keys(t)[index]));
  }
  if (std::fclose(f) != 0) return Status::IoError("--block_log: writing " + path + " failed");
  return Status::OK();
}

Status Trainer::PushDeltas(int hold_table) {
  const size_t n_tables = tables_.size();
  std::vector<std::vector<float>> grouped(n_tables);
  std::vector<int> ts(n_tables, 0);
  std::vector<uint64_t> keys;
  std::vector<float> deltas;
  sync_keys_.assign(n_tables, PreparedKeys());
  sync_indices_.assign(n_tables, {});
  std::vector<PreparedKeys>& prepared = sync_keys_;
  for (size_t t = 0; t < n_tables; ++t) {
    if (static_cast<int>(t) == hold_table) continue;
    replica_->CollectDeltas(t, &keys, &deltas, &sync_indices_[t]);
    if (keys.empty()) continue;
    kv_.Prepare(t, keys.data(), keys.size(), &prepared[t]);
    // The deltas in the prepared (server-grouped) order; every key is distinct, so this is a permutation.
    KVClient::SumDuplicates(prepared[t], deltas.data(), kv_.placement().StoredRowWidth(t), &grouped[t]);
    ts[t] = kv_.PushDelta(prepared[t], grouped[t].data());
  }
  Status first;
  for (int id : ts) {
    if (id == 0) continue;
    Status st = kv_.Wait(id);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status Trainer::RefreshChanged(int hold_table, bool adopt_pushed) {
  const size_t n_tables = tables_.size();
  size_t held = 0;
  for (size_t t = 0; t < n_tables; ++t) held += tables_[t].dense ? 0 : replica_->held(t);
  // An epoch from memory resolved all its rows when it was loaded: forgetting them in its middle
  // would save nothing and lose the cache; the next epoch's start does it.
  if ((held > opts_.replica_rows && !training_from_memory_) || sync_keys_.size() != n_tables) return RefreshReplica();
  std::vector<PreparedKeys> dense_keys(n_tables);
  std::vector<std::vector<float>> fetched(n_tables);
  std::vector<int> ts(n_tables, 0);
  for (size_t t = 0; t < n_tables; ++t) {
    if (static_cast<int>(t) == hold_table) continue;
    const PreparedKeys* keys = &sync_keys_[t];
    if (adopt_pushed && !tables_[t].dense) continue;
    if (tables_[t].dense) {
      const std::vector<uint64_t>& blocks = replica_->dense_block_keys(t);
      kv_.Prepare(t, blocks.data(), blocks.size(), &dense_keys[t]);
      keys = &dense_keys[t];
    }
    if (keys->size() == 0) continue;
    fetched[t].resize(keys->size() * size_t{kv_.placement().StoredRowWidth(t)});
    ts[t] = kv_.PullRows(*keys, fetched[t].data());
  }
  Status first;
  for (size_t t = 0; t < n_tables; ++t) {
    if (ts[t] != 0) {
      Status st = kv_.Wait(ts[t]);
      if (!st.ok()) {
        if (first.ok()) first = st;
        continue;
      }
    }
    if (static_cast<int>(t) == hold_table) continue;
    if (tables_[t].dense) {
      if (ts[t] != 0) replica_->Refresh(t, fetched[t].data(), dense_keys[t].index_of_input);
    } else if (adopt_pushed) {
      replica_->AdoptPushed(t, sync_indices_[t]);
    } else {
      replica_->RefreshChanged(t, sync_indices_[t], fetched[t].data(), sync_keys_[t].index_of_input);
    }
  }
  if (first.ok()) replica_->RefreshDone();
  return first;
}

Status Trainer::RefreshReplica() {
  const size_t n_tables = tables_.size();
  size_t held = 0;
  for (size_t t = 0; t < n_tables; ++t) held += tables_[t].dense ? 0 : replica_->held(t);
  if (held > opts_.replica_rows && !training_from_memory_) {
    // Past the budget: forget the sparse rows (they come back one batch at a time, as needed);
    // cached examples name rows by replica index, so the cache goes too.
    LOG(INFO) << "worker " << ctx_.worker_index << " holds " << held << " rows, over --replica_rows="
              << opts_.replica_rows << ": forgets them (they are read again as needed)"
              << (epoch_cache_ ? " and reads the files every epoch from now on" : "");
    replica_->Clear();
    epoch_cache_.reset();
    blocks_.reset();
    cache_complete_ = false;
    cache_disabled_ = true;  // the next epoch would outgrow the budget again
    for (LocalBatch& b : local_batches_) {
      b.stamp.clear();
      b.compact.clear();
    }
  }
  std::vector<PreparedKeys> prepared(n_tables);
  std::vector<std::vector<float>> fetched(n_tables);
  std::vector<int> ts(n_tables, 0);
  for (size_t t = 0; t < n_tables; ++t) {
    const std::vector<uint64_t>& keys = replica_->keys(t);
    if (keys.empty()) continue;
    kv_.Prepare(t, keys.data(), keys.size(), &prepared[t]);
    fetched[t].resize(prepared[t].size() * size_t{kv_.placement().StoredRowWidth(t)});
    ts[t] = kv_.PullRows(prepared[t], fetched[t].data());
  }
  Status first;
  for (size_t t = 0; t < n_tables; ++t) {
    if (ts[t] == 0) continue;
    Status st = kv_.Wait(ts[t]);
    if (st.ok()) replica_->Refresh(t, fetched[t].data(), prepared[t].index_of_input);
    else if (first.ok()) first = st;
  }
  if (first.ok()) replica_->RefreshDone();
  return first;
}

Status Trainer::LoadShare(LocalBatch* lb, Batch* overflow, std::vector<int32_t>* overflow_rows, bool* overflowed) {
  *overflowed = false;
  // Nothing trains until the share is in: the rows first seen are pulled together, in requests
  // of up to kLoadPullRows rows, instead of one round trip per batch.
  constexpr size_t kLoadPullRows = size_t{1} << 16;
  std::vector<std::vector<uint32_t>> deferred;
  size_t pending_rows = 0;
  auto pull_deferred = [&]() -> Status {
    Status st = PullIntoReplica(deferred);
    for (auto& rows : deferred) rows.clear();
    pending_rows = 0;
    return st;
  };
  while (true) {
    bool end = false;
    EMBARK_RETURN_IF_ERROR(reader_->Next(&lb->batch, &end));
    if (end) return pull_deferred();
    if (repartition_) {
      KeepOwnUsers(&lb->batch);
      if (lb->batch.empty()) continue;
    }
    EMBARK_RETURN_IF_ERROR(ResolveLocal(lb, &deferred));
    pending_rows = 0;
    for (const auto& rows : deferred) pending_rows += rows.size();
    if (pending_rows >= kLoadPullRows) EMBARK_RETURN_IF_ERROR(pull_deferred());
    if (!epoch_cache_->Add(lb->batch, lb->replica_row)) {
      // Workers that train blocks together must all hold their whole share.
      if (repartition_ && all_pairs_) {
        return Status::InvalidArgument("worker " + std::to_string(ctx_.worker_index) + ": its share of the training data exceeds --input_cache_mb=" +
                                       std::to_string(opts_.input_cache_bytes >> 20) + " after " + std::to_string(epoch_cache_->examples()) +
                                       " examples; block training on several workers holds the whole share in memory: raise "
                                       "--input_cache_mb, add workers, or pass --blocks=off");
      }
      EMBARK_RETURN_IF_ERROR(pull_deferred());
      LOG(INFO) << "worker " << ctx_.worker_index << ": the training data exceed --input_cache_mb="
                << (opts_.input_cache_bytes >> 20) << " after " << epoch_cache_->examples()
                << " examples: trains those from memory, then reads the rest; every later epoch reads the files";
      std::swap(*overflow, lb->batch);
      std::swap(*overflow_rows, lb->replica_row);
      *overflowed = true;
      cache_disabled_ = true;
      return Status::OK();
    }
  }
}

Trainer::Traffic Trainer::CurrentTraffic() const {
  Traffic t;
  t.sent = kv_.bytes_sent();
  t.received = kv_.bytes_received();
  t.rows_pulled = kv_.rows_pulled();
  t.row_reads = block_row_reads_;
  for (const LocalBatch& b : local_batches_) t.row_reads += b.lookups;
  return t;
}

Status Trainer::TrainEpochLocal(int epoch, const RemainingInput* resume) {
  const double epoch_start = NowSeconds();
  epoch_traffic_start_ = CurrentTraffic();
  const bool cuts = opts_.checkpoint_every_steps > 0 || opts_.checkpoint_every_seconds > 0;
  if (!reader_) {
    // Decided once, before the reader opens: block training of a pair model on several
    // workers needs shares cut by user instead of by bytes of input (see KeepOwnUsers).
    const int workers = ctx_.num_workers, threads = pool_.parts();
    block_grid_ = opts_.blocks > 0 ? opts_.blocks : workers == 1 ? std::max(4, 2 * threads) : workers * std::max(2, 2 * threads);
    int user_table = -1, item_table = -1;
    repartition_ = workers > 1 && opts_.blocks != 0 && opts_.example_steps && model_.PairTables(&user_table, &item_table) &&
                   resume == nullptr && !cuts && opts_.input_cache_bytes > 0 && opts_.consistency == Consistency::kBsp;
  }
  EMBARK_RETURN_IF_ERROR(OpenReader());
  DataReader* reader = reader_.get();
  if (!replica_) {
    replica_ = std::make_unique<RowReplica>(kv_.placement());
    table_of_field_.assign(65536, kFieldUnknown);
    local_batches_.resize(pool_.parts());
  }
  cut_pending_ = false;
  uint64_t clock = 0, examples = 0;
  double loss_sum = 0;
  EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, 0));
  // Every worker's changes of the previous epoch (and a restored checkpoint) are in the servers.
  if (blocks_ != nullptr && ctx_.num_workers > 1 && cache_complete_ && resume == nullptr) {
    // Block epochs on several workers: the user rows are this worker's own and current; the
    // item rows each round needs are read when it starts (TrainBlockRound), the dense now.
    int user_table = -1, item_table = -1;
    model_.PairTables(&user_table, &item_table);
    sync_keys_.assign(tables_.size(), PreparedKeys());
    sync_indices_.assign(tables_.size(), {});
    EMBARK_RETURN_IF_ERROR(RefreshChanged(user_table, /*adopt_pushed=*/true));
  } else if (blocks_ != nullptr && ctx_.num_workers == 1 && cache_complete_ && resume == nullptr &&
             sync_keys_.size() == tables_.size()) {
    // Block epochs on a lone worker: no one else changed a row since the previous epoch's last
    // exchange, so the rows it pushed become their own base instead of being read back (all of
    // them, every epoch: 30 % of an epoch's time on 2M ratings); the few it held unchanged
    // are read again when a round needs them (TrainBlockRound), the dense now.
    EMBARK_RETURN_IF_ERROR(RefreshChanged(-1, /*adopt_pushed=*/true));
  } else {
    EMBARK_RETURN_IF_ERROR(RefreshReplica());
  }
  LocalBatch& lb = local_batches_[0];
  auto pause_hook = [&] { return PauseIfCut(epoch, clock, examples, loss_sum, nullptr); };
  // Later epochs train from memory when the whole share was cached; the first builds the cache
  // (unless it starts from a checkpoint's remainder or needs file positions for cuts).
  bool from_cache = (epoch_cache_ != nullptr || blocks_ != nullptr) && cache_complete_ && resume == nullptr;
  const bool build_cache = !from_cache && resume == nullptr && !cuts && opts_.input_cache_bytes > 0 && !cache_disabled_;
  // A share that surely fits in the cache is read in file order: the cache shuffles it whole,
  // so a shuffle buffer would only copy every example once more. Surely: a cached example
  // costs 18 bytes per feature and 16 (EpochCache), and each needs at least 2 bytes of text
  // (a character and a separator), so 17 bytes per byte of text is an upper bound. A larger
  // share keeps the shuffle buffer, because what does not fit in the cache streams.
  const bool file_order = build_cache && reader->share_bytes() <= opts_.input_cache_bytes / 17;
  // An epoch from memory leaves the files alone (bad lines were counted in the first).
  if (!from_cache) EMBARK_RETURN_IF_ERROR(reader->StartEpoch(epoch, resume, file_order));
  // The first epoch loads the whole share, then trains from memory like every later epoch: a
  // full shuffle of the share instead of a shuffle buffer's window, and no second pass over
  // the parsed batches. A share over --input_cache_mb trains the part held, then reads the rest
  // (`overflow` is its first batch, read and resolved).
  bool stream_rest = false;
  Batch overflow;
  std::vector<int32_t> overflow_rows;
  double load_seconds = 0;
  if (build_cache) {
    epoch_cache_ = std::make_unique<EpochCache>(opts_.input_cache_bytes);
    const double load_start = NowSeconds();
    EMBARK_RETURN_IF_ERROR(LoadShare(&lb, &overflow, &overflow_rows, &stream_rest));
    if (repartition_) {
      LOG(INFO) << "worker " << ctx_.worker_index << " read all " << examples_seen_ << " training examples and keeps the "
                << examples_kept_ << " of its users (user block % " << ctx_.num_workers << " = " << ctx_.worker_index << ")";
    }
    if (!stream_rest) BuildBlocks();
    load_seconds = NowSeconds() - load_start;
    from_cache = true;
  }
  if (from_cache && epoch_cache_ != nullptr) epoch_cache_->Shuffle(HashCombine(HashCombine(opts_.seed, static_cast<uint64_t>(epoch)),
                                                    static_cast<uint64_t>(ctx_.worker_index)));
  // Rows held for an epoch from memory are not forgotten in its middle (see RefreshChanged).
  training_from_memory_ = from_cache;
  const bool in_blocks = from_cache && blocks_ != nullptr;
  const bool hogwild = from_cache && !in_blocks && pool_.parts() > 1;
  // A lone worker's rows change nowhere else: it exchanges them only at the end of the epoch
  // and at checkpoint cuts (the clock is still reported for progress lines).
  const bool exchange_mid_epoch = ctx_.num_workers > 1;
  VLOG(1) << "worker " << ctx_.worker_index << " epoch " << epoch << (from_cache ? " from memory" : " from the files")
          << (hogwild ? ", " + std::to_string(pool_.parts()) + " threads lock-free" : std::string())
          << (in_blocks ? ", in " + std::to_string(blocks_->num_blocks()) + " blocks" : std::string());
  if (in_blocks) {
    const uint64_t before = examples;
    EMBARK_RETURN_IF_ERROR(TrainBlockEpoch(epoch, &clock, &examples, &loss_sum));
    block_row_reads_ += 2 * (examples - before);  // a user row and an item row a rating
  }
  while (hogwild) {
    uint64_t trained = 0;
    Status round;
    const LossSum loss = TrainCachedRound(opts_.sync_every, &trained, &examples, &round);
    EMBARK_RETURN_IF_ERROR(round);
    if (trained == 0) break;
    clock += trained;
    loss_sum += loss.loss;
    if (exchange_mid_epoch) EMBARK_RETURN_IF_ERROR(PushDeltas());
    EMBARK_RETURN_IF_ERROR(ReportClock(epoch, clock, examples, loss_sum));
    if (exchange_mid_epoch) {
      EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, clock));
      EMBARK_RETURN_IF_ERROR(RefreshChanged());
      EMBARK_RETURN_IF_ERROR(PrefetchInterval());
    }
    if (trained < opts_.sync_every) break;
  }
  // After the lock-free threads, or on one thread from the start: the rest of the cache (none
  // after the threads), then, if the share did not fit, the rest of the files.
  bool overflow_pending = stream_rest;
  while (true) {
    if (from_cache && epoch_cache_ != nullptr && epoch_cache_->Next(opts_.batch_size, &lb.batch, &lb.replica_row)) {
      // from memory
    } else if (from_cache && !stream_rest) {
      break;
    } else {
      if (from_cache) {  // the part held is spent
        from_cache = false;
        training_from_memory_ = false;
        epoch_cache_.reset();
      }
      if (overflow_pending) {
        std::swap(lb.batch, overflow);
        std::swap(lb.replica_row, overflow_rows);
        overflow_pending = false;
      } else {
        bool end = false;
        EMBARK_RETURN_IF_ERROR(reader->Next(&lb.batch, &end));
        if (end) break;
        if (repartition_) KeepOwnUsers(&lb.batch);
        EMBARK_RETURN_IF_ERROR(ResolveLocal(&lb));
      }
    }
    LossSum loss;
    EMBARK_RETURN_IF_ERROR(TrainLocalBatch(&lb, nullptr, &loss));
    if (opts_.slow_worker == ctx_.worker_index && opts_.slow_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(opts_.slow_ms));
    ++clock;
    examples += lb.batch.size();
    loss_sum += loss.loss;
    const bool cut_due = cuts && CutDue(epoch, clock);
    // Exchanges happen at multiples of --sync_every (and at cuts), the same clocks on every
    // worker, so a worker past clock c has exchanged at every multiple up to c.
    if (clock % opts_.sync_every != 0 && !cut_due) {
      // Steps of --checkpoint_every count batch clocks: the scheduler must see every one. The
      // progress line needs a clock now and then too. (A clock between exchanges is safe for
      // the consistency waits: a worker past clock c has exchanged at every multiple of
      // --sync_every up to c.)
      if (cuts || NowSeconds() - last_clock_report_ > kClockReportSeconds)
        EMBARK_RETURN_IF_ERROR(ReportClock(epoch, clock, examples, loss_sum));
      continue;
    }
    if (!exchange_mid_epoch && !cut_due) {
      EMBARK_RETURN_IF_ERROR(ReportClock(epoch, clock, examples, loss_sum));
      continue;
    }
    // Sync: this worker's changes go in, the clock condition holds, everyone's changes come back.
    EMBARK_RETURN_IF_ERROR(PushDeltas());
    EMBARK_RETURN_IF_ERROR(ReportClock(epoch, clock, examples, loss_sum));
    if (cut_due) EMBARK_RETURN_IF_ERROR(PauseIfCut(epoch, clock, examples, loss_sum, nullptr));
    EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, clock, cuts ? std::function<Status()>(pause_hook) : nullptr));
    EMBARK_RETURN_IF_ERROR(RefreshChanged());
    // From memory the coming batches are known: their stale rows come in one request.
    if (from_cache) EMBARK_RETURN_IF_ERROR(PrefetchInterval());
  }
  EMBARK_RETURN_IF_ERROR(PushDeltas());
  training_from_memory_ = false;
  if (build_cache && !stream_rest && (epoch_cache_ != nullptr || blocks_ != nullptr)) {
    cache_complete_ = true;
    if (blocks_ != nullptr) {
      LOG(INFO) << "worker " << ctx_.worker_index << " holds its " << blocks_->examples() << " training examples in memory ("
                << (blocks_->bytes() >> 20) << " MiB) in " << blocks_->grid() << " x " << blocks_->grid()
                << " blocks for the next epochs";
    } else {
      LOG(INFO) << "worker " << ctx_.worker_index << " holds its " << epoch_cache_->examples()
                << " training examples in memory (" << (epoch_cache_->bytes() >> 20) << " MiB) for the next epochs";
    }
  }
  uint64_t lookups = 0;
  for (const LocalBatch& b : local_batches_) lookups += b.lookups;
  if (lookups > 0) {
    VLOG(1) << "worker " << ctx_.worker_index << " replica: " << lookups << " row reads, " << replica_misses_
            << " pulled from servers";
  }
  return ReportEpochDone(epoch, clock, examples, loss_sum, NowSeconds() - epoch_start, load_seconds);
}

Status Trainer::OpenReader() {
  if (reader_) return Status::OK();
  DataReaderOptions ropts;
  ropts.format = opts_.format;
  ropts.files = opts_.train;
  // Repartition: every worker reads the whole input and keeps its users' examples.
  ropts.num_workers = repartition_ ? 1 : ctx_.num_workers;
  ropts.worker_index = repartition_ ? 0 : ctx_.worker_index;
  ropts.batch_size = opts_.batch_size;
  ropts.shuffle_buffer = opts_.shuffle_buffer;
  ropts.seed = opts_.seed;
  ropts.bad_lines = opts_.bad_lines;
  ropts.parser.csv_schema = opts_.csv_schema;
  ropts.parser.num_fields = opts_.num_fields;
  ropts.max_events = opts_.max_events;
  ropts.max_seconds = opts_.max_seconds;
  ropts.startup_timeout_s = opts_.startup_timeout_s;
  if (stream_resume_) ropts.stream_start = stream_resume_->start;
  ropts.event_ids = opts_.stream && !opts_.trained_log.empty();
  if (opts_.valid_fraction > 0) {
    // The held-out lines are LoadValid's: training never sees them.
    ropts.holdout = DataReaderOptions::Holdout::kSkip;
    ropts.holdout_fraction = opts_.valid_fraction;
    ropts.holdout_seed = opts_.seed;
  }
  // A quiet stream returns to the training loop now and then, so a checkpoint cut is served.
  if (opts_.stream) ropts.next_timeout_ms = 200;
  reader_ = std::make_unique<DataReader>(ropts);
  return reader_->Open();
}

Status Trainer::ReportEpochDone(int epoch, uint64_t clock, uint64_t examples, double loss_sum, double seconds,
                                double load_seconds) {
  EpochDone done;
  done.load_seconds = load_seconds;
  done.epoch = epoch;
  done.clock = clock;
  done.examples = examples;
  done.loss_sum = loss_sum;
  done.seconds = seconds;
  const Traffic now = CurrentTraffic();
  done.kv_bytes_sent = now.sent - epoch_traffic_start_.sent;
  done.kv_bytes_received = now.received - epoch_traffic_start_.received;
  done.replica_row_reads = now.row_reads - epoch_traffic_start_.row_reads;
  done.replica_rows_pulled = now.rows_pulled - epoch_traffic_start_.rows_pulled;
  // Under the repartition every worker read every line: one of them counts the bad ones.
  if (!repartition_ || ctx_.worker_index == 0)
    for (const auto& [reason, count] : reader_->bad_line_counts()) done.bad_lines[BadLineReasonName(reason)] = count;
  return ctx_.control->SendToScheduler(kTrainEpochDone, EncodeMsg(done));
}

Status Trainer::TrainEpoch(int epoch, const RemainingInput* resume) {
  const double epoch_start = NowSeconds();
  epoch_traffic_start_ = CurrentTraffic();
  EMBARK_RETURN_IF_ERROR(OpenReader());
  DataReader* reader = reader_.get();
  EMBARK_RETURN_IF_ERROR(reader->StartEpoch(epoch, resume));
  if (opts_.stream) {
    trained_stream_ = reader->stream_open_positions();
    if (!opts_.trained_log.empty() && !trained_log_) {
      trained_log_ = std::make_unique<TrainedLog>();
      EMBARK_RETURN_IF_ERROR(trained_log_->Open(opts_.trained_log, ctx_.worker_index,
                                                stream_resume_ ? stream_resume_->truncate : std::map<int32_t, uint64_t>(),
                                                /*fresh=*/stream_resume_ == nullptr));
    }
  }
  if (opts_.stream && !opts_.metrics_out.empty() && !window_) {
    stream_start_s_ = NowSeconds();
    window_ = std::make_unique<ProgressiveWindow>(WindowSpec{opts_.window_events, opts_.window_seconds},
                                                  model_.name() == "mf", ctx_.worker_index, stream_start_s_);
  }
  const bool prefetch_pulls = EffectiveStaleness(opts_) >= 1;
  // A stream with a checkpoint directory always answers cuts: SIGTERM asks for a final one.
  const bool cuts = opts_.checkpoint_every_steps > 0 || opts_.checkpoint_every_seconds > 0 ||
                    (opts_.stream && !opts_.checkpoint_dir.empty());
  cut_pending_ = false;
  uint64_t clock = 0, examples = 0;
  double loss_sum = 0;
  bool end = false;
  // Reads the next batch. A stream may be quiet for long: then a cut must not wait for an
  // event that may never come, so the worker pauses where it is (all its pushes are in).
  auto load = [&](Slot* slot, bool* at_end) -> Status {
    for (;;) {
      Status st = Load(reader, slot, at_end);
      if (!opts_.stream || st.code() != Status::Code::kTimeout) return st;
      if (cuts) EMBARK_RETURN_IF_ERROR(PauseIfCut(epoch, clock, examples, loss_sum, nullptr, /*idle=*/true));
      if (stop_at_cut_) return Status::OK();
    }
  };
  EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, 0));
  EMBARK_RETURN_IF_ERROR(load(slots_[0].get(), &end));
  if (stop_at_cut_) end = true;
  while (!end) {
    Slot* cur = slots_[clock % 2].get();
    Slot* next = slots_[(clock + 1) % 2].get();
    EMBARK_RETURN_IF_ERROR(WaitPulls(cur));
    UngroupDense(cur);
    bool next_loaded = false, next_end = false;
    if (prefetch_pulls) {
      // SSP/ASP: the next batch's rows travel while this one computes.
      std::function<Status()> pause_holding_cur;
      if (cuts) pause_holding_cur = [&] { return stop_at_cut_ ? Status::OK() : PauseIfCut(epoch, clock, examples, loss_sum, &cur->batch); };
      EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, clock + 1, pause_holding_cur));
      if (stop_at_cut_) break;
      Status loaded = Load(reader, next, &next_end);
      // A quiet stream has no next batch yet: `cur` trains now, and the next one is waited
      // for after it (below), rather than `cur` waiting for an event that may not come.
      if (!opts_.stream || loaded.code() != Status::Code::kTimeout) {
        EMBARK_RETURN_IF_ERROR(loaded);
        next_loaded = true;
      }
    }
    if (window_) EMBARK_RETURN_IF_ERROR(ScoreProgressive(*cur));
    const LossSum loss = Compute(cur);
    if (opts_.slow_worker == ctx_.worker_index && opts_.slow_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(opts_.slow_ms));
    EMBARK_RETURN_IF_ERROR(PushGradients(cur));
    EMBARK_RETURN_IF_ERROR(WaitPushes(cur));
    ++clock;
    examples += cur->batch.size();
    loss_sum += loss.loss;
    if (opts_.stream) {
      // The batch is in the servers: the stream position and the log move past its events.
      for (const auto& [key, next_offset] : cur->batch.stream_after) trained_stream_[key] = next_offset;
      if (trained_log_) EMBARK_RETURN_IF_ERROR(trained_log_->Append(cur->batch));
    }
    EMBARK_RETURN_IF_ERROR(ReportClock(epoch, clock, examples, loss_sum));
    if (cuts) EMBARK_RETURN_IF_ERROR(PauseIfCut(epoch, clock, examples, loss_sum, next_loaded && !next_end ? &next->batch : nullptr));
    if (stop_at_cut_) {
      // The prefetched batch stays untrained; its pulls must land before its slot is reused.
      if (next_loaded && !next_end) EMBARK_RETURN_IF_ERROR(WaitPulls(next));
      break;
    }
    if (!next_loaded) {
      std::function<Status()> pause_holding_nothing;
      if (cuts) pause_holding_nothing = [&] { return stop_at_cut_ ? Status::OK() : PauseIfCut(epoch, clock, examples, loss_sum, nullptr); };
      EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, clock, pause_holding_nothing));
      if (stop_at_cut_) break;
      EMBARK_RETURN_IF_ERROR(load(next, &next_end));
      if (stop_at_cut_) break;
    }
    end = next_end;
  }
  if (window_) EMBARK_RETURN_IF_ERROR(WriteWindow(/*last=*/true));
  if (opts_.stream) {
    // The end of this worker's stream (or the stop): later cuts of the job record it.
    InputPosition pos;
    pos.epoch = epoch;
    pos.clock = clock;
    pos.examples = examples;
    pos.loss_sum = loss_sum;
    pos.epoch_done = true;
    EMBARK_RETURN_IF_ERROR(StreamCutOf(&pos));
    if (cuts) EMBARK_RETURN_IF_ERROR(ctx_.control->SendToScheduler(kTrainStreamEnd, EncodePosition(pos)));
  }
  return ReportEpochDone(epoch, clock, examples, loss_sum, NowSeconds() - epoch_start);
}

Status Trainer::ScoreProgressive(const Slot& slot) {
  const size_t n = slot.batch.size();
  window_preds_.resize(n);
  if (n > 0) model_.Predict(slot.batch, 0, n, slot.rows, window_preds_.data());
  window_->Add(window_preds_.data(), slot.batch.labels.data(), n);
  return window_->Due(NowSeconds()) ? WriteWindow(/*last=*/false) : Status::OK();
}

Status Trainer::WriteWindow(bool last) {
  std::string line;
  const double now = NowSeconds();
  if (!window_->Close(now, reader_->stream_lag(), reader_->event_lag_seconds(), &line)) {
    return Status::OK();
  }
  if (last) line.insert(line.size() - 1, ",\"last\":true");
  line += "\n";
  // One write per line with O_APPEND: lines of several workers (and the scheduler's) never mix.
  const int fd = ::open(opts_.metrics_out.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return Status::IoError("cannot append to --metrics_out=" + opts_.metrics_out);
  const ssize_t wrote = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (wrote != static_cast<ssize_t>(line.size())) return Status::IoError("cannot append to --metrics_out=" + opts_.metrics_out);
  return Status::OK();
}

// Reads this worker's share of the test files once, before training starts, so a missing
// or malformed test file stops the job at once rather than after the first epoch.
Status Trainer::LoadTest() {
  if (opts_.test.empty() || test_loaded_) return Status::OK();
  if (model_.IsRanking()) {
    RankingEvaluator::Options r;
    r.format = opts_.format;
    r.train = opts_.train;
    r.test = opts_.test;
    r.items = opts_.items;
    r.top_k = opts_.top_k;
    r.worker_index = ctx_.worker_index;
    r.num_workers = ctx_.num_workers;
    r.bad_lines = opts_.bad_lines;
    ranking_ = std::make_unique<RankingEvaluator>(r);
    EMBARK_RETURN_IF_ERROR(ranking_->Load());
    LOG(INFO) << "worker " << ctx_.worker_index << " ranks " << ranking_->num_items() << " catalogue items for "
              << ranking_->num_evaluated_users() << " of its " << ranking_->num_users() << " test users";
    test_loaded_ = true;
    return Status::OK();
  }
  DataReaderOptions ropts;
  ropts.format = opts_.format;
  ropts.files = opts_.test;
  // Repartition: every worker reads the whole input and keeps its users' examples.
  ropts.num_workers = repartition_ ? 1 : ctx_.num_workers;
  ropts.worker_index = repartition_ ? 0 : ctx_.worker_index;
  ropts.batch_size = 4096;
  ropts.bad_lines = opts_.bad_lines;
  ropts.parser.csv_schema = opts_.csv_schema;
  ropts.parser.num_fields = opts_.num_fields;
  BadLineCounts skipped;
  EMBARK_RETURN_IF_ERROR(ReadAll(ropts, &test_batches_, &skipped));
  if (!skipped.empty()) {
    LOG(WARNING) << "worker " << ctx_.worker_index << " skipped lines of the test files: " << FormatBadLineCounts(skipped);
  }
  test_loaded_ = true;
  return Status::OK();
}

Status Trainer::Evaluate(int epoch, bool final) {
  if (opts_.test.empty()) return Status::OK();
  EMBARK_RETURN_IF_ERROR(LoadTest());
  if (ranking_) {
    Evaluation eval(Evaluation::kRanking, opts_.top_k);
    Slot& slot = *slots_[0];
    auto pull = [this, &slot](const Batch& batch, const PulledRows** rows) -> Status {
      EMBARK_RETURN_IF_ERROR(PreparePulls(batch, &slot));
      EMBARK_RETURN_IF_ERROR(WaitPulls(&slot));
      UngroupDense(&slot);
      *rows = &slot.rows;
      return Status::OK();
    };
    EMBARK_RETURN_IF_ERROR(ranking_->Evaluate(model_, pull, &eval));
    EvalReport report;
    report.epoch = epoch;
    report.accumulator = eval.Serialize();
    return ctx_.control->SendToScheduler(kTrainEval, EncodeMsg(report));
  }
  Evaluation eval(Evaluation::KindOf(opts_.task));
  std::vector<float> all_preds;
  const bool keep = final && !opts_.predictions_out.empty();
  EMBARK_RETURN_IF_ERROR(ScoreBatches(test_batches_, &eval, keep ? &all_preds : nullptr));
  EvalReport report;
  report.epoch = epoch;
  report.accumulator = eval.Serialize();
  report.predictions = std::move(all_preds);
  return ctx_.control->SendToScheduler(kTrainEval, EncodeMsg(report));
}

Status Trainer::ScoreBatches(const std::vector<Batch>& batches, Evaluation* eval, std::vector<float>* all_preds) {
  Slot& slot = *slots_[0];
  std::vector<float> preds;
  for (const Batch& batch : batches) {
    // The batches are used in place (no copy per epoch); slot.batch stays unused here.
    EMBARK_RETURN_IF_ERROR(PreparePulls(batch, &slot));
    EMBARK_RETURN_IF_ERROR(WaitPulls(&slot));
    UngroupDense(&slot);
    preds.assign(batch.size(), 0.0f);
    const int parts = pool_.parts();
    const size_t n = batch.size();
    pool_.Run([&](int p) {
      const size_t begin = n * p / parts, end = n * (p + 1) / parts;
      if (begin < end) model_.Predict(batch, begin, end, slot.rows, preds.data());
    });
    eval->Add(preds.data(), batch.labels.data(), n);
    if (all_preds != nullptr) all_preds->insert(all_preds->end(), preds.begin(), preds.end());
  }
  return Status::OK();
}

Status Trainer::LoadValid() {
  if ((opts_.valid.empty() && opts_.valid_fraction <= 0) || valid_loaded_) return Status::OK();
  DataReaderOptions ropts;
  ropts.format = opts_.format;
  ropts.files = opts_.valid.empty() ? opts_.train : opts_.valid;
  ropts.num_workers = ctx_.num_workers;
  ropts.worker_index = ctx_.worker_index;
  ropts.batch_size = 4096;
  ropts.bad_lines = opts_.bad_lines;
  ropts.parser.csv_schema = opts_.csv_schema;
  ropts.parser.num_fields = opts_.num_fields;
  if (opts_.valid.empty()) {
    ropts.holdout = DataReaderOptions::Holdout::kOnly;
    ropts.holdout_fraction = opts_.valid_fraction;
    ropts.holdout_seed = opts_.seed;
  }
  BadLineCounts skipped;
  EMBARK_RETURN_IF_ERROR(ReadAll(ropts, &valid_batches_, &skipped));
  uint64_t n = 0;
  for (const Batch& b : valid_batches_) n += b.size();
  LOG(INFO) << "worker " << ctx_.worker_index << " validates on " << n << " examples"
            << (opts_.valid.empty() ? " held out of its share of the training files (--valid_fraction)" : " of --valid");
  if (!skipped.empty()) {
    LOG(WARNING) << "worker " << ctx_.worker_index << " skipped lines of the validation set: " << FormatBadLineCounts(skipped);
  }
  valid_loaded_ = true;
  return Status::OK();
}

Status Trainer::EvaluateValid(int epoch) {
  if (opts_.valid.empty() && opts_.valid_fraction <= 0) return Status::OK();
  EMBARK_RETURN_IF_ERROR(LoadValid());
  Evaluation eval(Evaluation::KindOf(opts_.task));
  EMBARK_RETURN_IF_ERROR(ScoreBatches(valid_batches_, &eval, nullptr));
  EvalReport report;
  report.epoch = epoch;
  report.accumulator = eval.Serialize();
  return ctx_.control->SendToScheduler(kTrainValidEval, EncodeMsg(report));
}

Status Trainer::WaitFor(uint64_t subtype, const char* what, std::string* payload) {
  const double deadline = NowSeconds() + opts_.clock_timeout_s;
  while (true) {
    Status st = ctx_.control->WaitApp(subtype, payload, 1.0);
    if (st.ok()) return st;
    if (NowSeconds() > deadline) {
      return Status::Timeout("worker " + std::to_string(ctx_.worker_index) + " waited " +
                             std::to_string(static_cast<int>(opts_.clock_timeout_s)) + " s for " + what);
    }
  }
}

Status Trainer::Run() {
  // A grid side asked for by number must not be ignored in silence (auto and off always fit).
  int user_table = -1, item_table = -1;
  if (opts_.blocks > 0 && (!opts_.example_steps || !model_.PairTables(&user_table, &item_table)))
    return Status::InvalidArgument("--blocks=" + std::to_string(opts_.blocks) + " applies to models that train in blocks (" +
                                   "mf) with --local_step=example; this run trains " + model_.name() +
                                   (opts_.example_steps ? "" : " with --local_step=batch"));
  EMBARK_RETURN_IF_ERROR(LoadTest());
  // The scheduler says where to start: epoch 1, or the epoch after a restored checkpoint.
  std::string start;
  EMBARK_RETURN_IF_ERROR(WaitFor(kTrainStart, "the scheduler to start training", &start));
  const int first_epoch = std::atoi(start.c_str());
  // A resume from a mid-epoch cut: the scheduler sent this worker's share of the interrupted
  // epoch's remainder just before kTrainStart (so it is already queued).
  std::unique_ptr<RemainingInput> resume;
  std::string payload;
  if (ctx_.control->WaitApp(kTrainResumeInput, &payload, 0).ok()) {
    resume = std::make_unique<RemainingInput>();
    if (!DecodeMsg(payload, resume.get())) return Status::Corruption("undecodable resume input from the scheduler");
  }
  // A stream resumed from a cut: where every partition or part continues (read by OpenReader).
  if (ctx_.control->WaitApp(kTrainResumeStream, &payload, 0).ok()) {
    stream_resume_ = std::make_unique<StreamResume>();
    if (!DecodeMsg(payload, stream_resume_.get())) return Status::Corruption("undecodable stream resume from the scheduler");
  }
  EMBARK_RETURN_IF_ERROR(LoadValid());
  for (int epoch = first_epoch; epoch <= opts_.epochs; ++epoch) {
    const RemainingInput* rest = epoch == first_epoch ? resume.get() : nullptr;
    if (EffectiveSync(opts_, ctx_.num_workers) == SyncMode::kLocal) EMBARK_RETURN_IF_ERROR(TrainEpochLocal(epoch, rest));
    else EMBARK_RETURN_IF_ERROR(TrainEpoch(epoch, rest));
    // Everyone's updates of this epoch are in before anyone evaluates; nobody starts the next
    // epoch before everyone evaluated (so evaluation never sees a later epoch's updates).
    EMBARK_RETURN_IF_ERROR(ctx_.control->Barrier(BarrierGroup::kWorkers, opts_.clock_timeout_s));
    // With early stopping any epoch may be the last: the test predictions are sent every time.
    EMBARK_RETURN_IF_ERROR(Evaluate(epoch, epoch == opts_.epochs || opts_.early_stop > 0));
    EMBARK_RETURN_IF_ERROR(EvaluateValid(epoch));
    EMBARK_RETURN_IF_ERROR(ctx_.control->Barrier(BarrierGroup::kWorkers, opts_.clock_timeout_s));
    bool stop = false;
    bool checkpoint = opts_.checkpoint_every_epochs > 0 && epoch % opts_.checkpoint_every_epochs == 0;
    if (opts_.early_stop > 0) {
      // The scheduler judges the epoch once every worker's validation report is in, and says
      // whether it checkpoints it: "go on" or "stop", then " checkpoint" if so.
      std::string verdict;
      EMBARK_RETURN_IF_ERROR(WaitFor(kTrainVerdict, "the scheduler's early-stopping verdict", &verdict));
      stop = verdict.rfind("stop", 0) == 0;
      checkpoint = verdict.find(" checkpoint") != std::string::npos;
    }
    if (checkpoint) {
      // Nobody pushes while the servers write: the checkpoint is a consistent cut.
      std::string done;
      EMBARK_RETURN_IF_ERROR(WaitFor(kTrainCheckpointed, "the checkpoint to be written", &done));
    }
    if (opts_.stream && !opts_.checkpoint_dir.empty()) {
      // The scheduler checkpoints where every worker's stream ended (or says it need not).
      std::string done;
      EMBARK_RETURN_IF_ERROR(WaitFor(kTrainCheckpointed, "the checkpoint of the stream's end", &done));
    }
    if (stop) break;
  }
  return Status::OK();
}

}  // namespace embark
