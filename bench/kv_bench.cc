#include "bench/kv_bench.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "core/json_text.h"
#include "worker/kv_client.h"

namespace embark {

namespace {

constexpr uint64_t kReportSubtype = 1;  // worker -> scheduler: "phase keys seconds ops"

std::vector<std::string> SplitPhases(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  std::string p;
  while (std::getline(ss, p, ',')) if (!p.empty()) out.push_back(p);
  return out;
}

}  // namespace

size_t FreshBatchCount(const KvBenchOptions& opts) {
  // The server's key-set cache is LRU over at most server_key_cache entries (shared by all
  // workers, one or more per request), so a cycle of more distinct key sets than it holds
  // always misses (while B < K: a batch of the whole key space is always the same set). Twice
  // the capacity plus two leaves margin; small batches get more of them, up to about 8M keys
  // (64 MB) per worker.
  const size_t B = std::max<uint64_t>(1, std::min<uint64_t>(opts.batch_keys, opts.key_space));
  const size_t by_cache = 2 * opts.server_key_cache + 2;
  const size_t by_memory = std::min<size_t>(1024, (size_t{1} << 23) / B);
  return std::max(by_cache, by_memory);
}

namespace {

Status RunBenchWorker(const KvBenchOptions& opts, WorkerContext& ctx) {
  KVClient& kv = *ctx.kv;
  const uint64_t stride = ~uint64_t{0} / opts.key_space;  // floor(2^64 / K) up to rounding
  std::mt19937_64 rng(opts.seed * 1000003 + ctx.worker_index);
  std::vector<uint64_t> perm(opts.key_space);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  const size_t B = std::min<uint64_t>(opts.batch_keys, opts.key_space);
  const bool rotating = opts.rotating_batches > 0;
  const size_t num_batches = rotating ? opts.rotating_batches : FreshBatchCount(opts);
  std::vector<std::vector<uint64_t>> batches(num_batches);
  std::uniform_real_distribution<float> uni(-0.01f, 0.01f);
  if (rotating) {
    // ps-lite's workload: batch b is entries [b*B, (b+1)*B) of the permutation (wrapping).
    for (size_t b = 0; b < num_batches; ++b)
      for (size_t i = 0; i < B; ++i) batches[b].push_back(perm[(b * B + i) % opts.key_space] * stride);
  } else {
    // Fresh key sets: consecutive slices of the permutation; when fewer than B entries are left
    // the permutation is drawn again, so no two batches of a cycle hold the same key set.
    size_t pos = 0;
    for (size_t b = 0; b < num_batches; ++b) {
      if (pos + B > perm.size()) {
        std::shuffle(perm.begin(), perm.end(), rng);
        pos = 0;
      }
      for (size_t i = 0; i < B; ++i) batches[b].push_back(perm[pos + i] * stride);
      pos += B;
    }
  }
  for (auto& keys_of_batch : batches) {
    std::sort(keys_of_batch.begin(), keys_of_batch.end());
    keys_of_batch.erase(std::unique(keys_of_batch.begin(), keys_of_batch.end()), keys_of_batch.end());
  }
  // Values do not affect which rows are touched, so a few arrays serve every batch.
  const size_t kValueArrays = std::min<size_t>(8, num_batches);
  std::vector<std::vector<float>> values(kValueArrays);
  for (auto& v : values) {
    v.resize(B * opts.val_len);
    for (float& x : v) x = uni(rng);
  }
  const uint32_t table = 0;
  std::vector<float> out(B * opts.val_len);
  PreparedKeys keys;
  auto push_sorted = [&](const std::vector<uint64_t>& ks, const float* vals) -> Status {
    kv.Prepare(table, ks.data(), ks.size(), &keys);
    std::vector<float> grouped;  // values in the prepared (server-grouped) order
    KVClient::SumDuplicates(keys, vals, opts.val_len, &grouped);
    return kv.Wait(kv.Push(keys, grouped.data()));
  };
  // Warm-up: create every row.
  if (rotating) {
    for (size_t b = 0; b < num_batches; ++b) EMBARK_RETURN_IF_ERROR(push_sorted(batches[b], values[b % kValueArrays].data()));
  } else {
    // The whole key space once, B keys at a time (the timed batches cover it several times).
    std::vector<uint64_t> slice;
    for (size_t start = 0; start < opts.key_space; start += B) {
      slice.clear();
      for (size_t k = start; k < std::min<uint64_t>(start + B, opts.key_space); ++k) slice.push_back(k * stride);
      EMBARK_RETURN_IF_ERROR(push_sorted(slice, values[0].data()));
    }
  }
  // ps-lite's warm-up ends with one pull. We also pull and push-pull a few batches once, untimed:
  // on this kind of VM the first touch of fresh memory (message buffers, the heap growing to
  // its steady size) is slow, and that one-off cost would otherwise land in the first phase.
  for (size_t b = 0; b < std::min<size_t>(num_batches, 8); ++b) {
    kv.Prepare(table, batches[b].data(), batches[b].size(), &keys);
    EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Pull(keys, out.data())));
    EMBARK_RETURN_IF_ERROR(kv.Wait(kv.PushPull(keys, values[b % kValueArrays].data(), out.data())));
  }
  // Each phase continues the cycle where the previous one stopped, so a phase never starts on
  // the key sets the previous phase (or the warm-up) just sent.
  size_t next_batch = rotating ? 0 : std::min<size_t>(num_batches, 8) % num_batches;

