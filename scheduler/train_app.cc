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
#include <sstream>

#include "core/liveness.h"
#include "worker/train_protocol.h"

namespace embark {

namespace {

std::string JsonNumber(double v) {
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

TrainApp::TrainApp(const TrainOptions& opts) : opts_(opts) {}

std::string TrainApp::CheckpointDir(int epoch) const {
  return opts_.checkpoint_dir + "/epoch-" + std::to_string(epoch);
}

// The newest checkpoint whose MANIFEST exists (the manifest is written last, after every
// shard, so its presence means the checkpoint is complete). Returns its epoch, or 0.
int TrainApp::LatestCheckpoint(std::string* dir) const {
  int best = 0;
  DIR* d = opendir(opts_.checkpoint_dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    int epoch = 0;
    if (std::sscanf(e->d_name, "epoch-%d", &epoch) != 1 || epoch <= best) continue;
    std::ifstream manifest(CheckpointDir(epoch) + "/MANIFEST");
    std::string word, model;
    if (manifest >> word >> model && word == "model" && model == opts_.model) best = epoch;
  }
  closedir(d);
  if (best > 0) *dir = CheckpointDir(best);
  return best;
}

void TrainApp::OnStart(SchedulerHandle* s) {
  num_workers_ = s->table().num_workers;
  num_servers_ = s->table().num_servers;
  start_ = last_progress_ = NowSeconds();
  std::string restore_dir;
  const int restore_epoch = opts_.resume ? LatestCheckpoint(&restore_dir) : 0;
  if (!opts_.metrics_out.empty()) {
    // A resumed run continues the metrics file of the run it resumes.
    metrics_out_.open(opts_.metrics_out, restore_epoch > 0 ? std::ios::app : std::ios::trunc);
    if (!metrics_out_) s->Abort("cannot write --metrics_out file " + opts_.metrics_out, kExitUsage);
  }
  if (!opts_.predictions_out.empty()) {
    // Checked now rather than after the last epoch, which may be hours away.
    std::ofstream p(opts_.predictions_out, std::ios::trunc);
    if (!p) s->Abort("cannot write --predictions_out file " + opts_.predictions_out, kExitUsage);
  }
  if (opts_.resume && restore_epoch == 0) {
    LOG(WARNING) << "--resume: no complete checkpoint of model " << opts_.model << " in " << opts_.checkpoint_dir
                 << "; starting from epoch 1";
  }
  if (restore_epoch > 0) {
    // Every server reads every shard and keeps the rows it owns now: the server count may differ.
    std::ifstream manifest(restore_dir + "/MANIFEST");
    std::string line, paths;
    while (std::getline(manifest, line)) {
      char file[256];
      if (std::sscanf(line.c_str(), "shard %255s", file) == 1) paths += restore_dir + "/" + file + "\n";
    }
    LOG(INFO) << "resuming from the checkpoint after epoch " << restore_epoch << " in " << restore_dir;
    first_epoch_ = restore_epoch + 1;
    restoring_ = num_servers_;
    for (int i = 0; i < num_servers_; ++i) {
      Status st = s->SendApp(s->table().ServerRank(i), kServerLoad, paths);
      if (!st.ok()) s->Abort("cannot ask server " + std::to_string(i) + " to restore: " + st.ToString(), kExitAborted);
    }
    if (metrics_out_.is_open()) {
      metrics_out_ << "{\"resumed_from_epoch\": " << restore_epoch << ", \"checkpoint\": \"" << restore_dir
                   << "\", \"servers\": " << num_servers_ << ", \"workers\": " << num_workers_ << "}\n";
      metrics_out_.flush();
    }
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
  uint64_t n = 0;
  for (const auto& [epoch, e] : epochs_)
    for (uint64_t x : e.examples) n += x;
  return n;
}

double TrainApp::TrainLoss(int epoch) const {
  auto it = epochs_.find(epoch);
  if (it == epochs_.end()) return NAN;
  double loss = 0;
  uint64_t n = 0;
  for (int w = 0; w < num_workers_; ++w) {
    loss += it->second.loss[w];
    n += it->second.examples[w];
  }
  return n ? loss / n : NAN;
}

std::string TrainApp::MetricsLine(int epoch, bool final) const {
  std::ostringstream j;
  j << "{\"epoch\": " << epoch << ", \"examples\": " << ExamplesSoFar()
    << ", \"seconds\": " << JsonNumber(NowSeconds() - start_) << ", \"train_loss\": " << JsonNumber(TrainLoss(epoch));
  for (const auto& [name, value] : last_metrics_) j << ", \"" << name << "\": " << JsonNumber(value);
  for (const auto& [name, value] : memory_metrics_) j << ", \"" << name << "\": " << value;
  if (final) {
    j << ", \"max_clock_spread\": " << max_clock_spread_ << ", \"consistency\": \"" << ConsistencyName(opts_.consistency)
      << "\", \"workers\": " << num_workers_ << ", \"bad_lines\": {";
    bool first = true;
    for (const auto& [reason, count] : bad_lines_) {
      j << (first ? "" : ", ") << "\"" << reason << "\": " << count;
      first = false;
    }
    j << "}, \"final\": true";
  }
  j << "}";
  return j.str();
}

void TrainApp::FinishEpoch(SchedulerHandle* s, int epoch) {
  EpochState& e = Epoch(epoch);
  if (e.reported) return;
  e.reported = true;
  if (!opts_.test.empty() && e.eval) last_metrics_ = e.eval->Results();
  if (opts_.server_memory.enabled()) memory_metrics_ = e.memory;
  e.eval.reset();  // an AUC accumulator holds 16 MiB; an epoch needs it only until it is reported
  const std::string line = MetricsLine(epoch, false);
  std::ostringstream human;
  human << "epoch " << epoch << "/" << opts_.epochs << " done: train loss " << JsonNumber(TrainLoss(epoch));
  for (const auto& [name, value] : last_metrics_) human << ", " << name << " " << JsonNumber(value);
  if (opts_.server_memory.enabled())
    human << ", rows_held " << memory_metrics_["rows_held"] << ", rows_evicted " << memory_metrics_["rows_evicted"];
  human << " (" << Hms(NowSeconds() - start_) << " elapsed)";
  std::printf("%s\n", human.str().c_str());
  std::fflush(stdout);
  if (metrics_out_.is_open()) {
    metrics_out_ << line << "\n";
    metrics_out_.flush();
  }
  if (epoch == opts_.epochs && !opts_.predictions_out.empty() && !opts_.test.empty()) {
    std::ofstream p(opts_.predictions_out, std::ios::trunc);
    for (const auto& part : e.predictions)
      for (float v : part) p << v << "\n";
    if (!p) s->Abort("cannot write --predictions_out file " + opts_.predictions_out, kExitUsage);
  }
  e.predictions.clear();
  e.predictions.shrink_to_fit();
  if (opts_.checkpoint_every_epochs > 0 && epoch % opts_.checkpoint_every_epochs == 0) StartCheckpoint(s, epoch);
}

// Checkpoint protocol: after the evaluation of a checkpoint epoch every worker waits (after
// its barrier) for kTrainCheckpointed, so no push is in flight; the scheduler asks every server
// to write its shard (kServerSave), collects their checksums (kServerSaved), writes the
// MANIFEST last (temp name + rename), removes checkpoints beyond --keep_checkpoints, and
// releases the workers.
void TrainApp::StartCheckpoint(SchedulerHandle* s, int epoch) {
  const std::string dir = CheckpointDir(epoch);
  if (mkdir(opts_.checkpoint_dir.c_str(), 0755) != 0 && errno != EEXIST)
    s->Abort("cannot create --checkpoint_dir " + opts_.checkpoint_dir + ": " + std::strerror(errno), kExitUsage);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    s->Abort("cannot create checkpoint directory " + dir + ": " + std::strerror(errno), kExitUsage);
  saving_epoch_ = epoch;
  saved_.assign(num_servers_, "");
  for (int i = 0; i < num_servers_; ++i) {
    Status st = s->SendApp(s->table().ServerRank(i), kServerSave, dir + "/server-" + std::to_string(i) + ".shard");
    if (!st.ok()) s->Abort("cannot ask server " + std::to_string(i) + " to checkpoint: " + st.ToString(), kExitAborted);
  }
}

void TrainApp::MaybeFinishEpoch(SchedulerHandle* s, int epoch) {
  EpochState& e = Epoch(epoch);
  const bool trained = std::all_of(e.done.begin(), e.done.end(), [](bool b) { return b; });
  const bool evaluated = opts_.test.empty() ? trained : e.evals == num_workers_;
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

void TrainApp::OnServerMessage(SchedulerHandle* s, int server, const Message& msg) {
  const std::string payload = msg.frames.empty() ? std::string() : msg.FrameString(0);
  if (msg.header.aux == kServerMemory) {
    OnServerMemory(server, payload);
    int epoch = 0;
    if (std::sscanf(payload.c_str(), "epoch=%d", &epoch) == 1) MaybeFinishEpoch(s, epoch);
    return;
  }
  if (msg.header.aux == kServerLoaded) {
    if (payload != "ok") {
      // Offer the checkpoints before the broken one.
      std::string earlier;
      for (int e = first_epoch_ - 2; e > 0; --e) {
        std::ifstream m(CheckpointDir(e) + "/MANIFEST");
        if (m) earlier += (earlier.empty() ? "" : ", ") + CheckpointDir(e);
      }
      s->Abort("server " + std::to_string(server) + " could not restore the checkpoint " + CheckpointDir(first_epoch_ - 1) +
                   ": " + payload +
                   (earlier.empty() ? std::string("; no earlier complete checkpoint")
                                    : "; earlier complete checkpoints: " + earlier + " (move the broken one away to resume from them)"),
               kExitUsage);
    }
    if (--restoring_ == 0) {
      Status st = s->BroadcastAppToWorkers(kTrainStart, std::to_string(first_epoch_));
      if (!st.ok()) s->Abort("cannot start the workers: " + st.ToString(), kExitAborted);
    }
  } else if (msg.header.aux == kServerSaved && saving_epoch_ > 0) {
    if (payload.rfind("ok ", 0) != 0) s->Abort("server " + std::to_string(server) + " could not write its checkpoint shard: " + payload, kExitAborted);
    saved_[server] = payload.substr(3);
    for (const std::string& c : saved_)
      if (c.empty()) return;
    const std::string dir = CheckpointDir(saving_epoch_);
    {
      std::ofstream m(dir + "/MANIFEST.tmp", std::ios::trunc);
      m << "model " << opts_.model << "\nepoch " << saving_epoch_ << "\nservers " << num_servers_ << "\n";
      for (int i = 0; i < num_servers_; ++i) m << "shard server-" << i << ".shard " << saved_[i] << "\n";
      // How to rebuild the model and how good it was (read by `embark export`).
      m << "format " << DataFormatName(opts_.format) << "\n";
      for (const auto& [name, value] : opts_.model_options) m << "option " << name << " " << value << "\n";
      m << "metric train_loss " << JsonNumber(TrainLoss(saving_epoch_)) << "\n";
      for (const auto& [name, value] : last_metrics_) m << "metric " << name << " " << JsonNumber(value) << "\n";
      if (!m) s->Abort("cannot write " + dir + "/MANIFEST.tmp", kExitAborted);
    }
    if (std::rename((dir + "/MANIFEST.tmp").c_str(), (dir + "/MANIFEST").c_str()) != 0)
      s->Abort("cannot rename " + dir + "/MANIFEST.tmp", kExitAborted);
    LOG(INFO) << "checkpoint after epoch " << saving_epoch_ << " written to " << dir;
    // Keep the newest --keep_checkpoints complete checkpoints.
    const int oldest_kept = saving_epoch_ - (opts_.keep_checkpoints - 1) * opts_.checkpoint_every_epochs;
    for (int e = oldest_kept - opts_.checkpoint_every_epochs; e > 0; e -= opts_.checkpoint_every_epochs) {
      const std::string old = CheckpointDir(e);
      std::ifstream manifest(old + "/MANIFEST");
      if (!manifest) break;  // already removed, and so are the older ones
      std::string line;
      char file[256];
      while (std::getline(manifest, line))
        if (std::sscanf(line.c_str(), "shard %255s", file) == 1) std::remove((old + "/" + file).c_str());
      std::remove((old + "/MANIFEST").c_str());  // the manifest goes last but one: never a manifest without shards
      rmdir(old.c_str());
    }
    const int epoch = saving_epoch_;
    saving_epoch_ = 0;
    Status st = s->BroadcastAppToWorkers(kTrainCheckpointed, std::to_string(epoch));
    if (!st.ok()) s->Abort("cannot release the workers after the checkpoint: " + st.ToString(), kExitAborted);
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
      if (d.epoch == 1)
        for (const auto& [reason, count] : d.bad_lines) bad_lines_[reason] += count;
      UpdateMinClock(s, d.epoch);
      if (std::all_of(e.done.begin(), e.done.end(), [](bool b) { return b; })) {
        if (d.epoch == 1)
          for (uint64_t x : e.examples) examples_per_epoch_ += x;
        if (opts_.server_memory.enabled()) {
          // The servers' epoch TTL sweep, and their counters for this epoch's metrics line.
          for (int i = 0; i < num_servers_; ++i) {
            Status st = s->SendApp(s->table().ServerRank(i), kServerEpochEnd, std::to_string(d.epoch));
            if (!st.ok()) s->Abort("cannot tell server " + std::to_string(i) + " the epoch ended: " + st.ToString(), kExitAborted);
          }
        }
        MaybeFinishEpoch(s, d.epoch);
      }
      break;
    }
    case kTrainEval: {
      EvalReport r;
      if (!DecodeMsg(payload, &r)) break;
      EpochState& e = Epoch(r.epoch);
      if (e.reported) break;
      if (!e.eval) {
        e.eval = std::make_unique<Evaluation>(opts_.ranking                           ? Evaluation::kRanking
                                              : opts_.format == DataFormat::kRatings ? Evaluation::kRegression
                                                                                     : Evaluation::kClassification,
                                              opts_.top_k);
      }
      Status st = e.eval->Merge(r.accumulator);
      if (!st.ok()) s->Abort("bad evaluation report from worker " + std::to_string(w) + ": " + st.ToString(), kExitAborted);
      e.predictions[w] = std::move(r.predictions);
      ++e.evals;
      MaybeFinishEpoch(s, r.epoch);
      break;
    }
    default:
      LOG(WARNING) << "training scheduler ignores app message " << msg.header.aux << " from worker " << w;
  }
}

void TrainApp::OnTick(SchedulerHandle* s) {
  const double now = NowSeconds();
  if (now - last_progress_ < opts_.progress_every_s) return;
  const double elapsed = now - start_;
  const uint64_t done = ExamplesSoFar();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  std::string eta = "after epoch 1";
  if (examples_per_epoch_ > 0 && rate > 0) {
    const double total = static_cast<double>(examples_per_epoch_) * opts_.epochs;
    eta = Hms((total - done) / rate);
  }
  char line[256];
  std::snprintf(line, sizeof(line), "progress: epoch %d/%d, %" PRIu64 " examples, %.0f examples/s, train loss %s, ETA %s",
                current_epoch_, opts_.epochs, done, rate, JsonNumber(TrainLoss(current_epoch_)).c_str(), eta.c_str());
  std::printf("%s\n", line);
  std::fflush(stdout);
  last_progress_ = now;
}

int TrainApp::OnAllWorkersDone(SchedulerHandle* s) {
  const double elapsed = NowSeconds() - start_;
  const std::string final_line = MetricsLine(opts_.epochs, true);
  if (metrics_out_.is_open()) {
    metrics_out_ << final_line << "\n";
    metrics_out_.flush();
  }
  std::ostringstream m;
  m << "training finished: " << opts_.epochs << " epochs, " << ExamplesSoFar() << " examples in " << Hms(elapsed)
    << " (" << static_cast<uint64_t>(elapsed > 0 ? ExamplesSoFar() / elapsed : 0) << " examples/s)";
  for (const auto& [name, value] : last_metrics_) m << ", " << name << " " << JsonNumber(value);
  if (!bad_lines_.empty()) {
    m << "; skipped lines:";
    for (const auto& [reason, count] : bad_lines_) m << " " << reason << "=" << count;
  }
  std::printf("%s\n", m.str().c_str());
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace embark
