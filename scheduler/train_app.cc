#include "scheduler/train_app.h"

#include <glog/logging.h>

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "core/checked_file.h"
#include "core/json_text.h"
#include "core/liveness.h"
#include "data/input_position.h"
#include "worker/train_protocol.h"

namespace embark {

namespace {

// A number for people (progress and epoch lines); the metrics JSONL and the checkpoint
// MANIFEST keep every digit (core/json_text.h).
std::string Short(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string Hms(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

}  // namespace

TrainApp::TrainApp(const TrainOptions& opts)
    : opts_(opts), publish_guard_(opts.publish_guard), early_(opts.early_stop, opts.epochs, opts.task) {
  if (!opts_.checkpoint_dir.empty()) store_ = std::make_unique<CheckpointStore>(opts_.checkpoint_dir);
}

namespace {

// The scheduler's part of a checkpoint (scheduler.state): progress counters and metrics.
struct SchedulerState {
  int32_t epochs_done = 0;
  int32_t in_epoch = 0;            // the epoch cut, 0 at a boundary
  uint64_t step = 0;               // global step at the cut
  uint64_t steps_done = 0;         // global steps of the completed epochs
  uint64_t examples_before = 0;    // examples of the completed epochs
  uint64_t epoch_examples = 0;     // cut epoch: examples, loss and highest clock before the cut
  double epoch_loss = 0;
  uint64_t epoch_clock = 0;
  uint64_t examples_per_epoch = 0;
  int32_t chain_length = 1;
  std::map<std::string, double> last_metrics;
  std::map<std::string, uint64_t> bad_lines;
  template <class A> void serialize(A& ar) {
    ar(epochs_done, in_epoch, step, steps_done, examples_before, epoch_examples, epoch_loss, epoch_clock,
       examples_per_epoch, chain_length, last_metrics, bad_lines);
  }
};

}  // namespace

void TrainApp::OnStart(SchedulerHandle* s) {
  num_workers_ = s->table().num_workers;
  num_servers_ = s->table().num_servers;
  start_ = last_progress_ = NowSeconds();
  last_checkpoint_time_ = start_;
  next_step_cut_ = opts_.checkpoint_every_steps;
  stream_end_.assign(num_workers_, "");
  std::string restore;
  if (opts_.resume && store_ != nullptr) {
    const std::vector<std::string> complete = store_->Complete();
    if (!complete.empty()) restore = complete.back();
  }
  if (!opts_.metrics_out.empty()) {
    // A resumed run continues the metrics file of the run it resumes. Lines are appended
    // (O_APPEND) even to a fresh file, because online training's workers append their window
    // lines to the same file.
    if (restore.empty()) std::ofstream(opts_.metrics_out, std::ios::trunc).close();
    metrics_out_.open(opts_.metrics_out, std::ios::app);
    if (!metrics_out_) s->Abort("cannot write --metrics_out file " + opts_.metrics_out, kExitUsage);
  }
  if (!opts_.predictions_out.empty()) {
    // Checked now rather than after the last epoch, which may be hours away.
    std::ofstream p(opts_.predictions_out, std::ios::trunc);
    if (!p) s->Abort("cannot write --predictions_out file " + opts_.predictions_out, kExitUsage);
  }
  if (opts_.resume && restore.empty()) {
    LOG(WARNING) << "--resume: no complete checkpoint in " << opts_.checkpoint_dir << "; starting from epoch 1";
  }
  if (!restore.empty()) {
    Status st = Restore(s, restore);
    if (!st.ok()) s->Abort(Refusal(restore, st.message()), kExitUsage);
  } else {
    Status st = s->BroadcastAppToWorkers(kTrainStart, "1");
    if (!st.ok()) s->Abort("cannot start the workers: " + st.ToString(), kExitAborted);
  }
  LOG(INFO) << "training " << opts_.model << " on " << opts_.train << " for " << opts_.epochs << " epochs, "
            << num_workers_ << " workers, " << ConsistencyName(opts_.consistency)
            << (opts_.consistency == Consistency::kSsp ? " staleness " + std::to_string(opts_.staleness) : std::string());
}

TrainApp::EpochState& TrainApp::Epoch(int epoch) {
  EpochState& e = epochs_[epoch];
  if (e.clock.empty()) {
    e.clock.assign(num_workers_, 0);
    e.done.assign(num_workers_, false);
    e.examples.assign(num_workers_, 0);
    e.loss.assign(num_workers_, 0);
    e.predictions.resize(num_workers_);
  }
  return e;
}

void TrainApp::UpdateMinClock(SchedulerHandle* s, int epoch) {
  EpochState& e = Epoch(epoch);
  uint64_t min = UINT64_MAX, max = 0;
  for (int w = 0; w < num_workers_; ++w) {
    if (e.done[w]) continue;
    min = std::min(min, e.clock[w]);
    max = std::max(max, e.clock[w]);
  }
  if (min == UINT64_MAX) return;  // every worker finished the epoch
  max_clock_spread_ = std::max<int64_t>(max_clock_spread_, static_cast<int64_t>(max - min));
  if (opts_.consistency == Consistency::kAsp || min <= e.broadcast_min) return;
  e.broadcast_min = min;
  MinClock m;
  m.epoch = epoch;
  m.min_clock = min;
  Status st = s->BroadcastAppToWorkers(kTrainMinClock, EncodeMsg(m));
  if (!st.ok()) LOG(WARNING) << "clock broadcast failed: " << st.ToString();
}

uint64_t TrainApp::ExamplesSoFar() const {
  uint64_t n = examples_before_ + resumed_examples_;
  for (const auto& [epoch, e] : epochs_)
    for (uint64_t x : e.examples) n += x;
  return n;
}

double TrainApp::LossSoFar() const {
  double loss = resumed_loss_;
  for (const auto& [epoch, e] : epochs_)
    for (double x : e.loss) loss += x;
  return loss;
}

uint64_t TrainApp::MaxClock(int epoch) const {
  auto it = epochs_.find(epoch);
  uint64_t max = 0;
  if (it != epochs_.end())
    for (uint64_t c : it->second.clock) max = std::max(max, c);
  return max + (epoch == resumed_epoch_ ? resumed_clock_ : 0);
}

uint64_t TrainApp::GlobalStep(int epoch) const { return steps_done_ + MaxClock(epoch); }

double TrainApp::TrainLoss(int epoch) const {
  auto it = epochs_.find(epoch);
  if (it == epochs_.end()) return NAN;
  double loss = epoch == resumed_epoch_ ? resumed_loss_ : 0;
  uint64_t n = epoch == resumed_epoch_ ? resumed_examples_ : 0;
  for (int w = 0; w < num_workers_; ++w) {
    loss += it->second.loss[w];
    n += it->second.examples[w];
  }
  return n ? loss / n : NAN;
}

std::string TrainApp::MetricsLine(int epoch, bool final) const {
  // Field names and their order are the metrics contract (README, "Metrics").
  nlohmann::ordered_json j;
  j["epoch"] = epoch;
  j["examples"] = ExamplesSoFar();
  j["seconds"] = NowSeconds() - start_;
  j["train_loss"] = TrainLoss(epoch);
  double train_seconds = 0;  // training alone (test loading and evaluation excluded), so far
  double load_seconds = 0;   // of which reading the training share into memory (the slowest worker)
  for (const auto& [n, e] : epochs_) {
    if (n > epoch) continue;
    train_seconds += e.train_seconds;
    load_seconds += e.load_seconds;
  }
  j["train_seconds"] = train_seconds;
  j["load_seconds"] = load_seconds;
  // This epoch's traffic (README, "Metrics"): bytes of keys and rows between the workers and
  // the servers per training example, and with --sync=local the share of row reads the
  // workers' replicas answered without a pull.
  auto at = epochs_.find(epoch);
  if (at != epochs_.end()) {
    const EpochState& e = at->second;
    uint64_t examples = 0;
    for (uint64_t x : e.examples) examples += x;
    if (examples > 0) j["kv_bytes_per_example"] = static_cast<double>(e.kv_bytes) / static_cast<double>(examples);
    if (e.row_reads > 0) {
      j["replica_row_reads"] = e.row_reads;
      j["replica_rows_pulled"] = e.rows_pulled;
      j["replica_hit_rate"] = e.rows_pulled >= e.row_reads ? 0.0 : 1.0 - static_cast<double>(e.rows_pulled) / static_cast<double>(e.row_reads);
    }
  }
  for (const auto& [name, value] : last_metrics_) j[name] = value;
  for (const auto& [name, value] : memory_metrics_) j[name] = value;
  if (checkpoint_hook_) j["publishes_withheld"] = publish_guard_.withheld();
  if (final) {
    j["max_clock_spread"] = max_clock_spread_;
    j["consistency"] = ConsistencyName(opts_.consistency);
    j["workers"] = num_workers_;
    nlohmann::ordered_json bad = nlohmann::ordered_json::object();
    for (const auto& [reason, count] : bad_lines_) bad[reason] = count;
    j["bad_lines"] = bad;
    j["final"] = true;
  }
  return JsonText(j);
}

void TrainApp::FinishEpoch(SchedulerHandle* s, int epoch) {
  EpochState& e = Epoch(epoch);
  if (e.reported) return;
  e.reported = true;
  if (!opts_.test.empty() && e.eval) last_metrics_ = e.eval->Results();
  bool last = epoch == opts_.epochs;
  if (e.valid_eval) {
    std::map<std::string, double> valid;
    for (const auto& [name, value] : e.valid_eval->Results())
      valid[name.rfind("test_", 0) == 0 ? "valid_" + name.substr(5) : name] = value;
    if (valid["valid_examples"] == 0) {
      s->Abort(opts_.valid.empty() ? "--valid_fraction=" + std::to_string(opts_.valid_fraction) + " holds out no line of " + opts_.train +
                                         ": the validation set is empty (use a larger fraction)"
                                   : "--valid=" + opts_.valid + " holds no example: the validation set is empty",
               kExitUsage);
    }
    if (early_.Judge(epoch, valid, last_metrics_)) last = true;
    for (const auto& [name, value] : valid) last_metrics_[name] = value;
    if (opts_.early_stop > 0) early_.ExportTo(&last_metrics_);
    e.valid_eval.reset();
  }
  const int best_epoch = early_.best_epoch();
  if (opts_.server_memory.enabled()) memory_metrics_ = e.memory;
  e.eval.reset();  // an AUC accumulator holds 16 MiB; an epoch needs it only until it is reported
  const std::string line = MetricsLine(epoch, false);
  std::ostringstream human;
  human << "epoch " << epoch << "/" << opts_.epochs << " done: train loss " << Short(TrainLoss(epoch));
  for (const auto& [name, value] : last_metrics_) human << ", " << name << " " << Short(value);
  if (opts_.server_memory.enabled())
    human << ", rows_held " << memory_metrics_["rows_held"] << ", rows_evicted " << memory_metrics_["rows_evicted"];
  human << " (" << Hms(NowSeconds() - start_) << " elapsed)";
  if (early_.stopped_at() == epoch) {
    human << "\nearly stopping after epoch " << epoch << ": " << early_.loss_name() << " has not improved on "
          << Short(early_.best_loss()) << " (epoch " << best_epoch << ") for " << opts_.early_stop << " epochs";
  }
  std::printf("%s\n", human.str().c_str());
  std::fflush(stdout);
  if (metrics_out_.is_open()) {
    metrics_out_ << line << "\n";
    metrics_out_.flush();
  }
  // With early stopping the job's result is its best epoch: its predictions are kept until the end.
  if (opts_.early_stop > 0 && best_epoch == epoch) best_predictions_ = std::move(e.predictions);
  if (last && !opts_.predictions_out.empty() && !opts_.test.empty()) {
    const std::vector<std::vector<float>>* preds = &e.predictions;
    if (opts_.early_stop > 0) {
      if (!best_predictions_.empty()) {
        preds = &best_predictions_;
      } else {
        LOG(WARNING) << "--predictions_out: the best epoch (" << best_epoch << ") was trained before the resume; writing epoch "
                     << epoch << "'s predictions";
      }
    }
    std::ofstream p(opts_.predictions_out, std::ios::trunc);
    p << std::setprecision(9);  // float round-trips: serving checks its scores against these
    for (const auto& part : *preds)
      for (float v : part) p << v << "\n";
    if (!p) s->Abort("cannot write --predictions_out file " + opts_.predictions_out, kExitUsage);
  }
  e.predictions.clear();
  e.predictions.shrink_to_fit();
  bool checkpoint = opts_.checkpoint_every_epochs > 0 && epoch % opts_.checkpoint_every_epochs == 0;
  if (opts_.early_stop > 0) {
    // With a checkpoint directory, the best epoch so far and the epoch the job stops at are
    // checkpointed whatever the cadence (the model to export, and the model it ends with);
    // the verdict tells the workers whether to wait for that checkpoint.
    if (store_ != nullptr && (best_epoch == epoch || early_.stopped_at() == epoch)) checkpoint = true;
    const std::string verdict = std::string(early_.stopped_at() == epoch ? "stop" : "go on") + (checkpoint ? " checkpoint" : "");
    Status st = s->BroadcastAppToWorkers(kTrainVerdict, verdict);
    if (!st.ok()) s->Abort("cannot tell the workers whether to go on: " + st.ToString(), kExitAborted);
  }
  if (checkpoint) StartCheckpoint(s, epoch);
  if (opts_.stream && store_ != nullptr) FinishStream(s, epoch);
}

void TrainApp::FinishStream(SchedulerHandle* s, int epoch) {
  // The end of a stream (complete, --max_events, --max_seconds) is checkpointed like a cut, at
  // the positions where every worker's stream ended: a resume goes on after the last event
  // trained, and --publish_dir serves everything the job trained. Not after SIGTERM's final
  // cut (already written), nor when nothing was trained since the last checkpoint. The workers
  // wait for kTrainCheckpointed either way (its payload is empty when nothing is written).
  // The epoch is complete: steps_done_ already counts its steps (GlobalStep would add them again).
  uint64_t step = steps_done_;
  if (stopping_ || ExamplesSoFar() == examples_at_start_) {
    Status st = s->BroadcastAppToWorkers(kTrainCheckpointed, "");
    if (!st.ok()) s->Abort("cannot release the workers at the end of the stream: " + st.ToString(), kExitAborted);
    return;
  }
  // As in CheckCutReady: the name never repeats the previous checkpoint's.
  if (!last_checkpoint_.empty()) step = std::max(step, last_step_ + 1);
  cut_ = Cut();
  cut_.epoch = epoch;
  cut_.positions.assign(num_workers_, "");
  final_stream_save_ = true;
  LOG(INFO) << "every worker's stream ended: checkpointing where they ended";
  StartSave(s, CheckpointStore::Name(epoch - 1, epoch, step), epoch - 1, epoch, step);
}

// Checkpoint protocol. Epoch boundary: after the evaluation of a checkpoint epoch every worker
// waits (after its barrier) for kTrainCheckpointed, so no push is in flight. Mid-epoch: the
// workers pause at a cut (MaybeStartCut / CheckCutReady). Then the scheduler asks every server
// to write its shard (kServerSave), collects their checksums (kServerSaved), writes the
// workers' positions and its own state (checked files), writes the MANIFEST last (temp name +
// rename), prunes old checkpoints and releases the workers.
void TrainApp::StartCheckpoint(SchedulerHandle* s, int epoch) { StartSave(s, CheckpointStore::Name(epoch, 0, 0), epoch, 0, steps_done_); }

void TrainApp::MaybeStartCut(SchedulerHandle* s, int epoch, bool force) {
  if (store_ == nullptr || cut_.active || !saving_.empty()) return;
  if (stopping_ && !force) return;  // the final cut was asked for (or written): no other
  if (!force && opts_.checkpoint_every_steps == 0 && opts_.checkpoint_every_seconds <= 0) return;
  EpochState& e = Epoch(epoch);
  if (std::all_of(e.done.begin(), e.done.end(), [](bool b) { return b; })) return;
  const bool due = force || (opts_.checkpoint_every_steps > 0 && GlobalStep(epoch) >= next_step_cut_) ||
                   (opts_.checkpoint_every_seconds > 0 && NowSeconds() - last_checkpoint_time_ >= opts_.checkpoint_every_seconds);
  if (!due) return;
  // Above every clock reported so far: no worker has to go back (a faster one pauses where it is).
  CutRequest c;
  c.epoch = epoch;
  c.clock = *std::max_element(e.clock.begin(), e.clock.end()) + 1;
  // A stream worker pauses after the batch it is training: its partitions may hold far fewer
  // events than another worker's (or none for a while), so it may never reach the others' clock.
  if (opts_.stream) c.clock = 0;
  cut_ = Cut();
  cut_.active = true;
  cut_.epoch = epoch;
  cut_.positions.assign(num_workers_, "");
  VLOG(1) << "asking the workers to pause for a checkpoint in epoch " << epoch << " at clock " << c.clock;
  Status st = s->BroadcastAppToWorkers(kTrainCut, EncodeMsg(c));
  if (!st.ok()) s->Abort("cannot ask the workers to pause for a checkpoint: " + st.ToString(), kExitAborted);
}

void TrainApp::CheckCutReady(SchedulerHandle* s) {
  if (!cut_.active || !saving_.empty()) return;
  const EpochState& e = Epoch(cut_.epoch);
  int paused = 0;
  for (int w = 0; w < num_workers_; ++w) {
    if (cut_.positions[w].empty() && !e.done[w]) return;  // still training
    paused += !cut_.positions[w].empty();
  }
  if (paused == 0) {
    // Every worker finished the epoch before reaching the cut: nobody waits, nothing to write.
    cut_ = Cut();
    return;
  }
  uint64_t step = GlobalStep(cut_.epoch);
  // A stream's workers may all be idle between two cuts (or the fastest one finished): the
  // step still advances, so no checkpoint takes the name (and the place) of the previous one.
  if (opts_.stream && !last_checkpoint_.empty()) step = std::max(step, last_step_ + 1);
  StartSave(s, CheckpointStore::Name(cut_.epoch - 1, cut_.epoch, step), cut_.epoch - 1, cut_.epoch, step);
}

void TrainApp::StartSave(SchedulerHandle* s, const std::string& name, int epochs_done, int in_epoch, uint64_t step) {
  Status st = store_->Prepare(name);
  if (!st.ok()) s->Abort(st.message(), kExitUsage);
  saving_ = name;
  saving_epochs_done_ = epochs_done;
  saving_in_epoch_ = in_epoch;
  saving_step_ = step;
  // Every --full_every-th checkpoint is full; the others hold the rows changed since the previous.
  saving_delta_ = !last_checkpoint_.empty() && chain_length_ < opts_.full_every;
  saved_.assign(num_servers_, "");
  for (int i = 0; i < num_servers_; ++i) {
    const std::string path = store_->PathOf(name) + "/server-" + std::to_string(i) + ".shard";
    st = s->SendApp(s->table().ServerRank(i), kServerSave, saving_delta_ ? path + "\ndelta" : path);
    if (!st.ok()) s->Abort("cannot ask server " + std::to_string(i) + " to checkpoint: " + st.ToString(), kExitAborted);
  }
}

void TrainApp::MaybeFinishEpoch(SchedulerHandle* s, int epoch) {
  EpochState& e = Epoch(epoch);
  const bool trained = std::all_of(e.done.begin(), e.done.end(), [](bool b) { return b; });
  const bool validated = (opts_.valid.empty() && opts_.valid_fraction <= 0) || e.valid_evals == num_workers_;
  const bool evaluated = (opts_.test.empty() ? trained : e.evals == num_workers_) && validated;
  const bool memory = !opts_.server_memory.enabled() || e.memory_reports == num_servers_;
  if (evaluated && memory) FinishEpoch(s, epoch);
}

// "epoch=N key=value ..." from a server: summed over servers, except peak_bytes (the largest
// server's peak, which is what a per-server budget is about).
void TrainApp::OnServerMemory(int server, const std::string& payload) {
  std::istringstream in(payload);
  std::map<std::string, uint64_t> values;
  for (std::string word; in >> word;) {
    const size_t eq = word.find('=');
    if (eq != std::string::npos) values[word.substr(0, eq)] = std::strtoull(word.c_str() + eq + 1, nullptr, 10);
  }
  const int epoch = static_cast<int>(values["epoch"]);
  if (epoch < 1) {
    LOG(WARNING) << "ignoring a memory report without an epoch from server " << server << ": " << payload;
    return;
  }
  values.erase("epoch");
  EpochState& e = Epoch(epoch);
  for (const auto& [name, value] : values) {
    uint64_t& slot = e.memory[name];
    slot = name == "peak_bytes" ? std::max(slot, value) : slot + value;
  }
  e.memory["rows_evicted"] = e.memory["rows_evicted_ttl"] + e.memory["rows_evicted_memory"];
  ++e.memory_reports;
}

std::string TrainApp::SchedulerStateBytes(int epochs_done, int in_epoch, uint64_t step) const {
  SchedulerState st;
  st.in_epoch = in_epoch;
  st.epochs_done = epochs_done;
  st.step = step;
  st.steps_done = steps_done_;
  st.examples_per_epoch = examples_per_epoch_;
  st.chain_length = saving_delta_ ? chain_length_ + 1 : 1;
  st.last_metrics = last_metrics_;
  st.bad_lines = bad_lines_;
  const uint64_t total = ExamplesSoFar();
  if (in_epoch > 0) {
    auto it = epochs_.find(in_epoch);
    st.epoch_examples = in_epoch == resumed_epoch_ ? resumed_examples_ : 0;
    st.epoch_loss = in_epoch == resumed_epoch_ ? resumed_loss_ : 0;
    if (it != epochs_.end()) {
      for (int w = 0; w < num_workers_; ++w) {
        st.epoch_examples += it->second.examples[w];
        st.epoch_loss += it->second.loss[w];
      }
    }
    st.epoch_clock = MaxClock(in_epoch);
  }
  st.examples_before = total - st.epoch_examples;
  return EncodeMsg(st);
}

void TrainApp::MaybePublish(const std::string& dir) {
  // The rule is PublishGuard's (publish_guard.h).
  // LossSoFar covers the examples of this run (and of the cut epoch it resumed inside), not
  // those of the epochs completed before a restore: the same examples on both sides.
  const PublishGuard::Verdict v = publish_guard_.Judge(LossSoFar(), ExamplesSoFar() - examples_before_);
  if (!v.publish) {
    if (v.judged) {
      LOG(WARNING) << "--publish_guard: not publishing " << dir << ": the mean loss of the " << v.interval_examples
                   << " examples since the last publish, " << v.interval_loss << ", is more than " << (1 + opts_.publish_guard)
                   << " x the " << v.baseline << " of the versions published last (the newest keeps serving; "
                   << publish_guard_.withheld() << " withheld so far)";
    } else {
      LOG(WARNING) << "--publish_guard: not publishing " << dir << ": the mean loss of the " << v.interval_examples
                   << " examples since the last publish is " << v.interval_loss
                   << ", not a finite number: the model diverged; the version published last keeps serving ("
                   << publish_guard_.withheld() << " withheld so far)";
    }
    return;
  }
  // The checkpoint just written is a consistent cut; a failed publish is logged and the next
  // checkpoint publishes again (readers keep the last good version).
  Status st = checkpoint_hook_(dir);
  if (!st.ok()) {
    LOG(ERROR) << "--publish_dir: cannot publish " << dir << ": " << st.message();
    return;
  }
  if (v.judged) {
    LOG(INFO) << "--publish_guard: published " << dir << ": mean loss " << v.interval_loss << " of the " << v.interval_examples
              << " examples since the last publish, against " << v.baseline << " of the versions published before it";
  }
  publish_guard_.Published(v);
}

void TrainApp::FinishSave(SchedulerHandle* s) {
  const std::string dir = store_->PathOf(saving_);
  Manifest m;
  m.model = opts_.model;
  m.in_epoch = saving_in_epoch_;
  m.epochs_done = saving_epochs_done_;
  m.step = saving_step_;
  m.delta = saving_delta_;
  m.base = saving_delta_ ? last_checkpoint_ : "";
  m.servers = num_servers_;
  m.workers = num_workers_;
  m.format = DataFormatName(opts_.format);
  m.seed = opts_.seed;
  for (const auto& [name, value] : opts_.model_options) m.options.emplace_back(name, value);
  m.metrics.emplace_back("train_loss", JsonNumberText(TrainLoss(saving_epochs_done_ > 0 ? saving_epochs_done_ : 1)));
  for (const auto& [name, value] : last_metrics_) m.metrics.emplace_back(name, JsonNumberText(value));
  for (int i = 0; i < num_servers_; ++i)
    m.files.push_back({"shard", "server-" + std::to_string(i) + ".shard", std::strtoull(saved_[i].c_str(), nullptr, 10)});
  if (saving_in_epoch_ > 0) {
    if (opts_.stream) {
      // The committed length of every worker's trained log at this cut, for every position.
      for (int w = 0; w < num_workers_; ++w) {
        const std::string& bytes = cut_.positions[w].empty() ? stream_end_[w] : cut_.positions[w];
        InputPosition pos;
        if (!bytes.empty() && DecodePosition(bytes, "the position of worker " + std::to_string(w), &pos).ok())
          for (const auto& [index, length] : pos.stream.trained_logs) committed_logs_[index] = length;
      }
    }
    for (int w = 0; w < num_workers_; ++w) {
      std::string bytes = opts_.stream ? StreamPositionBytes(s, w) : cut_.positions[w];
      if (bytes.empty()) {
        // This worker had finished its share of the epoch: nothing of it remains.
        InputPosition done;
        done.epoch = cut_.epoch;
        done.epoch_done = true;
        done.clock = Epoch(cut_.epoch).clock[w];
        bytes = EncodePosition(done);
      }
      const std::string name = "worker-" + std::to_string(w) + ".position";
      uint64_t sum = 0;
      Status st = WriteCheckedFile(dir + "/" + name, bytes, &sum);
      if (!st.ok()) s->Abort(st.message(), kExitAborted);
      m.files.push_back({"position", name, sum});
    }
  }
  {
    uint64_t sum = 0;
    Status st = WriteCheckedFile(dir + "/scheduler.state", SchedulerStateBytes(saving_epochs_done_, saving_in_epoch_, saving_step_), &sum);
    if (!st.ok()) s->Abort(st.message(), kExitAborted);
    m.files.push_back({"state", "scheduler.state", sum});
  }
  Status st = store_->WriteManifest(saving_, m);
  if (!st.ok()) s->Abort(st.message(), kExitAborted);
  // With early stopping the job's result is its best epoch: only a checkpoint of a new best
  // epoch is published (not the epochs after it, nor mid-epoch cuts, which no validation judged).
  const bool publishable = opts_.early_stop <= 0 || (saving_in_epoch_ == 0 && saving_epochs_done_ == early_.best_epoch());
  if (checkpoint_hook_ && publishable) MaybePublish(dir);
  if (checkpoint_hook_ && !publishable) LOG(INFO) << "--publish_dir: not publishing " << dir << ": with --early_stop only a new best epoch is published";
  if (saving_in_epoch_ == 0) {
    LOG(INFO) << "checkpoint after epoch " << saving_epochs_done_ << " written to " << dir << (saving_delta_ ? " (delta of " + last_checkpoint_ + ")" : " (full)");
  } else {
    LOG(INFO) << "checkpoint in epoch " << saving_in_epoch_ << " at step " << saving_step_ << " written to " << dir
              << (saving_delta_ ? " (delta of " + last_checkpoint_ + ")" : " (full)");
  }
  chain_length_ = saving_delta_ ? chain_length_ + 1 : 1;
  last_checkpoint_ = saving_;
  last_step_ = saving_step_;
  last_checkpoint_time_ = NowSeconds();
  if (opts_.checkpoint_every_steps > 0) next_step_cut_ = saving_step_ + opts_.checkpoint_every_steps;
  if (opts_.early_stop > 0 && saving_in_epoch_ == 0 && saving_epochs_done_ == early_.best_epoch()) best_checkpoint_ = saving_;
  store_->Prune(opts_.keep_checkpoints, best_checkpoint_);
  const std::string name = saving_;
  saving_.clear();
  if (saving_in_epoch_ == 0) {
    st = s->BroadcastAppToWorkers(kTrainCheckpointed, name);
    if (!st.ok()) s->Abort("cannot release the workers after the checkpoint: " + st.ToString(), kExitAborted);
    return;
  }
  if (stopping_) LOG(INFO) << "final checkpoint " << dir << " written; the workers stop there";
  if (final_stream_save_) {
    final_stream_save_ = false;
    cut_ = Cut();
    st = s->BroadcastAppToWorkers(kTrainCheckpointed, name);
    if (!st.ok()) s->Abort("cannot release the workers after the stream's last checkpoint: " + st.ToString(), kExitAborted);
    return;
  }
  for (int w = 0; w < num_workers_; ++w) {
    if (cut_.positions[w].empty()) continue;
    st = s->SendApp(s->table().WorkerRank(w), kTrainCutDone, stopping_ ? name + "\nstop" : name);
    if (!st.ok()) s->Abort("cannot release worker " + std::to_string(w) + " after the checkpoint: " + st.ToString(), kExitAborted);
  }
  cut_ = Cut();
}

std::string TrainApp::StreamPositionBytes(SchedulerHandle* s, int w) {
  const std::string& bytes = cut_.positions[w].empty() ? stream_end_[w] : cut_.positions[w];
  InputPosition pos;
  Status st = bytes.empty() ? Status::Internal("worker " + std::to_string(w) + " finished its stream without saying where it ended")
                            : DecodePosition(bytes, "the position of worker " + std::to_string(w), &pos);
  if (st.ok() && !pos.has_stream) st = Status::Corruption("worker " + std::to_string(w) + " sent a file position for a stream");
  if (!st.ok()) s->Abort("cannot write the stream checkpoint: " + st.message(), kExitAborted);
  pos.stream.trained_logs = committed_logs_;
  return EncodePosition(pos);
}

bool TrainApp::OnTerminationRequested(SchedulerHandle* s) {
  if (!opts_.stream || store_ == nullptr) return false;
  if (stopping_) return true;
  stopping_ = true;
  const EpochState& e = Epoch(current_epoch_);
  if (std::all_of(e.done.begin(), e.done.end(), [](bool b) { return b; })) {
    LOG(INFO) << "SIGTERM: every worker has finished its stream; the job ends";
    return true;
  }
  LOG(INFO) << "SIGTERM: taking a final checkpoint of the stream, then stopping";
  // A cut being taken now becomes the final one (its release says stop); else one is started.
  if (!cut_.active && saving_.empty()) MaybeStartCut(s, current_epoch_, /*force=*/true);
  return true;
}

std::string TrainApp::Refusal(const std::string& name, const std::string& why) const {
  std::string earlier;
  const std::vector<std::string> complete = store_->Complete();
  for (auto it = complete.rbegin(); it != complete.rend(); ++it) {
    if (*it == name) continue;
    uint64_t a[3], b[3];
    if (!CheckpointStore::OrderKey(*it, a) || !CheckpointStore::OrderKey(name, b) ||
        !std::lexicographical_compare(a, a + 3, b, b + 3))
      continue;
    earlier += (earlier.empty() ? "" : ", ") + store_->PathOf(*it);
  }
  return "cannot resume from the checkpoint " + store_->PathOf(name) + ": " + why +
         (earlier.empty() ? std::string("; no earlier complete checkpoint")
                          : "; earlier complete checkpoints: " + earlier + " (move the broken one away to resume from them)");
}

Status TrainApp::Restore(SchedulerHandle* s, const std::string& name) {
  std::vector<std::string> chain;
  std::vector<Manifest> manifests;
  EMBARK_RETURN_IF_ERROR(store_->Chain(name, &chain, &manifests));
  for (size_t i = 0; i < chain.size(); ++i) {
    if (manifests[i].model != opts_.model)
      return Status::InvalidArgument(store_->PathOf(chain[i]) + "/MANIFEST: a checkpoint of model " + manifests[i].model +
                                     ", not " + opts_.model);
  }
  const Manifest& m = manifests.back();
  const std::string dir = store_->PathOf(name);
  // The scheduler's own state.
  const std::vector<ManifestFile> state_files = m.FilesOf("state");
  if (state_files.size() != 1) return Status::Corruption(dir + "/MANIFEST: no scheduler.state listed");
  std::string bytes;
  EMBARK_RETURN_IF_ERROR(ReadCheckedFile(dir + "/" + state_files[0].name, &bytes, &state_files[0].checksum));
  SchedulerState st;
  if (!DecodeMsg(bytes, &st)) return Status::Corruption(dir + "/" + state_files[0].name + ": undecodable scheduler state");
  // The workers' positions (mid-epoch cuts), re-split over this run's workers.
  resume_inputs_.clear();
  resume_subtype_ = kTrainResumeInput;
  if (m.in_epoch == 0 && opts_.stream)
    return Status::InvalidArgument(dir + " was taken at the end of an epoch of files, not in a stream; --train=" + opts_.train +
                                   " cannot continue from it");
  if (m.in_epoch > 0) {
    std::vector<RemainingInput> remaining;
    std::vector<StreamCut> cuts;
    int streams = 0;
    for (const ManifestFile& f : m.FilesOf("position")) {
      EMBARK_RETURN_IF_ERROR(ReadCheckedFile(dir + "/" + f.name, &bytes, &f.checksum));
      InputPosition pos;
      EMBARK_RETURN_IF_ERROR(DecodePosition(bytes, dir + "/" + f.name, &pos));
      if (pos.epoch != m.in_epoch)
        return Status::Corruption(dir + "/" + f.name + ": a position in epoch " + std::to_string(pos.epoch) + ", the MANIFEST says " +
                                  std::to_string(m.in_epoch));
      streams += pos.has_stream;
      // A stream worker that had finished still has positions: where its share continues.
      if (pos.has_stream) cuts.push_back(std::move(pos.stream));
      else if (!pos.epoch_done) remaining.push_back(std::move(pos.input));
    }
    if (static_cast<int>(m.FilesOf("position").size()) != m.workers)
      return Status::Corruption(dir + "/MANIFEST: " + std::to_string(m.FilesOf("position").size()) + " worker positions for " +
                                std::to_string(m.workers) + " workers");
    if (streams > 0 && streams != m.workers)
      return Status::Corruption(dir + ": " + std::to_string(streams) + " of " + std::to_string(m.workers) +
                                " worker positions are stream positions");
    if ((streams > 0) != opts_.stream)
      return Status::InvalidArgument(dir + (streams > 0 ? " holds stream positions, but --train=" + opts_.train + " is files"
                                                        : " holds file positions, but --train=" + opts_.train + " is a stream"));
    if (opts_.stream) {
      StreamCut merged;
      EMBARK_RETURN_IF_ERROR(MergeStreamCuts(cuts, opts_.train, dir, &merged));
      committed_logs_ = merged.trained_logs;
      for (const StreamResume& r : AssignStreamResume(merged, num_workers_)) resume_inputs_.push_back(EncodeMsg(r));
      resume_subtype_ = kTrainResumeStream;
      LOG(INFO) << "the stream continues from " << merged.next.size() << " saved positions (partitions or parts)";
    } else {
      std::vector<RemainingInput> shares;
      EMBARK_RETURN_IF_ERROR(ResplitRemaining(remaining, num_workers_, &shares));
      for (const RemainingInput& r : shares) resume_inputs_.push_back(EncodeMsg(r));
    }
  }
  // Every server reads every shard of every checkpoint of the chain, base first, and keeps the
  // rows it owns now: the server count may differ.
  std::string paths;
  for (size_t i = 0; i < chain.size(); ++i)
    for (const ManifestFile& f : manifests[i].FilesOf("shard"))
      paths += store_->PathOf(chain[i]) + "/" + f.name + " " + std::to_string(f.checksum) + "\n";
  restored_ = name;
  last_checkpoint_ = name;
  last_step_ = m.step;
  chain_length_ = static_cast<int>(chain.size());
  steps_done_ = st.steps_done;
  examples_before_ = st.examples_before;
  examples_per_epoch_ = st.examples_per_epoch;
  last_metrics_ = st.last_metrics;
  bad_lines_ = st.bad_lines;
  if (opts_.early_stop > 0) {
    early_.Restore(last_metrics_);
    const std::vector<std::string> complete = store_->Complete();
    const std::string best = CheckpointStore::Name(early_.best_epoch(), 0, 0);
    if (early_.best_epoch() > 0 && std::find(complete.begin(), complete.end(), best) != complete.end()) best_checkpoint_ = best;
  }
  if (opts_.checkpoint_every_steps > 0) next_step_cut_ = m.step + opts_.checkpoint_every_steps;
  if (m.in_epoch > 0) {
    first_epoch_ = m.in_epoch;
    resumed_epoch_ = m.in_epoch;
    resumed_examples_ = st.epoch_examples;
    resumed_loss_ = st.epoch_loss;
    resumed_clock_ = st.epoch_clock;
  } else {
    first_epoch_ = m.epochs_done + 1;
  }
  // A job that stopped early is over: its workers get an epoch past the last, and train none.
  if (early_.stopped_at() > 0 && m.in_epoch == 0) first_epoch_ = opts_.epochs + 1;
  examples_at_start_ = ExamplesSoFar();
  LOG(INFO) << "resuming from the checkpoint " << dir << " (" << (m.in_epoch > 0 ? "inside epoch " + std::to_string(m.in_epoch) : "after epoch " + std::to_string(m.epochs_done))
            << ", step " << m.step << ", a chain of " << chain.size() << ") on " << num_servers_ << " servers and " << num_workers_ << " workers";
  restoring_ = num_servers_;
  for (int i = 0; i < num_servers_; ++i) {
    Status sent = s->SendApp(s->table().ServerRank(i), kServerLoad, paths);
    if (!sent.ok()) s->Abort("cannot ask server " + std::to_string(i) + " to restore: " + sent.ToString(), kExitAborted);
  }
  if (metrics_out_.is_open()) {
    nlohmann::ordered_json line;
    line["resumed_from_epoch"] = m.epochs_done;
    line["resumed_from"] = {{"epoch", m.in_epoch > 0 ? m.in_epoch : m.epochs_done},
                            {"step", m.step},
                            {"mid_epoch", m.in_epoch > 0},
                            {"examples", examples_at_start_}};
    line["checkpoint"] = dir;
    line["servers"] = num_servers_;
    line["workers"] = num_workers_;
    metrics_out_ << JsonText(line) << "\n";
    metrics_out_.flush();
  }
  return Status::OK();
}

void TrainApp::OnServerMessage(SchedulerHandle* s, int server, const Message& msg) {
  const std::string payload = msg.frames.empty() ? std::string() : msg.FrameString(0);
  if (msg.header.aux == kServerMemory) {
    OnServerMemory(server, payload);
    int epoch = 0;
    if (std::sscanf(payload.c_str(), "epoch=%d", &epoch) == 1) MaybeFinishEpoch(s, epoch);
    return;
  }
  if (msg.header.aux == kServerLoaded) {
    if (payload != "ok") s->Abort(Refusal(restored_, "server " + std::to_string(server) + " could not load it: " + payload), kExitUsage);
    if (--restoring_ == 0) {
      for (int w = 0; w < static_cast<int>(resume_inputs_.size()); ++w) {
        Status st = s->SendApp(s->table().WorkerRank(w), resume_subtype_, resume_inputs_[w]);
        if (!st.ok()) s->Abort("cannot send worker " + std::to_string(w) + " its input: " + st.ToString(), kExitAborted);
      }
      resume_inputs_.clear();
      Status st = s->BroadcastAppToWorkers(kTrainStart, std::to_string(first_epoch_));
      if (!st.ok()) s->Abort("cannot start the workers: " + st.ToString(), kExitAborted);
    }
  } else if (msg.header.aux == kServerSaved && !saving_.empty()) {
    if (payload.rfind("ok ", 0) != 0) s->Abort("server " + std::to_string(server) + " could not write its checkpoint shard: " + payload, kExitAborted);
    saved_[server] = payload.substr(3);
    for (const std::string& c : saved_)
      if (c.empty()) return;
    FinishSave(s);
  }
}

void TrainApp::OnApp(SchedulerHandle* s, const Message& msg) {
  const int server = msg.peer - 1;
  if (server >= 0 && server < s->table().num_servers) {
    OnServerMessage(s, server, msg);
    return;
  }
  const int w = msg.peer - 1 - s->table().num_servers;
  if (w < 0 || w >= num_workers_ || msg.frames.size() != 1) return;
  const std::string payload = msg.FrameString(0);
  switch (msg.header.aux) {
    case kTrainClock: {
      ClockReport r;
      if (!DecodeMsg(payload, &r)) break;
      EpochState& e = Epoch(r.epoch);
      e.clock[w] = r.clock;
      e.examples[w] = r.examples;
      e.loss[w] = r.loss_sum;
      current_epoch_ = std::max(current_epoch_, static_cast<int>(r.epoch));
      UpdateMinClock(s, r.epoch);
      MaybeStartCut(s, r.epoch);
      break;
    }
    case kTrainPaused: {
      InputPosition pos;
      Status st = DecodePosition(payload, "the position of worker " + std::to_string(w), &pos);
      if (!st.ok()) s->Abort(st.message(), kExitAborted);
      if (!cut_.active || pos.epoch != cut_.epoch) {
        s->Abort("worker " + std::to_string(w) + " paused in epoch " + std::to_string(pos.epoch) + " without a cut request", kExitAborted);
      }
      EpochState& e = Epoch(pos.epoch);
      e.clock[w] = pos.clock;
      e.examples[w] = pos.examples;
      e.loss[w] = pos.loss_sum;
      cut_.positions[w] = payload;
      CheckCutReady(s);
      break;
    }
    case kTrainStreamEnd: {
      InputPosition pos;
      Status st = DecodePosition(payload, "the stream end of worker " + std::to_string(w), &pos);
      if (!st.ok() || !pos.has_stream) s->Abort("worker " + std::to_string(w) + " reported a bad stream end: " + st.message(), kExitAborted);
      stream_end_[w] = payload;
      break;
    }
    case kTrainEpochDone: {
      EpochDone d;
      if (!DecodeMsg(payload, &d)) break;
      EpochState& e = Epoch(d.epoch);
      e.clock[w] = d.clock;
      e.examples[w] = d.examples;
      e.loss[w] = d.loss_sum;
      e.done[w] = true;
      e.train_seconds = std::max(e.train_seconds, d.seconds);
      e.load_seconds = std::max(e.load_seconds, d.load_seconds);
      e.kv_bytes += d.kv_bytes_sent + d.kv_bytes_received;
      e.row_reads += d.replica_row_reads;
      e.rows_pulled += d.replica_rows_pulled;
      if (d.epoch == 1)
        for (const auto& [reason, count] : d.bad_lines) bad_lines_[reason] += count;
      UpdateMinClock(s, d.epoch);
      if (std::all_of(e.done.begin(), e.done.end(), [](bool b) { return b; })) {
        if (d.epoch == 1) {
          examples_per_epoch_ = d.epoch == resumed_epoch_ ? resumed_examples_ : 0;
          for (uint64_t x : e.examples) examples_per_epoch_ += x;
        }
        steps_done_ = GlobalStep(d.epoch);
        if (opts_.server_memory.enabled()) {
          // The servers' epoch TTL sweep, and their counters for this epoch's metrics line.
          for (int i = 0; i < num_servers_; ++i) {
            Status st = s->SendApp(s->table().ServerRank(i), kServerEpochEnd, std::to_string(d.epoch));
            if (!st.ok()) s->Abort("cannot tell server " + std::to_string(i) + " the epoch ended: " + st.ToString(), kExitAborted);
          }
        }
        MaybeFinishEpoch(s, d.epoch);
      }
      if (cut_.active && cut_.epoch == d.epoch) CheckCutReady(s);
      break;
    }
    case kTrainEval: {
      EvalReport r;
      if (!DecodeMsg(payload, &r)) break;
      EpochState& e = Epoch(r.epoch);
      if (e.reported) break;
      if (!e.eval) {
        e.eval = std::make_unique<Evaluation>(Evaluation::KindOf(opts_.task), opts_.top_k);
      }
      Status st = e.eval->Merge(r.accumulator);
      if (!st.ok()) s->Abort("bad evaluation report from worker " + std::to_string(w) + ": " + st.ToString(), kExitAborted);
      e.predictions[w] = std::move(r.predictions);
      ++e.evals;
      MaybeFinishEpoch(s, r.epoch);
      break;
    }
    case kTrainValidEval: {
      EvalReport r;
      if (!DecodeMsg(payload, &r)) break;
      EpochState& e = Epoch(r.epoch);
      if (e.reported) break;
      if (!e.valid_eval) e.valid_eval = std::make_unique<Evaluation>(Evaluation::KindOf(opts_.task), opts_.top_k);
      Status st = e.valid_eval->Merge(r.accumulator);
      if (!st.ok()) s->Abort("bad validation report from worker " + std::to_string(w) + ": " + st.ToString(), kExitAborted);
      ++e.valid_evals;
      MaybeFinishEpoch(s, r.epoch);
      break;
    }
    default:
      LOG(WARNING) << "training scheduler ignores app message " << msg.header.aux << " from worker " << w;
  }
}

void TrainApp::OnTick(SchedulerHandle* s) {
  const double now = NowSeconds();
  // Cuts are started when clocks arrive, and a quiet stream sends none: a checkpoint due by
  // time starts from here, once something was trained since the last one (else a stream that
  // trained a burst and went quiet would publish it only when the next event arrives).
  if (opts_.stream && opts_.checkpoint_every_seconds > 0 && GlobalStep(current_epoch_) > last_step_)
    MaybeStartCut(s, current_epoch_);
  if (now - last_progress_ < opts_.progress_every_s) return;
  const double elapsed = now - start_;
  const uint64_t done = ExamplesSoFar();
  const double rate = elapsed > 0 ? (done - examples_at_start_) / elapsed : 0;
  std::string eta = "after epoch 1";
  if (examples_per_epoch_ > 0 && rate > 0) {
    const double total = static_cast<double>(examples_per_epoch_) * opts_.epochs;
    eta = Hms((total - done) / rate);
  }
  char line[256];
  std::snprintf(line, sizeof(line), "progress: epoch %d/%d, %" PRIu64 " examples, %.0f examples/s, train loss %s, ETA %s",
                current_epoch_, opts_.epochs, done, rate, Short(TrainLoss(current_epoch_)).c_str(), eta.c_str());
  std::printf("%s\n", line);
  std::fflush(stdout);
  last_progress_ = now;
}

int TrainApp::OnAllWorkersDone(SchedulerHandle* s) {
  const double elapsed = NowSeconds() - start_;
  const std::string final_line = MetricsLine(LastEpoch(), true);
  if (metrics_out_.is_open()) {
    metrics_out_ << final_line << "\n";
    metrics_out_.flush();
  }
  std::ostringstream m;
  m << "training finished: " << LastEpoch() << " epochs" << (early_.stopped_at() > 0 ? " (stopped early)" : "") << ", " << ExamplesSoFar() << " examples in " << Hms(elapsed)
    << " (" << static_cast<uint64_t>(elapsed > 0 ? ExamplesSoFar() / elapsed : 0) << " examples/s)";
  for (const auto& [name, value] : last_metrics_) m << ", " << name << " " << Short(value);
  if (!bad_lines_.empty()) {
    m << "; skipped lines:";
    for (const auto& [reason, count] : bad_lines_) m << " " << reason << "=" << count;
  }
  if (!best_checkpoint_.empty())
    m << "\nthe best epoch's model (epoch " << early_.best_epoch() << "): checkpoint " << store_->PathOf(best_checkpoint_);
  std::printf("%s\n", m.str().c_str());
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace embark
