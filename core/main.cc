// embark: one binary for every role and command.
//
//   mpirun -np N embark <command> [--flags]     (or launch/local.sh ... -- <command> [--flags])
//
// Commands: bench (push/pull benchmark), kvcheck (self-verifying cluster check),
//           gen (write synthetic e-commerce data; runs without MPI).
// Rank 0 is the scheduler, ranks 1..num_servers the servers, the rest workers.
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>

#include <map>
#include <set>

#include "bench/kv_bench.h"
#include "bench/mf_sgd_baseline.h"
#include "models/model_factory.h"
#include "scheduler/train_app.h"
#include "worker/local_runner.h"
#include "worker/trainer.h"
#include "core/hash.h"
#include "core/runtime.h"
#include "tools/kv_check.h"
#include "tools/synth_data.h"

// Cluster flags (every command that runs a cluster).
DEFINE_int32(num_servers, 1, "number of server ranks (ranks 1..num_servers); the rest after rank 0 are workers");
DEFINE_int32(server_threads, 1, "threads per server, each owning a sub-shard of the rows");
DEFINE_uint64(server_key_cache, 64, "key sets per server whose row lookups are reused when the same keys come again (0 = off)");
DEFINE_uint64(max_message_kb, 1024, "a worker's request to one server larger than this many KiB is sent as several messages of about this size, so transfer and server work overlap (0 = always one message per server per request)");
DEFINE_string(shm, "on", "on: a worker sends request arrays to servers on its own host through shared memory (a segment of --shm_mb per server, slots in a ring); off: always through ZeroMQ frames");
DEFINE_uint64(shm_mb, 64, "size in MiB of each worker's shared-memory segment per same-host server (requests that do not fit go as frames)");
DEFINE_uint32(num_vshards, 4096, "virtual shards keys are hashed to (a power of two; fixed for a job's life)");
DEFINE_uint64(seed, 1, "job seed: row initialisation, data shuffling");
DEFINE_string(bind_ip, "", "IPv4 address to bind and advertise (default: the address the host name resolves to)");
DEFINE_double(heartbeat_interval, 0.5, "seconds between heartbeats");
DEFINE_double(heartbeat_timeout, 10, "seconds of silence after which a rank is declared lost");
DEFINE_double(startup_timeout, 60, "seconds for every rank to register at start-up");
DEFINE_double(request_timeout, 60, "seconds a pull/push may wait for its reply");
DEFINE_string(fault, "", "testing only: RANK:POINT injects a failure (no_register)");

// bench
DEFINE_uint32(val_len, 1, "bench: floats per key");
DEFINE_uint32(batch_keys, 10000, "bench: keys per request");
DEFINE_double(seconds, 2.0, "bench: minimum seconds per phase");
DEFINE_uint64(key_space, 1000000, "bench: number of distinct keys");
DEFINE_string(phases, "push,pull,push+pull,fused", "bench: phases to run, comma-separated");
DEFINE_string(json_out, "", "bench: write results as a JSON array to this file");

