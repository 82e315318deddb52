#include "worker/trainer.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <thread>

#include "worker/evaluation.h"
#include "worker/input_position.h"
#include "worker/train_protocol.h"

namespace embark {

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

LossSum Trainer::Compute(Slot* slot) {
  const size_t n_tables = tables_.size();
  const int parts = pool_.parts();
  const size_t n = slot->batch.size();
  std::vector<LossSum> losses(parts);
  for (int p = 0; p < parts; ++p) {
    part_grads_[p].rows.resize(n_tables);
    for (size_t t = 0; t < n_tables; ++t) part_grads_[p].rows[t].assign(slot->rows.rows[t].size(), 0.0f);
  }
  pool_.Run([&](int p) {
    const size_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) losses[p] = model_.ForwardBackward(slot->batch, begin, end, slot->rows, &part_grads_[p]);
  });
  // Parts are summed in a fixed order, so a run's result does not depend on thread timing.
  LossSum total;
  slot->push_buffers.resize(n_tables);
  for (size_t t = 0; t < n_tables; ++t) {
    std::vector<float>& sum = part_grads_[0].rows[t];
    for (int p = 1; p < parts; ++p) {
      const std::vector<float>& g = part_grads_[p].rows[t];
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += g[i];
    }
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
  for (const LossSum& l : losses) {
    total.loss += l.loss;
    total.examples += l.examples;
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

Status Trainer::PauseIfCut(int epoch, uint64_t clock, uint64_t examples, double loss_sum, const Batch* held) {
  std::string payload;
  while (ctx_.control->WaitApp(kTrainCut, &payload, 0).ok()) {
    CutRequest c;
    if (!DecodeMsg(payload, &c)) return Status::Corruption("undecodable cut request from the scheduler");
    if (c.epoch != epoch) continue;  // meant for an epoch this worker already finished
    cut_pending_ = true;
    cut_clock_ = c.clock;
  }
  if (!cut_pending_ || clock < cut_clock_) return Status::OK();
  cut_pending_ = false;
  InputPosition pos;
  pos.epoch = epoch;
  pos.clock = clock;
  pos.examples = examples;
  pos.loss_sum = loss_sum;
  EMBARK_RETURN_IF_ERROR(reader_->Snapshot(&pos.input));
  if (held != nullptr) {
    pos.input.pending.insert(pos.input.pending.end(), held->origins.begin(), held->origins.end());
    std::sort(pos.input.pending.begin(), pos.input.pending.end());
  }
  EMBARK_RETURN_IF_ERROR(ctx_.control->SendToScheduler(kTrainPaused, EncodePosition(pos)));
  // Nobody pushes until the servers have written their shards: the cut is consistent.
  std::string done;
  return WaitFor(kTrainCutDone, "the mid-epoch checkpoint to be written", &done);
}

Status Trainer::TrainEpoch(int epoch, const RemainingInput* resume) {
  DataReaderOptions ropts;
  ropts.format = opts_.format;
  ropts.files = opts_.train;
  ropts.num_workers = ctx_.num_workers;
  ropts.worker_index = ctx_.worker_index;
  ropts.batch_size = opts_.batch_size;
  ropts.shuffle_buffer = opts_.shuffle_buffer;
  ropts.seed = opts_.seed;
  ropts.bad_lines = opts_.bad_lines;
  ropts.parser.csv_schema = opts_.csv_schema;
  ropts.parser.num_fields = opts_.num_fields;
  const double epoch_start = NowSeconds();
  if (!reader_) {
    reader_ = std::make_unique<DataReader>(ropts);
    EMBARK_RETURN_IF_ERROR(reader_->Open());
  }
  DataReader* reader = reader_.get();
  EMBARK_RETURN_IF_ERROR(reader->StartEpoch(epoch, resume));
  const bool prefetch_pulls = EffectiveStaleness(opts_) >= 1;
  const bool cuts = opts_.checkpoint_every_steps > 0 || opts_.checkpoint_every_seconds > 0;
  cut_pending_ = false;
  uint64_t clock = 0, examples = 0;
  double loss_sum = 0;
  bool end = false;
  EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, 0));
  EMBARK_RETURN_IF_ERROR(Load(reader, slots_[0].get(), &end));
  while (!end) {
    Slot* cur = slots_[clock % 2].get();
    Slot* next = slots_[(clock + 1) % 2].get();
    EMBARK_RETURN_IF_ERROR(WaitPulls(cur));
    UngroupDense(cur);
    bool next_loaded = false, next_end = false;
    if (prefetch_pulls) {
      // SSP/ASP: the next batch's rows travel while this one computes.
      std::function<Status()> pause_holding_cur;
      if (cuts) pause_holding_cur = [&] { return PauseIfCut(epoch, clock, examples, loss_sum, &cur->batch); };
      EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, clock + 1, pause_holding_cur));
      EMBARK_RETURN_IF_ERROR(Load(reader, next, &next_end));
      next_loaded = true;
    }
    const LossSum loss = Compute(cur);
    if (opts_.slow_worker == ctx_.worker_index && opts_.slow_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(opts_.slow_ms));
    EMBARK_RETURN_IF_ERROR(PushGradients(cur));
    EMBARK_RETURN_IF_ERROR(WaitPushes(cur));
    ++clock;
    examples += cur->batch.size();
    loss_sum += loss.loss;
    EMBARK_RETURN_IF_ERROR(ReportClock(epoch, clock, examples, loss_sum));
    if (cuts) EMBARK_RETURN_IF_ERROR(PauseIfCut(epoch, clock, examples, loss_sum, next_loaded && !next_end ? &next->batch : nullptr));
    if (!next_loaded) {
      std::function<Status()> pause_holding_nothing;
      if (cuts) pause_holding_nothing = [&] { return PauseIfCut(epoch, clock, examples, loss_sum, nullptr); };
      EMBARK_RETURN_IF_ERROR(WaitForClock(epoch, clock, pause_holding_nothing));
      EMBARK_RETURN_IF_ERROR(Load(reader, next, &next_end));
    }
    end = next_end;
  }
  EpochDone done;
  done.epoch = epoch;
  done.clock = clock;
  done.examples = examples;
  done.loss_sum = loss_sum;
  done.seconds = NowSeconds() - epoch_start;
  for (const auto& [reason, count] : reader->bad_line_counts()) done.bad_lines[BadLineReasonName(reason)] = count;
  return ctx_.control->SendToScheduler(kTrainEpochDone, EncodeMsg(done));
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
  ropts.num_workers = ctx_.num_workers;
  ropts.worker_index = ctx_.worker_index;
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
  Evaluation eval(opts_.format == DataFormat::kRatings ? Evaluation::kRegression : Evaluation::kClassification);
  std::vector<float> all_preds;
  Slot& slot = *slots_[0];
  std::vector<float> preds;
  for (const Batch& batch : test_batches_) {
    // The test batches are used in place (no copy per epoch); slot.batch stays unused here.
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
    eval.Add(preds.data(), batch.labels.data(), n);
    if (final && !opts_.predictions_out.empty()) all_preds.insert(all_preds.end(), preds.begin(), preds.end());
  }
  EvalReport report;
  report.epoch = epoch;
  report.accumulator = eval.Serialize();
  report.predictions = std::move(all_preds);
  return ctx_.control->SendToScheduler(kTrainEval, EncodeMsg(report));
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
  for (int epoch = first_epoch; epoch <= opts_.epochs; ++epoch) {
    EMBARK_RETURN_IF_ERROR(TrainEpoch(epoch, epoch == first_epoch ? resume.get() : nullptr));
    // Everyone's updates of this epoch are in before anyone evaluates; nobody starts the next
    // epoch before everyone evaluated (so evaluation never sees a later epoch's updates).
    EMBARK_RETURN_IF_ERROR(ctx_.control->Barrier(BarrierGroup::kWorkers, opts_.clock_timeout_s));
    EMBARK_RETURN_IF_ERROR(Evaluate(epoch, epoch == opts_.epochs));
    EMBARK_RETURN_IF_ERROR(ctx_.control->Barrier(BarrierGroup::kWorkers, opts_.clock_timeout_s));
    if (opts_.checkpoint_every_epochs > 0 && epoch % opts_.checkpoint_every_epochs == 0) {
      // Nobody pushes while the servers write: the checkpoint is a consistent cut.
      std::string done;
      EMBARK_RETURN_IF_ERROR(WaitFor(kTrainCheckpointed, "the checkpoint to be written", &done));
    }
  }
  return Status::OK();
}

}  // namespace embark