  for (const std::string& phase : SplitPhases(opts.phases)) {
    EMBARK_RETURN_IF_ERROR(ctx.control->Barrier(BarrierGroup::kWorkers, 120));
    uint64_t total_keys = 0;
    int ops = 0;
    const double start = NowSeconds();
    double elapsed = 0;
    while (elapsed < opts.seconds || ops < opts.min_ops) {
      const size_t b = next_batch;
      next_batch = (next_batch + 1) % num_batches;
      // Key slicing is part of every operation, as in ps-lite: nothing is cached across ops.
      kv.Prepare(table, batches[b].data(), batches[b].size(), &keys);
      // Batches are sorted and unique, so the prepared order is a per-server regrouping of the
      // values; with one server it is the identity. Values are sent as prepared.
      const float* vals = values[b % kValueArrays].data();
      if (phase == "push") {
        EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Push(keys, vals)));
      } else if (phase == "pull") {
        EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Pull(keys, out.data())));
      } else if (phase == "push+pull") {
        EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Push(keys, vals)));
        EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Pull(keys, out.data())));
      } else if (phase == "fused") {
        EMBARK_RETURN_IF_ERROR(kv.Wait(kv.PushPull(keys, vals, out.data())));
      } else {
        return Status::InvalidArgument("unknown bench phase '" + phase + "' (use push, pull, push+pull, fused)");
      }
      total_keys += keys.size();
      ++ops;
      elapsed = NowSeconds() - start;
    }
    std::ostringstream report;
    report << phase << " " << total_keys << " " << elapsed << " " << ops;
    EMBARK_RETURN_IF_ERROR(ctx.control->SendToScheduler(kReportSubtype, report.str()));
  }
  return Status::OK();
}

class BenchSchedulerApp : public SchedulerApp {
 public:
  explicit BenchSchedulerApp(const KvBenchOptions& opts) : opts_(opts) {}

  void OnApp(SchedulerHandle* s, const Message& msg) override {
    if (msg.header.aux != kReportSubtype || msg.frames.size() != 1) return;
    std::istringstream in(msg.FrameString(0));
    std::string phase;
    uint64_t keys = 0;
    double seconds = 0;
    int ops = 0;
    if (!(in >> phase >> keys >> seconds >> ops)) {
      LOG(WARNING) << "malformed bench report from rank " << msg.peer;
      return;
    }
    auto& agg = results_[phase];
    agg.keys += keys;
    agg.seconds = std::max(agg.seconds, seconds);
    agg.reports += 1;
    if (std::find(order_.begin(), order_.end(), phase) == order_.end()) order_.push_back(phase);
  }

  int OnAllWorkersDone(SchedulerHandle* s) override {
    const int servers = s->table().num_servers, workers = s->table().num_workers;
    std::ostringstream json, table;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    table << "servers+workers " << servers << "+" << workers << ", " << opts_.val_len << " floats/key, "
          << opts_.batch_keys << " keys/request\n";
    table << "phase        Mkeys/s    value MB/s\n";
    for (size_t i = 0; i < order_.size(); ++i) {
      const std::string& phase = order_[i];
      const Agg& a = results_[phase];
      const double kps = a.seconds > 0 ? a.keys / a.seconds : 0;
      const double factor = (phase == "push+pull" || phase == "fused") ? 2.0 : 1.0;
      const double mbps = kps * 4.0 * opts_.val_len * factor / 1e6;
      char line[160];
      std::snprintf(line, sizeof(line), "%-10s %9.3f %13.1f\n", phase.c_str(), kps / 1e6, mbps);
      table << line;
      rows.push_back({{"phase", phase}, {"keys_per_sec", static_cast<uint64_t>(kps)}, {"value_mb_per_sec", mbps},
                      {"servers", servers}, {"workers", workers}, {"val_len", opts_.val_len},
                      {"batch_keys", opts_.batch_keys}, {"seconds", a.seconds}});
    }
    // One phase a line, as the bench scripts read it.
    json << "[\n";
    for (size_t i = 0; i < rows.size(); ++i) json << "  " << JsonText(rows[i]) << (i + 1 < rows.size() ? "," : "") << "\n";
    json << "]\n";
    std::printf("%s", table.str().c_str());
    std::fflush(stdout);
    if (!opts_.json_out.empty()) {
      std::ofstream f(opts_.json_out);
      f << json.str();
      if (!f) {
        LOG(ERROR) << "cannot write " << opts_.json_out;
        return kExitUsage;
      }
    }
    return kExitOk;
  }

 private:
  struct Agg {
    uint64_t keys = 0;
    double seconds = 0;
    int reports = 0;
  };
  KvBenchOptions opts_;
  std::map<std::string, Agg> results_;
  std::vector<std::string> order_;
};

}  // namespace

JobSpec MakeKvBenchJob(const KvBenchOptions& opts) {
  JobSpec job;
  job.name = "bench";
  TableConfig t;
  t.name = "bench";
  t.dim = opts.val_len;
  // ps-lite's bench server adds pushed values into the row; SGD with lr 1 is the same work.
  t.optimizer.kind = OptimizerKind::kSgd;
  t.optimizer.lr = 1.0f;
  job.tables.push_back(t);
  job.make_scheduler_app = [opts] { return std::make_unique<BenchSchedulerApp>(opts); };
  job.worker_main = [opts](WorkerContext& ctx) { return RunBenchWorker(opts, ctx); };
  return job;
}

}  // namespace embark