// train (names are a contract: scripts depend on them)
DEFINE_string(model, "", "train: model (mf, lr, fm, ffm, deepfm)");
DEFINE_string(format, "", "train: input format (ratings, libsvm, libfm, libffm); default by model");
DEFINE_string(train, "", "train: training files, globs or directories (comma-separated)");
DEFINE_string(test, "", "train: test files evaluated after every epoch (optional)");
DEFINE_int32(epochs, 0, "train: passes over the training data (default: the model's suggestion)");
DEFINE_uint32(dim, 0, "train: latent factors (mf, fm); default by model");
DEFINE_string(optimizer, "", "train: sgd, adagrad, ftrl or adam (default by model)");
DEFINE_double(lr, 0, "train: learning rate (FTRL alpha); default by model");
DEFINE_double(l1, 0, "train: L1 strength (FTRL only); default by model");
DEFINE_double(l2, 0, "train: L2 strength; default by model");
DEFINE_uint32(num_fields, 0, "train: fields used by ffm/deepfm (default 10; 39 with --format=criteo)");
DEFINE_string(hidden, "", "train: deepfm hidden layer widths, e.g. 64,32 (none = no hidden layer)");
DEFINE_double(init_scale, 0, "train: standard deviation of the initial embedding values; default by model");
DEFINE_double(min_rating, 1, "train: ratings below are clipped at prediction (mf)");
DEFINE_double(max_rating, 5, "train: ratings above are clipped at prediction (mf)");
DEFINE_uint64(batch_size, 0, "train: examples per minibatch per worker (default by model)");
DEFINE_string(consistency, "bsp", "train: bsp, ssp or asp");
DEFINE_int32(staleness, 0, "train: SSP bound in clocks (only with --consistency=ssp)");
DEFINE_string(metrics_out, "", "train: append one JSON object per evaluation to this file");
DEFINE_string(predictions_out, "", "train: write the final test predictions here, one per line");
DEFINE_string(bad_lines, "fail", "train: fail (stop with file:line:reason) or skip (count per reason)");
DEFINE_uint64(shuffle_buffer, 100000, "train: examples held for shuffling (0 = file order)");
DEFINE_int32(compute_threads, 1, "train: threads computing each batch on a worker");
DEFINE_double(progress_every, 5, "train: seconds between progress lines");
DEFINE_double(clock_timeout, 600, "train: longest wait for slower workers (BSP/SSP) before failing");
DEFINE_string(checkpoint_dir, "", "train: directory for checkpoints (epoch-N/ with one shard per server and a MANIFEST)");
DEFINE_string(checkpoint_every, "", "train: checkpoint interval with a unit; epochs are supported (e.g. 1epoch, 2epochs)");
DEFINE_int32(keep_checkpoints, 3, "train: complete checkpoints kept");
DEFINE_bool(resume, false, "train: continue from the latest complete checkpoint in --checkpoint_dir (any server/worker count)");
DEFINE_string(slow_worker, "", "testing only: INDEX:MS makes worker INDEX sleep MS ms per batch");

// gen (no cluster: a plain process)
DEFINE_string(kind, "ratings", "gen: ratings or clicks");
DEFINE_string(out, "", "gen: output prefix; writes PREFIX.train/.test (ratings: .tsv; clicks: .libffm and .libsvm)");
DEFINE_int64(rows, 100000, "gen: ratings or click rows (train + test)");
DEFINE_int64(users, 0, "gen: number of users (default by kind)");
DEFINE_int64(items, 0, "gen: number of items (default by kind)");
DEFINE_double(test_fraction, 0.2, "gen: share of rows written to the test file");

// kvcheck
DEFINE_int32(check_keys, 20000, "kvcheck: keys per table");
DEFINE_int32(check_rounds, 3, "kvcheck: push rounds per worker");
DEFINE_string(digest_out, "", "kvcheck: write a digest of the initial rows to this file");

namespace {

// Flags each command accepts besides the cluster flags; any other flag set on the command line
// is an error, so a typo or a flag meant for another command never passes silently.
const std::set<std::string> kClusterFlags = {
    "num_servers", "server_threads", "server_key_cache", "max_message_kb", "shm", "shm_mb", "num_vshards", "seed", "bind_ip", "heartbeat_interval",
    "heartbeat_timeout", "startup_timeout", "request_timeout", "fault"};
const std::set<std::string> kTrainFlags = {
    "model", "format", "train", "test", "epochs", "dim", "optimizer", "lr", "l1", "l2", "init_scale", "num_fields", "hidden",
    "min_rating", "max_rating", "batch_size", "consistency", "staleness", "metrics_out",
    "predictions_out", "bad_lines", "shuffle_buffer", "compute_threads", "progress_every",
    "clock_timeout", "slow_worker", "checkpoint_dir", "checkpoint_every", "keep_checkpoints", "resume"};
const std::map<std::string, std::set<std::string>> kCommandFlags = {
    {"bench", {"val_len", "batch_keys", "seconds", "key_space", "phases", "json_out"}},
    {"kvcheck", {"check_keys", "check_rounds", "digest_out"}},
    {"mf-sgd-baseline", {"train", "test", "dim", "epochs", "lr", "l2"}},
    {"gen", {"kind", "out", "rows", "users", "items", "test_fraction"}},
    {"train-local", kTrainFlags},
    {"train", kTrainFlags},
};

bool IsSet(const char* name) { return !gflags::GetCommandLineFlagInfoOrDie(name).is_default; }

// Returns an error naming the first flag that does not belong to `command`.
std::string CheckFlagsBelong(const std::string& command) {
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  const auto& own = kCommandFlags.at(command);
  for (const auto& f : flags) {
    if (f.is_default || f.filename.find("main.cc") == std::string::npos) continue;
    if (kClusterFlags.count(f.name) || own.count(f.name)) continue;
    return "--" + f.name + " does not apply to '" + command + "'";
  }
  return "";
}

// Builds the train job from the flags; contradictions are errors.
embark::Status MakeTrainJob(embark::JobSpec* job, embark::TrainOptions* train_options = nullptr,
                            std::shared_ptr<const embark::Model>* model_out = nullptr) {
  using embark::Status;
  embark::TrainOptions o;
  if (FLAGS_model.empty()) return Status::InvalidArgument("train: --model is required (mf, lr, fm, ffm, deepfm)");
  if (FLAGS_train.empty()) return Status::InvalidArgument("train: --train is required");
  o.model = FLAGS_model;
  std::string format = FLAGS_format;
  if (format.empty()) format = FLAGS_model == "mf" ? "ratings" : "libsvm";
  EMBARK_RETURN_IF_ERROR(embark::ParseDataFormat(format, &o.format));
  if ((FLAGS_model == "mf") != (o.format == embark::DataFormat::kRatings)) {
    return Status::InvalidArgument("train: --model=" + FLAGS_model + " cannot read --format=" + format +
                                   (FLAGS_model == "mf" ? " (mf reads ratings)" : " (ratings are for mf)"));
  }
  o.train = FLAGS_train;
  o.test = FLAGS_test;
  o.epochs = IsSet("epochs") ? FLAGS_epochs : embark::SuggestedEpochs(FLAGS_model);
  if (o.epochs < 1) return Status::InvalidArgument("train: --epochs must be at least 1");
  EMBARK_RETURN_IF_ERROR(embark::ParseConsistency(FLAGS_consistency, &o.consistency));
  if (IsSet("staleness") && o.consistency != embark::Consistency::kSsp)
    return Status::InvalidArgument("train: --staleness applies only to --consistency=ssp");
  if (o.consistency == embark::Consistency::kSsp && FLAGS_staleness < 1)
    return Status::InvalidArgument("train: --consistency=ssp needs --staleness of at least 1 (0 is bsp)");
  o.staleness = FLAGS_staleness;
  if (IsSet("batch_size") && FLAGS_batch_size == 0) return Status::InvalidArgument("train: --batch_size must be positive");
  o.batch_size = IsSet("batch_size") ? FLAGS_batch_size : (FLAGS_model == "mf" ? 64 : 256);
  o.seed = FLAGS_seed;
  o.shuffle_buffer = FLAGS_shuffle_buffer;
  EMBARK_RETURN_IF_ERROR(embark::ParseBadLinePolicy(FLAGS_bad_lines, &o.bad_lines));
  if (FLAGS_compute_threads < 1) return Status::InvalidArgument("train: --compute_threads must be at least 1");
  o.compute_threads = FLAGS_compute_threads;
  o.progress_every_s = FLAGS_progress_every;
  o.metrics_out = FLAGS_metrics_out;
  o.predictions_out = FLAGS_predictions_out;
  if (!o.predictions_out.empty() && o.test.empty()) return Status::InvalidArgument("train: --predictions_out needs --test");
  o.clock_timeout_s = FLAGS_clock_timeout;
  o.checkpoint_dir = FLAGS_checkpoint_dir;
  o.keep_checkpoints = FLAGS_keep_checkpoints;
  o.resume = FLAGS_resume;
  if (!FLAGS_checkpoint_every.empty()) {
    int n = 0;
    char unit[16] = {0};
    if (std::sscanf(FLAGS_checkpoint_every.c_str(), "%d%15s", &n, unit) != 2 || n < 1 ||
        (std::string(unit) != "epoch" && std::string(unit) != "epochs")) {
      return Status::InvalidArgument("train: --checkpoint_every=" + FLAGS_checkpoint_every +
                                     ": use a positive number of epochs such as 1epoch (time and step units are not supported yet)");
    }
    o.checkpoint_every_epochs = n;
  }
  if ((o.checkpoint_every_epochs > 0 || o.resume) && o.checkpoint_dir.empty())
    return Status::InvalidArgument("train: --checkpoint_every and --resume need --checkpoint_dir");
  if (!o.checkpoint_dir.empty() && o.checkpoint_every_epochs == 0 && !o.resume)
    return Status::InvalidArgument("train: --checkpoint_dir needs --checkpoint_every (or --resume)");
  if (o.keep_checkpoints < 1) return Status::InvalidArgument("train: --keep_checkpoints must be at least 1");
  if (!FLAGS_slow_worker.empty() && std::sscanf(FLAGS_slow_worker.c_str(), "%d:%d", &o.slow_worker, &o.slow_ms) != 2)
    return Status::InvalidArgument("--slow_worker must be INDEX:MS");

  embark::ModelOptions m;
  if (IsSet("dim")) m.dim = FLAGS_dim;
  if (IsSet("optimizer")) {
    embark::OptimizerKind kind;
    EMBARK_RETURN_IF_ERROR(embark::ParseOptimizerKind(FLAGS_optimizer, &kind));
    m.optimizer = kind;
  }
  if (IsSet("lr")) m.lr = static_cast<float>(FLAGS_lr);
  if (IsSet("l1")) m.l1 = static_cast<float>(FLAGS_l1);
  if (IsSet("l2")) m.l2 = static_cast<float>(FLAGS_l2);
  if (IsSet("init_scale")) m.init_scale = static_cast<float>(FLAGS_init_scale);
  if (IsSet("num_fields")) {
    m.num_fields = FLAGS_num_fields;
  } else if (o.format == embark::DataFormat::kCriteo && (FLAGS_model == "ffm" || FLAGS_model == "deepfm")) {
    m.num_fields = embark::kCriteoFields;  // otherwise fields 10..38 would be ignored
  }
  if (IsSet("hidden")) {
    std::vector<uint32_t> hidden;
    EMBARK_RETURN_IF_ERROR(embark::ParseHiddenLayers(FLAGS_hidden, &hidden));
    m.hidden = hidden;
  }
  if (IsSet("min_rating") || IsSet("max_rating")) {
    if (FLAGS_model != "mf") return Status::InvalidArgument("train: --min_rating/--max_rating apply to mf only");
  }
  if (FLAGS_model == "mf") {
    m.min_rating = static_cast<float>(FLAGS_min_rating);
    m.max_rating = static_cast<float>(FLAGS_max_rating);
  }
  std::unique_ptr<embark::Model> model;
  EMBARK_RETURN_IF_ERROR(embark::CreateModel(FLAGS_model, m, &model));
  std::shared_ptr<const embark::Model> shared(std::move(model));
  if (train_options) *train_options = o;
  if (model_out) *model_out = shared;
  job->name = "train";
  job->tables = shared->Tables();
  job->make_scheduler_app = [o] { return std::make_unique<embark::TrainApp>(o); };
  job->worker_main = [o, shared](embark::WorkerContext& ctx) {
    embark::Trainer trainer(o, *shared, ctx);
    return trainer.Run();
  };
  return Status::OK();
}

// `embark gen`: synthetic interactions with power-law popularity and latent preferences.
int RunGen() {
  if (FLAGS_out.empty()) {
    std::fprintf(stderr, "gen: --out=PREFIX is required\n");
    return embark::kExitUsage;
  }
  embark::Status st;
  if (FLAGS_kind == "ratings") {
    embark::SynthRatingsOptions o;
    o.seed = FLAGS_seed;
    o.num_ratings = FLAGS_rows;
    o.test_fraction = FLAGS_test_fraction;
    o.num_users = FLAGS_users > 0 ? FLAGS_users : std::max<int64_t>(1000, FLAGS_rows / 50);
    o.num_items = FLAGS_items > 0 ? FLAGS_items : std::max<int64_t>(500, FLAGS_rows / 100);
    st = embark::WriteSynthRatings(o, FLAGS_out + ".train.tsv", FLAGS_out + ".test.tsv");
    if (st.ok()) std::printf("wrote %s.train.tsv and %s.test.tsv\n", FLAGS_out.c_str(), FLAGS_out.c_str());
  } else if (FLAGS_kind == "clicks") {
    embark::SynthClicksOptions o;
    o.seed = FLAGS_seed;
    o.num_rows = FLAGS_rows;
    o.test_fraction = FLAGS_test_fraction;
    if (FLAGS_users > 0) o.num_users = FLAGS_users;
    if (FLAGS_items > 0) o.num_items = FLAGS_items;
    st = embark::WriteSynthClicks(o, FLAGS_out);
    if (st.ok()) std::printf("wrote %s.{train,test}.{libffm,libsvm}\n", FLAGS_out.c_str());
  } else {
    st = embark::Status::InvalidArgument("--kind must be ratings or clicks, got '" + FLAGS_kind + "'");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "gen: %s\n", st.ToString().c_str());
    return embark::kExitUsage;
  }
  return embark::kExitOk;
}

const char kUsage[] =
    "usage: embark <command> [--flags]\n"
    "commands (run under mpirun or launch/local.sh):\n"
    "  bench     push/pull throughput benchmark (ps-lite workload)\n"
    "  kvcheck   self-verifying cluster check (pull = push, exact concurrent updates)\n"
    "  mf-sgd-baseline  LIBMF-style single-process SGD (the throughput baseline of bench/)\n"
    "  gen       write synthetic e-commerce data (no MPI): --kind=ratings|clicks --out=PREFIX --rows=N\n"
    "  train     train a model: --model=mf|lr|fm|ffm|deepfm --train=FILES [--test=FILES] ...\n"
    "  train-local  the same training in one process, no MPI (the single-process reference)\n"
    "run 'embark <command> --help' for the flags.";

// Every rank must run the same job; a hash of the command line proves it at registration.
// --bind_ip is per host by nature, so it is left out.
uint64_t HashArgs(int argc, char** argv) {
  uint64_t h = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--bind_ip", 9) == 0) continue;
    h = embark::HashCombine(h, embark::HashBytes(argv[i]));
  }
  return h;
}

// Log lines carry the rank, so the interleaved output of a cluster stays readable.
void PrefixWithRank(std::ostream& s, const google::LogMessageInfo& l, void*) {
  static const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%c%02d:%02d:%02d.%03d r%s", l.severity[0], l.time.hour(), l.time.min(),
                l.time.sec(), l.time.usec() / 1000, rank ? rank : "?");
  s << buf << " " << l.filename << ":" << l.line_number << "]";
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(kUsage);
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "%s\n", kUsage);
    return embark::kExitUsage;
  }
  const std::string command = argv[1];
  const uint64_t config_hash = HashArgs(argc, argv);
  // gflags sees the command as the program name, so flags are parsed after it.
  int fargc = argc - 1;
  char** fargv = argv + 1;
  gflags::ParseCommandLineFlags(&fargc, &fargv, true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0], &PrefixWithRank, nullptr);
  if (fargc > 1) {
    std::fprintf(stderr, "embark %s: unexpected argument '%s' (flags are --name=value)\n", command.c_str(), fargv[1]);
    return embark::kExitUsage;
  }

  embark::RuntimeOptions ropts;
  ropts.num_servers = FLAGS_num_servers;
  ropts.server_threads = FLAGS_server_threads;
  ropts.server_key_cache = FLAGS_server_key_cache;
  ropts.max_message_bytes = FLAGS_max_message_kb * 1024;
  ropts.shm = FLAGS_shm == "on";
  ropts.shm_bytes = FLAGS_shm_mb << 20;
  ropts.num_vshards = FLAGS_num_vshards;
  ropts.seed = FLAGS_seed;
  ropts.bind_ip = FLAGS_bind_ip;
  ropts.liveness.heartbeat_interval_s = FLAGS_heartbeat_interval;
  ropts.liveness.heartbeat_timeout_s = FLAGS_heartbeat_timeout;
  ropts.liveness.startup_timeout_s = FLAGS_startup_timeout;
  ropts.liveness.request_timeout_s = FLAGS_request_timeout;
  ropts.config_hash = config_hash;
  ropts.fault = FLAGS_fault;
  if (FLAGS_server_threads < 1 || FLAGS_server_threads > 64) {
    std::fprintf(stderr, "--server_threads must be in [1, 64], got %d\n", FLAGS_server_threads);
    return embark::kExitUsage;
  }
  if (FLAGS_shm != "on" && FLAGS_shm != "off") {
    std::fprintf(stderr, "--shm must be on or off, got '%s'\n", FLAGS_shm.c_str());
    return embark::kExitUsage;
  }
  if (FLAGS_shm_mb < 1 || FLAGS_shm_mb > (1 << 20)) {
    std::fprintf(stderr, "--shm_mb must be in [1, 1048576], got %llu\n", static_cast<unsigned long long>(FLAGS_shm_mb));
    return embark::kExitUsage;
  }
  if (FLAGS_heartbeat_interval <= 0 || FLAGS_heartbeat_timeout <= 2 * FLAGS_heartbeat_interval) {
    std::fprintf(stderr, "--heartbeat_timeout must exceed twice --heartbeat_interval (> 0)\n");
    return embark::kExitUsage;
  }

  if (kCommandFlags.count(command) == 0) {
    std::fprintf(stderr, "embark: unknown command '%s'\n%s\n", command.c_str(), kUsage);
    return embark::kExitUsage;
  }
  const std::string stray = CheckFlagsBelong(command);
  if (!stray.empty()) {
    std::fprintf(stderr, "embark: %s\n", stray.c_str());
    return embark::kExitUsage;
  }
  if (command == "gen") return RunGen();
  if (command == "mf-sgd-baseline") {
    embark::MfSgdBaselineOptions o;
    o.train = FLAGS_train;
    o.test = FLAGS_test;
    if (IsSet("dim")) o.dim = static_cast<int>(FLAGS_dim);
    if (IsSet("epochs")) o.epochs = FLAGS_epochs;
    if (IsSet("lr")) o.lr = static_cast<float>(FLAGS_lr);
    if (IsSet("l2")) o.reg = static_cast<float>(FLAGS_l2);
    o.seed = FLAGS_seed;
    return embark::RunMfSgdBaseline(o);
  }
  if (command == "train-local") {
    embark::JobSpec unused;
    embark::TrainOptions topts;
    std::shared_ptr<const embark::Model> model;
    embark::Status st = MakeTrainJob(&unused, &topts, &model);
    if (st.ok() && !topts.checkpoint_dir.empty())
      st = embark::Status::InvalidArgument("train-local: checkpoints need a cluster run (train)");
    if (!st.ok()) {
      std::fprintf(stderr, "embark: %s\n", st.message().c_str());
      return embark::kExitUsage;
    }
    return embark::RunLocalTrain(topts, *model, FLAGS_seed);
  }
  embark::JobSpec job;
  if (command == "train") {
    embark::Status st = MakeTrainJob(&job);
    if (!st.ok()) {
      std::fprintf(stderr, "embark: %s\n", st.message().c_str());
      return embark::kExitUsage;
    }
  } else if (command == "bench") {
    embark::KvBenchOptions o;
    o.val_len = FLAGS_val_len;
    o.batch_keys = FLAGS_batch_keys;
    o.seconds = FLAGS_seconds;
    o.key_space = FLAGS_key_space;
    o.phases = FLAGS_phases;
    o.json_out = FLAGS_json_out;
    o.seed = FLAGS_seed;
    std::set<std::string> seen;
    std::stringstream phases(o.phases);
    for (std::string p; std::getline(phases, p, ',');) {
      if (p != "push" && p != "pull" && p != "push+pull" && p != "fused") {
        std::fprintf(stderr, "bench: unknown phase '%s' in --phases (push, pull, push+pull, fused)\n", p.c_str());
        return embark::kExitUsage;
      }
      if (!seen.insert(p).second) {
        std::fprintf(stderr, "bench: phase '%s' appears twice in --phases\n", p.c_str());
        return embark::kExitUsage;
      }
    }
    if (o.val_len == 0 || o.batch_keys == 0 || o.key_space == 0) {
      std::fprintf(stderr, "bench: --val_len, --batch_keys and --key_space must be positive\n");
      return embark::kExitUsage;
    }
    job = embark::MakeKvBenchJob(o);
  } else if (command == "kvcheck") {
    embark::KvCheckOptions o;
    o.seed = FLAGS_seed;
    o.keys = FLAGS_check_keys;
    o.rounds = FLAGS_check_rounds;
    o.digest_out = FLAGS_digest_out;
    job = embark::MakeKvCheckJob(o);
  } else {
    std::fprintf(stderr, "embark: unknown command '%s'\n%s\n", command.c_str(), kUsage);
    return embark::kExitUsage;
  }
  return embark::RunJob(&argc, &argv, ropts, job);
}
