// embark: one binary for every role and command.
//
//   mpirun -np N embark <command> [--flags]     (or launch/local.sh ... -- <command> [--flags])
//
// Commands: bench (push/pull benchmark), kvcheck (self-verifying cluster check),
//           gen (write synthetic e-commerce data; runs without MPI),
//           prepare (clean raw interaction logs into libffm files; runs without MPI).
// Rank 0 is the scheduler, ranks 1..num_servers the servers, the rest workers.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>
#include <glog/logging.h>

#include <cinttypes>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>

#include <map>
#include <set>

#include "bench/ctr_baseline.h"
#include "bench/kv_bench.h"
#include "bench/mf_sgd_baseline.h"
#include "bench/serve_bench.h"
#include "models/model_factory.h"
#include "models/model_registry.h"
#include "models/model_spec.h"
#include "serving/exporter.h"
#include "serving/publisher.h"
#include "serving/serve_main.h"
#include "scheduler/train_app.h"
#include "worker/checkpoint_interval.h"
#include "worker/field_count.h"
#include "runtime/local_runner.h"
#include "data/stream_source.h"
#include "worker/trainer.h"
#include "core/flag_scope.h"
#include "core/hash.h"
#include "runtime/runtime.h"
#include "core/transport.h"
#include "delivery/delivery_commands.h"
#include "delivery/serve_endpoints.h"
#include "ps/count_min_sketch.h"
#include "tools/kafka_mock.h"
#include "tools/kv_check.h"
#include "tools/plot_metrics.h"
#include "tools/prepare.h"
#include "tools/synth_data.h"

// Cluster flags (every command that runs a cluster).
DEFINE_int32(num_servers, 1, "number of server ranks (ranks 1..num_servers); the rest after rank 0 are workers");
DEFINE_int32(server_threads, 1, "threads per server, each owning a sub-shard of the rows");
DEFINE_uint64(server_key_cache, 64, "key sets per server whose row lookups are reused when the same keys come again (0 = off)");
DEFINE_string(curve_key_file, "", "read the job's CURVE key pair from this file (mode 0600, owned by you; every rank reads the same file; `embark curve-keygen --out=PATH` writes one) instead of generating it at launch and sending it to the ranks through MPI");
DEFINE_bool(insecure, false, "turn off CURVE: ranks talk over plain TCP, and anyone who can reach a port can send to the job (default: every socket is authenticated and encrypted with a key pair generated at launch and handed to the ranks through MPI)");
DEFINE_uint64(max_request_mb, 256, "the most MiB one message may carry or ask for: servers answer a larger request (or a pull whose rows would exceed it) with an error naming this cap, workers split requests below half of it, and every socket drops a peer sending a frame over it (ZMQ_MAXMSGSIZE)");
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
DEFINE_int32(rotating_batches, 0, "bench: 0 = a key set the server has not seen recently for every operation (as in training); N = reuse N pre-generated batches in turn (ps-lite's workload: 8)");

// train (names are a contract: scripts depend on them)
DEFINE_string(model, "", "train: model name (run 'embark models' for the list)");
DEFINE_string(format, "", "train: input format (ratings, libsvm, libfm, libffm, criteo, csv); default by model (csv when --schema is set)");
DEFINE_string(schema, "", "train: the schema file of --format=csv (data/csv_schema.h); prepare: the schema of --input");
DEFINE_string(train, "", "train: training files, globs or directories (comma-separated)");
DEFINE_string(test, "", "train: test files evaluated after every epoch (optional)");
DEFINE_string(valid, "", "train: validation files evaluated after every epoch (valid_* metrics), which --early_stop judges by (optional)");
DEFINE_double(valid_fraction, 0, "train: hold this fraction of the training lines out as the validation set instead of --valid (chosen by a hash of each line: the same lines on any number of workers); training never sees them");
DEFINE_int32(early_stop, 0, "train: end the job after this many epochs without a lower validation loss (RMSE, or logloss) than the best so far; needs --valid or --valid_fraction (0: train every epoch)");
DEFINE_uint64(max_events, 0, "train: with --train=dir://PATH or kafka://HOST:PORT/TOPIC (online training): each worker stops after this many events (0 = no limit)");
DEFINE_double(max_seconds, 0, "train: online training: stop reading the stream after this many seconds (0 = no limit)");
DEFINE_string(window, "10000", "train: online training with --metrics_out: each worker appends progressive-validation metrics (every event scored before it trains) per window of this many events, or of a duration such as 30s or 1m");
DEFINE_string(trained_log, "", "train: online training: each worker appends the id of every event it trained (partition or part, TAB, offset or line) to this path plus .<worker index>; cut back to the checkpoint on --resume");
DEFINE_int32(epochs, 0, "train: passes over the training data (default: the model's suggestion)");
DEFINE_uint32(dim, 0, "train: latent factors K of every model but lr (ffm: per field; two_tower: also the tower output width); default by model");
DEFINE_string(optimizer, "", "train: sgd, adagrad, rowadagrad (one accumulator per row), ftrl or adam (default by model)");
DEFINE_double(lr, 0, "train: learning rate (FTRL alpha); default by model");
DEFINE_double(l1, 0, "train: L1 strength (FTRL only); default by model");
DEFINE_double(l2, 0, "train: L2 strength; default by model");
DEFINE_double(bias_scale, 0, "train: mf only: the biases' step relative to the factors' (default 4 with adagrad)");
DEFINE_uint32(num_fields, 0, "train: fields of ffm/deepfm (default: from the data: 1 + the highest libffm field of --train/--test, 39 for criteo, the schema's for csv); a libffm line with a field >= it is a bad line");
DEFINE_bool(instance_norm, false, "train: ffm: scale each example's feature values by 1/|x| (libffm's normalisation)");
DEFINE_string(hidden, "", "train: deepfm hidden layer widths, e.g. 64,32 (none = no hidden layer)");
DEFINE_double(init_scale, 0, "train: standard deviation of the initial embedding values; default by model");
DEFINE_double(min_rating, 1, "train: ratings below are clipped at prediction (mf)");
DEFINE_double(max_rating, 5, "train: ratings above are clipped at prediction (mf)");
DEFINE_uint64(batch_size, 0, "train: examples per minibatch per worker (default by model)");
DEFINE_string(consistency, "bsp", "train: bsp, ssp or asp");
DEFINE_int32(staleness, 0, "train: SSP bound in clocks (only with --consistency=ssp)");
DEFINE_string(sync, "local",
              "train: exact (pull rows and push gradients every batch) or local (train on the worker's own "
              "copies of the rows, exchange what changed with the servers every --sync_every batches)");
DEFINE_uint64(sync_every, 256,
              "train: --sync=local: batches between a worker's exchanges with the servers (default 256 for mf "
              "and imf, 16 for the others)");
DEFINE_string(local_step, "example",
              "train: --sync=local: example (a model that can, mf, steps each row's optimizer after every "
              "example, as SGD matrix factorisation does) or batch (one step per row per minibatch from the "
              "summed gradients, the steps of --sync=exact)");
DEFINE_string(blocks, "auto",
              "train: --sync=local, mf with --local_step=example: epochs from memory train in a grid of N x N "
              "conflict-free blocks of users x items, the threads on blocks that share no user and no item "
              "(auto: N = 2 x --compute_threads, at least 4; off: one shuffled order of the whole share)");
DEFINE_string(block_log, "", "train: tests: each worker appends the rows it changed in every block sub-epoch to this path plus .<worker index>");
DEFINE_uint64(input_cache_mb, 4096,
              "train: --sync=local: a worker keeps its parsed, resolved share of the training data in memory "
              "up to this size and trains later epochs from it (0: read the files every epoch)");
DEFINE_uint64(replica_rows, uint64_t{1} << 24,
              "train: --sync=local: sparse rows a worker keeps; past this it forgets them at the next exchange");
DEFINE_string(metrics_out, "", "train: append one JSON object per evaluation to this file");
DEFINE_string(predictions_out, "", "train: write the final test predictions here, one per line");
DEFINE_string(bad_lines, "fail", "train: fail (stop with file:line:reason) or skip (count per reason)");
DEFINE_uint64(shuffle_buffer, 100000, "train: examples held for shuffling (0 = file order)");
DEFINE_int32(compute_threads, 1,
             "train: threads computing each batch on a worker (train-local --model=mf with --sync=local: "
             "default the machine's cores)");
DEFINE_double(progress_every, 5, "train: seconds between progress lines");
DEFINE_double(clock_timeout, 600, "train: longest wait for slower workers (BSP/SSP) before failing");
DEFINE_string(checkpoint_dir, "", "train: directory for checkpoints (epoch-N/ with one shard per server and a MANIFEST)");
DEFINE_string(checkpoint_every, "", "train: checkpoint interval with a unit: 1epoch, 2epochs, 5000steps, 30s, 10m, 1h (a stream: steps or time; its checkpoints hold the stream positions)");
DEFINE_int32(keep_checkpoints, 3, "train: complete checkpoints kept");
DEFINE_string(publish_dir, "", "train: publish every checkpoint as a serving bundle version D/v-NNNNNNNNNN for serve --watch --bundle=D");
DEFINE_double(publish_guard, 0.25, "train: with --publish_dir, a checkpoint is not published when the mean loss of the examples since the last publish exceeds that before the version last published by more than this fraction (0: off)");
DEFINE_int32(publish_full_every, 10, "train: with --publish_dir, every N-th version is a full bundle, the others deltas");
DEFINE_int32(full_every, 5, "train: every N-th checkpoint is full, the others hold only the rows changed since the previous one (1 = always full)");
DEFINE_bool(resume, false, "train: continue from the latest complete checkpoint in --checkpoint_dir (any server/worker count)");
DEFINE_string(slow_worker, "", "testing only: INDEX:MS makes worker INDEX sleep MS ms per batch");
DEFINE_int32(top_k, 10, "train: imf/two_tower: K of the ranking metrics (Recall@K, NDCG@K, HitRate@K)");
DEFINE_uint32(negatives, 0, "train: imf: in-batch negatives per positive (default by model)");
DEFINE_string(score, "", "train: two_tower: dot or cosine (default dot)");
DEFINE_double(temperature, 0, "train: two_tower: scores are divided by this (default by model)");
DEFINE_bool(side_features, false, "train: imf: also learn from the user-side (2..31) and item-side (32..63 and shared 64..95) fields, each side's vector the sum of its rows divided by sqrt(count)");
DEFINE_string(tower, "", "train: two_tower: mlp (default), identity (sum/sqrt(count) of the embeddings) or residual (identity + MLP)");
DEFINE_bool(item_bias, false, "train: two_tower: add a learned item bias b_i to the score");
DEFINE_bool(logq_correction, true, "train: two_tower: subtract the log in-batch frequency of each item from its logits (--logq_correction=false: off)");
// train: bounded memory on the servers (ps/bounded_memory.h)
DEFINE_uint32(min_count, 1, "train: pushes of a feature before the servers give it a row (1..255; 1 = at once)");
DEFINE_double(admit_probability, 0, "train: each push of a feature without a row admits it with this probability (0 = off)");
DEFINE_string(ttl, "", "train: evict rows not pushed for this long: N or Nsteps (push requests to the table on its server), Nepochs");
DEFINE_string(server_memory, "", "train: byte budget per server (e.g. 512M, 2G); the least recently pushed rows are evicted beyond it");
DEFINE_uint64(admission_sketch_kb, 4096, "train: KiB of admission counters per sparse table per server (with --min_count or --admit_probability)");

// gen (no cluster: a plain process)
DEFINE_string(kind, "ratings", "gen: ratings, clicks or implicit");
DEFINE_string(out, "", "gen: output prefix; writes PREFIX.train/.test (ratings: .tsv; clicks: .libffm and .libsvm)");
DEFINE_int64(rows, 100000, "gen: ratings or click rows (train + test)");
// --users/--items are strings because prepare reads them as file names; gen parses a count.
DEFINE_string(users, "", "gen, simulate: number of users (default by kind); prepare: user side-feature CSV; deliver, serve: user profiles (JSON Lines)");
DEFINE_string(items, "", "gen, simulate: number of items (default by kind); prepare: item side-feature CSV; train: imf/two_tower: item catalogue file (libffm, one item a line; default: the items of --train); export: the same catalogue, for /topk");
DEFINE_double(test_fraction, 0.2, "gen: share of rows written to the test file; prepare: each user's latest share of interactions");

// kafka-mock (no cluster: a plain process; tools/kafka_mock.h; also uses --input, --seconds)
DEFINE_string(topic, "events", "kafka-mock: the topic to create");
DEFINE_int32(partitions, 3, "kafka-mock: partitions of --topic");
DEFINE_int32(brokers, 1, "kafka-mock: mock brokers to start on 127.0.0.1");
DEFINE_double(rate, 0, "kafka-mock: lines of --input produced per second (0 = all at once)");
DEFINE_string(bootstrap_out, "", "kafka-mock: also write the brokers' HOST:PORT list to this file");

// prepare (no cluster: a plain process)
DEFINE_string(input, "", "prepare: the interaction CSV");
DEFINE_string(item_schema, "", "prepare: the schema of --items");
DEFINE_string(user_schema, "", "prepare: the schema of --users");
DEFINE_int64(min_user_interactions, 1, "prepare: users with fewer interactions are dropped");

// export
DEFINE_string(checkpoint, "", "export: a checkpoint (epoch-N directory) or a --checkpoint_dir (its newest complete checkpoint)");
DEFINE_string(dtype, "float32", "export: float32 or float16 values");
DEFINE_string(base, "", "export: write a delta bundle against this earlier bundle (changed rows and deleted keys only)");
DEFINE_string(ids_from, "", "export: training files to re-read for the raw id of every key (with --format)");
DEFINE_string(user_profiles, "", "export: write the user vectors to this .npy file (keys and ids beside it)");
DEFINE_uint32(pca_dim, 0, "export: project the user profiles to this many dimensions by PCA");
DEFINE_int32(profile_field, -1, "export: user profiles only of keys of this field (needs --ids_from)");
DEFINE_string(seen_from, "", "export: interaction files (with --format) whose items /topk leaves out for their users");

// serve (no cluster: a plain process)
DEFINE_string(bundle, "", "serve: the bundle directory to serve (see embark export)");
DEFINE_int32(port, 8080, "serve: TCP port (0 = any free port, printed at start)");
DEFINE_string(bind, "127.0.0.1", "serve: address to listen on (0.0.0.0 = every interface)");
DEFINE_int32(threads, 8, "serve: requests computed at once (/score, /topk, /reload); connections each have their own thread");
DEFINE_uint64(max_connections, 4096, "serve: open connections served at once; a connection beyond them is answered 503 and closed");
DEFINE_int32(read_timeout, 5, "serve: seconds a read of a request may wait for the client before the connection is closed");
DEFINE_int32(idle_timeout, 5, "serve: seconds an idle keep-alive connection stays open");
DEFINE_string(tls_cert, "", "serve: PEM certificate (chain) file; with --tls_key the server speaks HTTPS only");
DEFINE_string(tls_key, "", "serve: PEM private key of --tls_cert (mode 600, without a passphrase)");
DEFINE_bool(keep_previous, true, "serve: keep the version before the last swap in memory for POST /rollback (false: half the memory, no rollback)");
DEFINE_string(auth_token_file, "", "serve: file holding a bearer token (one line, mode 600); every endpoint but /health then needs 'Authorization: Bearer TOKEN'");
DEFINE_uint64(max_body_kb, 1024, "serve: request bodies larger than this many KiB get 413");
DEFINE_string(index, "exact", "serve: top-K retrieval, exact (full scan) or hnsw (approximate; recall@10 measured at load)");
DEFINE_bool(watch, false, "serve: poll the bundle path and swap in a new full bundle or apply a delta published there");
DEFINE_double(watch_interval, 2, "serve: seconds between polls with --watch");
// serve-bench (a client of a running serve; also uses --bind, --port, --seconds, --json_out)
DEFINE_string(requests_from, "", "serve-bench: ratings file (user item ...) the request users and items come from");
DEFINE_string(concurrency, "1,4,16", "serve-bench: concurrent clients per level, comma-separated");
DEFINE_string(endpoints, "score,topk", "serve-bench: endpoints to load, comma-separated (score, topk)");

// deliver, simulate, ope, log-export (no cluster: plain processes; delivery/delivery_commands.h)
DEFINE_string(campaigns, "", "deliver, ope: the campaigns file (JSON Lines, delivery/campaign.h); serve: also answer POST /deliver and /outcome with them");
DEFINE_string(requests, "", "deliver: delivery requests and outcomes, one JSON object a line");
DEFINE_string(decision_log, "", "deliver: append every decision and outcome here; simulate: write the first policy's decisions here");
DEFINE_string(log, "", "ope, log-export: decision log(s) to read, comma-separated");
DEFINE_string(policy, "softmax", "deliver, simulate, ope: exploration policy: softmax, epsilon, greedy or uniform");
DEFINE_double(epsilon, 0.1, "deliver, simulate, ope: --policy=epsilon: share of uniformly random picks");
DEFINE_double(quality_floor, 0, "deliver, simulate, ope: campaigns with a lower pCTR are not candidates");
DEFINE_double(reserve, 0, "deliver, simulate, ope: reserve eCPM: lower candidates are dropped; the floor of second prices");
DEFINE_bool(first_price, false, "deliver, simulate: charge the bid instead of the second price");
DEFINE_bool(pacing, true, "deliver, simulate: budget pacing by probabilistic throttling (--pacing=false: spend as fast as won)");
DEFINE_double(pacing_interval, 60, "deliver, simulate: seconds of request time between pacing updates");
DEFINE_double(pacing_max_change, 2, "deliver, simulate: most a campaign's pass-through rate may change per pacing update, as a factor (> 1)");
DEFINE_string(unknown_user, "cold_start", "deliver: a user the --users file does not list: cold_start (request features only) or 404");
DEFINE_uint32(slots, 1, "simulate: slots per arrival");
DEFINE_int64(arrivals, 20000, "simulate: user arrivals in the simulated day");
DEFINE_uint32(num_campaigns, 50, "simulate: campaigns of the generated world");
DEFINE_double(budget_fraction, 0.5, "simulate: a campaign's daily budget as a share of the spend of an equal share of the day's clicks at its bid");
DEFINE_uint32(frequency_cap, 5, "simulate: impressions of one campaign per user per day");
DEFINE_string(policies, "model,popularity,random", "simulate: policies to replay, comma-separated (the first is compared with the others)");

// kvcheck
DEFINE_int32(check_keys, 20000, "kvcheck: keys per table");
DEFINE_int32(check_rounds, 3, "kvcheck: push rounds per worker");
DEFINE_string(digest_out, "", "kvcheck: write a digest of the initial rows to this file");

namespace {

// How long a stream job with checkpoints may take, after SIGTERM, for its final checkpoint
// and a clean end before its ranks give up and exit non-zero.
constexpr double kStreamStopGraceSeconds = 30;

// Flags each command accepts besides the cluster flags; any other flag set on the command line
// is an error, so a typo or a flag meant for another command never passes silently.
const std::set<std::string> kClusterFlags = {
    "num_servers", "server_threads", "server_key_cache", "max_message_kb", "max_request_mb", "insecure", "curve_key_file", "shm", "shm_mb", "num_vshards", "seed", "bind_ip", "heartbeat_interval",
    "heartbeat_timeout", "startup_timeout", "request_timeout", "fault"};
const std::set<std::string> kTrainFlags = {
    "model", "format", "train", "test", "valid", "valid_fraction", "early_stop", "max_events", "max_seconds", "window", "trained_log", "epochs", "dim", "optimizer", "lr", "l1", "l2", "bias_scale", "init_scale", "num_fields", "hidden", "instance_norm",
    "min_rating", "max_rating", "batch_size", "consistency", "staleness", "sync", "sync_every", "local_step", "blocks", "block_log", "replica_rows", "input_cache_mb", "metrics_out",
    "predictions_out", "bad_lines", "shuffle_buffer", "compute_threads", "progress_every",
    "clock_timeout", "slow_worker", "checkpoint_dir", "checkpoint_every", "keep_checkpoints", "publish_dir", "publish_full_every", "publish_guard", "resume", "full_every",
    "schema", "top_k", "items", "negatives", "score", "temperature", "logq_correction", "side_features", "tower", "item_bias", "min_count", "admit_probability",
    "ttl", "server_memory", "admission_sketch_kb"};
const std::map<std::string, std::set<std::string>> kCommandFlags = {
    {"bench", {"val_len", "batch_keys", "seconds", "key_space", "phases", "json_out", "rotating_batches"}},
    {"kvcheck", {"check_keys", "check_rounds", "digest_out"}},
    {"mf-sgd-baseline", {"train", "test", "dim", "epochs", "lr", "l2"}},
    {"gen", {"kind", "out", "rows", "users", "items", "test_fraction"}},
    {"serve", {"bundle", "port", "bind", "threads", "max_body_kb", "index", "watch", "watch_interval", "max_connections",
               "read_timeout", "idle_timeout", "auth_token_file", "tls_cert", "tls_key", "keep_previous", "campaigns", "users", "decision_log", "policy", "epsilon",
               "temperature", "quality_floor", "reserve", "first_price", "pacing", "pacing_interval", "pacing_max_change",
               "unknown_user"}},
    {"serve-bench", {"bind", "port", "seconds", "json_out", "requests_from", "concurrency", "endpoints"}},
    {"export", {"checkpoint", "out", "dtype", "base", "ids_from", "format", "user_profiles", "pca_dim", "profile_field",
                "seen_from", "items"}},
    {"prepare", {"schema", "input", "items", "item_schema", "users", "user_schema", "out", "test_fraction",
                 "min_user_interactions", "bad_lines"}},
    {"deliver", {"bundle", "campaigns", "users", "requests", "out", "decision_log", "policy", "epsilon", "temperature",
                 "quality_floor", "reserve", "first_price", "pacing", "pacing_interval", "pacing_max_change", "unknown_user"}},
    {"simulate", {"bundle", "users", "items", "out", "decision_log", "policy", "epsilon", "temperature", "quality_floor",
                  "reserve", "first_price", "pacing", "pacing_interval", "pacing_max_change", "slots", "arrivals",
                  "num_campaigns", "budget_fraction", "frequency_cap", "policies"}},
    {"ope", {"bundle", "campaigns", "log", "json_out", "policy", "epsilon", "temperature", "quality_floor", "reserve"}},
    {"log-export", {"log", "out"}},
    {"models", {}},
    {"curve-keygen", {"out"}},
    {"kafka-mock", {"topic", "partitions", "brokers", "input", "rate", "seconds", "bootstrap_out"}},
    {"plot", {"input", "out"}},
    {"train-local", kTrainFlags},
    {"ctr-baseline", kTrainFlags},
    {"train", kTrainFlags},
};

bool IsSet(const char* name) { return !gflags::GetCommandLineFlagInfoOrDie(name).is_default; }

// Returns an error naming the first flag that does not belong to `command` (core/flag_scope.h).
std::string CheckFlagsBelong(const std::string& command) {
  return embark::FlagNotTaken(command, kCommandFlags.at(command), kClusterFlags);
}

// `models`: the registry (models/model_registry.h), one model a line, tab-separated:
// name, task, input formats (comma-separated, the default first), epochs, batch size.
int RunModelsCommand() {
  for (const embark::ModelInfo& m : embark::RegisteredModels()) {
    std::string formats;
    for (const std::string& f : m.formats) formats += (formats.empty() ? "" : ",") + f;
    std::printf("%s\t%s\t%s\t%d\t%u\n", m.name, embark::ModelTaskName(m.task), formats.c_str(), m.suggested_epochs,
                m.batch_size);
  }
  return embark::kExitOk;
}

// `gen`: prints the Bayes limit of the test file and writes it to PREFIX.truth.json.
embark::Status WriteTruth(const std::string& prefix, const char* kind, const char* key, const embark::SynthTruth& t) {
  nlohmann::json j;
  j["kind"] = kind;
  j["test_rows"] = t.test_rows;
  j[key] = t.bayes_test_loss;
  std::printf("%s of the generator's own model on the test file: %.6f (%llu rows); wrote %s.truth.json\n", key,
              t.bayes_test_loss, static_cast<unsigned long long>(t.test_rows), prefix.c_str());
  std::ofstream out(prefix + ".truth.json");
  out << j.dump() << "\n";
  out.close();
  if (!out) return embark::Status::IoError("cannot write " + prefix + ".truth.json");
  return embark::Status::OK();
}

// Online training (--train=dir://... or kafka://...): one pass over the stream in event order,
// on the exact path, ended by the stream or --max_events/--max_seconds.
embark::Status ApplyStreamFlags(embark::TrainOptions* o) {
  using embark::Status;
  o->stream = embark::IsStreamSpec(o->train);
  if (!o->stream) {
    if (IsSet("max_events") || IsSet("max_seconds") || IsSet("window") || IsSet("trained_log"))
      return Status::InvalidArgument("train: --max_events, --max_seconds, --window and --trained_log apply to a stream (--train=dir://PATH or kafka://HOST:PORT/TOPIC)");
    return Status::OK();
  }
  embark::WindowSpec window;
  EMBARK_RETURN_IF_ERROR(embark::ParseWindow(FLAGS_window, &window));
  o->window_events = window.events;
  o->window_seconds = window.seconds;
  if (FLAGS_max_seconds < 0) return Status::InvalidArgument("train: --max_seconds must not be negative");
  if (IsSet("epochs") && FLAGS_epochs != 1)
    return Status::InvalidArgument("train: a stream is read once: --epochs does not apply to --train=" + o->train);
  // A stream has one epoch that never ends at a boundary: it is checkpointed by steps or time.
  if (o->checkpoint_every_epochs > 0)
    return Status::InvalidArgument("train: a stream has no epochs to checkpoint after: use --checkpoint_every=Nsteps or a "
                                   "time (30s, 10m, 1h) with --train=" + o->train);
  if (IsSet("sync") && FLAGS_sync != "exact")
    return Status::InvalidArgument("train: a stream trains with --sync=exact (each event is scored, then trained, once)");
  if (IsSet("shuffle_buffer") && FLAGS_shuffle_buffer != 0)
    return Status::InvalidArgument("train: a stream is trained in event order: --shuffle_buffer does not apply");
  if (FLAGS_model == "imf" || FLAGS_model == "two_tower")
    return Status::InvalidArgument("train: --model=" + FLAGS_model + " reads its item catalogue from --train files; it does not train from a stream yet");
  if ((FLAGS_model == "ffm" || FLAGS_model == "deepfm") && FLAGS_format == "libffm" && !IsSet("num_fields") && FLAGS_test.empty())
    return Status::InvalidArgument("train: --model=" + FLAGS_model + " on a stream needs --num_fields (a stream cannot be scanned for its fields)");
  // Without a barrier by default: under BSP a worker whose partitions or parts are quiet
  // would hold every other worker at the next clock until its own events came.
  if (!IsSet("consistency")) o->consistency = embark::Consistency::kAsp;
  o->epochs = 1;
  o->sync = embark::SyncMode::kExact;
  o->sync_set = true;
  o->shuffle_buffer = 0;
  o->max_events = FLAGS_max_events;
  o->max_seconds = FLAGS_max_seconds;
  o->startup_timeout_s = FLAGS_startup_timeout;
  o->trained_log = FLAGS_trained_log;
  return Status::OK();
}

// Builds the train job from the flags; contradictions are errors.
embark::Status MakeTrainJob(embark::JobSpec* job, embark::TrainOptions* train_options = nullptr,
                            std::shared_ptr<const embark::Model>* model_out = nullptr) {
  using embark::Status;
  embark::TrainOptions o;
  if (FLAGS_model.empty()) return Status::InvalidArgument("train: --model is required (" + embark::KnownModelList() + ")");
  if (FLAGS_train.empty()) return Status::InvalidArgument("train: --train is required");
  const embark::ModelInfo* info = embark::FindModel(FLAGS_model);
  if (info == nullptr)
    return Status::InvalidArgument("unknown model '" + FLAGS_model + "' (known: " + embark::KnownModelList() + ")");
  o.model = FLAGS_model;
  std::string format = FLAGS_format;
  if (format.empty()) format = !FLAGS_schema.empty() ? "csv" : info->default_format();
  EMBARK_RETURN_IF_ERROR(embark::ParseDataFormat(format, &o.format));
  if ((o.format == embark::DataFormat::kCsv) != !FLAGS_schema.empty())
    return Status::InvalidArgument(FLAGS_schema.empty() ? "train: --format=csv needs --schema=FILE" : "train: --schema applies only to --format=csv");
  if (!FLAGS_schema.empty()) {
    EMBARK_RETURN_IF_ERROR(embark::CsvSchema::LoadShared(FLAGS_schema, &o.csv_schema));
    if (!o.csv_schema->has_label())
      return Status::InvalidArgument("train: " + FLAGS_schema + " has no label to train on (add a 'column NAME label' or 'label constant 1')");
  }
  if (!info->Reads(embark::DataFormatName(o.format))) {
    std::string reads;
    for (const std::string& f : info->formats) reads += (reads.empty() ? "" : ", ") + f;
    return Status::InvalidArgument("train: --model=" + FLAGS_model + " cannot read --format=" + format + " (it reads " +
                                   reads + ")");
  }
  o.train = FLAGS_train;
  o.test = FLAGS_test;
  o.epochs = IsSet("epochs") ? FLAGS_epochs : info->suggested_epochs;
  if (o.epochs < 1) return Status::InvalidArgument("train: --epochs must be at least 1");
  EMBARK_RETURN_IF_ERROR(embark::ParseConsistency(FLAGS_consistency, &o.consistency));
  if (IsSet("staleness") && o.consistency != embark::Consistency::kSsp)
    return Status::InvalidArgument("train: --staleness applies only to --consistency=ssp");
  if (o.consistency == embark::Consistency::kSsp && FLAGS_staleness < 1)
    return Status::InvalidArgument("train: --consistency=ssp needs --staleness of at least 1 (0 is bsp)");
  o.staleness = FLAGS_staleness;
  EMBARK_RETURN_IF_ERROR(embark::ParseSyncMode(FLAGS_sync, &o.sync));
  o.sync_set = IsSet("sync");
  if ((IsSet("sync_every") || IsSet("replica_rows") || IsSet("input_cache_mb") || IsSet("local_step") || IsSet("blocks")) &&
      o.sync != embark::SyncMode::kLocal)
    return Status::InvalidArgument(
        "train: --sync_every, --local_step, --blocks, --replica_rows and --input_cache_mb apply only to --sync=local");
  if (FLAGS_local_step != "example" && FLAGS_local_step != "batch")
    return Status::InvalidArgument("train: --local_step must be example or batch, not '" + FLAGS_local_step + "'");
  o.example_steps = FLAGS_local_step == "example";
  if (FLAGS_blocks == "auto") {
    o.blocks = -1;
  } else if (FLAGS_blocks == "off") {
    o.blocks = 0;
  } else {
    char* end = nullptr;
    const long n = std::strtol(FLAGS_blocks.c_str(), &end, 10);
    if (end == FLAGS_blocks.c_str() || *end != 0 || n < 1 || n > 4096)
      return Status::InvalidArgument("train: --blocks must be auto, off or a grid side in [1, 4096], not '" + FLAGS_blocks + "'");
    o.blocks = static_cast<int>(n);
  }
  o.block_log = FLAGS_block_log;
  o.input_cache_bytes = static_cast<size_t>(FLAGS_input_cache_mb) << 20;
  if (FLAGS_sync_every < 1) return Status::InvalidArgument("train: --sync_every must be at least 1");
  // Factorisation rows are each touched by many workers a little; CTR models' hot rows (the
  // bias, frequent features) move fast under their larger default steps, and the deltas of
  // several workers add up, so they exchange more often.
  o.sync_every = IsSet("sync_every") ? FLAGS_sync_every : info->sync_every;
  o.replica_rows = FLAGS_replica_rows;
  if (IsSet("batch_size") && FLAGS_batch_size == 0) return Status::InvalidArgument("train: --batch_size must be positive");
  o.batch_size = IsSet("batch_size") ? FLAGS_batch_size : info->batch_size;
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
  o.publish_dir = FLAGS_publish_dir;
  o.publish_full_every = FLAGS_publish_full_every;
  o.publish_guard = FLAGS_publish_guard;
  if (!(o.publish_guard >= 0)) return Status::InvalidArgument("train: --publish_guard must be 0 (off) or a positive fraction");
  if (!o.publish_dir.empty() && FLAGS_checkpoint_dir.empty())
    return Status::InvalidArgument("train: --publish_dir needs --checkpoint_dir and --checkpoint_every (versions are published at checkpoints)");
  if (o.publish_full_every < 1) return Status::InvalidArgument("train: --publish_full_every must be at least 1");
  o.resume = FLAGS_resume;
  {
    embark::CheckpointInterval every;
    EMBARK_RETURN_IF_ERROR(embark::ParseCheckpointInterval(FLAGS_checkpoint_every, &every));
    if (every.unit == embark::CheckpointInterval::Unit::kEpochs) o.checkpoint_every_epochs = static_cast<int>(every.count);
    if (every.unit == embark::CheckpointInterval::Unit::kSteps) o.checkpoint_every_steps = every.count;
    if (every.unit == embark::CheckpointInterval::Unit::kSeconds) o.checkpoint_every_seconds = static_cast<double>(every.count);
  }
  o.full_every = FLAGS_full_every;
  if (o.full_every < 1) return Status::InvalidArgument("train: --full_every must be at least 1");
  const bool checkpoints = o.checkpoint_every_epochs > 0 || o.checkpoint_every_steps > 0 || o.checkpoint_every_seconds > 0;
  if ((checkpoints || o.resume) && o.checkpoint_dir.empty())
    return Status::InvalidArgument("train: --checkpoint_every and --resume need --checkpoint_dir");
  if (!o.checkpoint_dir.empty() && !checkpoints && !o.resume)
    return Status::InvalidArgument("train: --checkpoint_dir needs --checkpoint_every (or --resume)");
  if (o.keep_checkpoints < 1) return Status::InvalidArgument("train: --keep_checkpoints must be at least 1");
  if (!FLAGS_slow_worker.empty() && std::sscanf(FLAGS_slow_worker.c_str(), "%d:%d", &o.slow_worker, &o.slow_ms) != 2)
    return Status::InvalidArgument("--slow_worker must be INDEX:MS");
  embark::BoundedMemoryOptions& mem = o.server_memory;
  if (FLAGS_min_count < 1 || FLAGS_min_count > embark::CountMinSketch::kMaxCount)
    return Status::InvalidArgument("train: --min_count must be in [1, 255] (admission counters are one byte)");
  mem.min_count = FLAGS_min_count;
  if (IsSet("admit_probability")) {
    if (!(FLAGS_admit_probability > 0 && FLAGS_admit_probability <= 1))
      return Status::InvalidArgument("train: --admit_probability must be in (0, 1]");
    mem.admit_probability = FLAGS_admit_probability;
    // Alone, a key that loses its coins is admitted when its counter saturates.
    if (!IsSet("min_count")) mem.min_count = embark::CountMinSketch::kMaxCount;
  }
  if (!FLAGS_ttl.empty()) EMBARK_RETURN_IF_ERROR(embark::ParseTtl(FLAGS_ttl, &mem.ttl_steps, &mem.ttl_epochs));
  if (!FLAGS_server_memory.empty()) {
    embark::Status st = embark::ParseByteSize(FLAGS_server_memory, &mem.budget_bytes);
    if (!st.ok() || mem.budget_bytes == 0)
      return Status::InvalidArgument("train: --server_memory=" + FLAGS_server_memory + ": use a positive byte size such as 512M or 2G");
  }
  if (FLAGS_admission_sketch_kb < 1 || FLAGS_admission_sketch_kb > (uint64_t{1} << 30))
    return Status::InvalidArgument("train: --admission_sketch_kb must be in [1, 2^30]");
  mem.sketch_bytes = FLAGS_admission_sketch_kb << 10;
  // Bounded memory admits and evicts rows per push, which a worker's own copies would bypass:
  // it trains on the exact path unless --sync=local was asked for (an error).
  if (mem.enabled() && o.sync == embark::SyncMode::kLocal && !IsSet("sync")) {
    if (IsSet("sync_every") || IsSet("local_step") || IsSet("blocks") || IsSet("replica_rows") || IsSet("input_cache_mb"))
      return Status::InvalidArgument("train: bounded memory trains with --sync=exact, so --sync_every, --local_step, --blocks, --replica_rows "
                                     "and --input_cache_mb do not apply");
    o.sync = embark::SyncMode::kExact;
  }
  if (mem.enabled() && o.sync == embark::SyncMode::kLocal)
    return Status::InvalidArgument("train: --sync=local does not combine with bounded memory (--min_count, "
                                   "--admit_probability, --ttl, --server_memory): servers admit and evict rows per "
                                   "push, which a worker's own copies would bypass; use --sync=exact");
  if (IsSet("admission_sketch_kb") && !mem.admission())
    return Status::InvalidArgument("train: --admission_sketch_kb needs --min_count or --admit_probability");
  // A delta checkpoint holds changed rows but no record of evicted ones, so restoring base +
  // deltas would bring evicted rows back: with eviction every checkpoint is full.
  if (mem.ttl_steps > 0 || mem.ttl_epochs > 0 || mem.budget_bytes > 0) {
    if (IsSet("full_every") && o.full_every != 1)
      return Status::InvalidArgument("train: --full_every=" + std::to_string(o.full_every) +
                                     ": with --ttl or --server_memory every checkpoint must be full (--full_every=1), "
                                     "since delta checkpoints do not record evicted rows");
    o.full_every = 1;
  }
  EMBARK_RETURN_IF_ERROR(ApplyStreamFlags(&o));

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
  if (IsSet("bias_scale")) m.bias_scale = static_cast<float>(FLAGS_bias_scale);
  if (info->field_aware) {
    // Never drop a field silently: without --num_fields the count comes from the data (every
    // rank scans the same files, so all agree); with it, a libffm line with a higher field is
    // refused by the reader (worker/field_count.h).
    if (IsSet("num_fields") && FLAGS_num_fields == 0) return Status::InvalidArgument("train: --num_fields must be at least 1");
    uint32_t fields = 0;
    std::string how;
    // The validation files are read by the same parser, so they count as test files here.
    const std::string scanned = o.test.empty() || FLAGS_valid.empty() ? o.test + FLAGS_valid : o.test + "," + FLAGS_valid;
    Status st = embark::ResolveNumFields(o.format, o.csv_schema.get(), o.stream ? std::string() : o.train, scanned,
                                         IsSet("num_fields") ? FLAGS_num_fields : 0, &fields, &how);
    if (!st.ok()) return Status::InvalidArgument("train: " + st.message());
    m.num_fields = fields;
    if (o.format == embark::DataFormat::kLibffm) o.num_fields = fields;
    if (!IsSet("num_fields")) LOG(INFO) << "train: --model=" << FLAGS_model << " uses --num_fields=" << fields << " (" << how << ")";
  } else if (IsSet("num_fields")) {
    m.num_fields = FLAGS_num_fields;  // the factory refuses it for this model
  }
  if (IsSet("hidden")) {
    std::vector<uint32_t> hidden;
    EMBARK_RETURN_IF_ERROR(embark::ParseHiddenLayers(FLAGS_hidden, &hidden));
    m.hidden = hidden;
  }
  if (IsSet("min_rating") || IsSet("max_rating")) {
    if (!info->rating_range) return Status::InvalidArgument("train: --min_rating/--max_rating apply to mf only");
  }
  if (info->rating_range) {
    m.min_rating = static_cast<float>(FLAGS_min_rating);
    m.max_rating = static_cast<float>(FLAGS_max_rating);
  }
  if (IsSet("negatives")) m.negatives = FLAGS_negatives;
  if (IsSet("score")) {
    embark::TwoTowerScore score;
    EMBARK_RETURN_IF_ERROR(embark::ParseTwoTowerScore(FLAGS_score, &score));
    m.score = score;
  }
  if (IsSet("temperature")) m.temperature = static_cast<float>(FLAGS_temperature);
  if (IsSet("logq_correction")) m.logq_correction = FLAGS_logq_correction;
  if (IsSet("side_features")) m.side_features = FLAGS_side_features;
  if (IsSet("tower")) {
    embark::TwoTowerTower tower;
    EMBARK_RETURN_IF_ERROR(embark::ParseTwoTowerTower(FLAGS_tower, &tower));
    m.tower = tower;
  }
  if (IsSet("item_bias")) m.item_bias = FLAGS_item_bias;
  if (IsSet("instance_norm")) m.instance_norm = FLAGS_instance_norm;
  std::unique_ptr<embark::Model> model;
  EMBARK_RETURN_IF_ERROR(embark::CreateModel(FLAGS_model, m, &model));
  o.model_options = embark::FormatModelOptions(m);
  o.ranking = model->IsRanking();
  o.task = model->Describe().task;
  o.valid = FLAGS_valid;
  o.valid_fraction = FLAGS_valid_fraction;
  o.early_stop = FLAGS_early_stop;
  if (!(o.valid_fraction >= 0 && o.valid_fraction < 1))
    return Status::InvalidArgument("train: --valid_fraction must be in [0, 1), not " + std::to_string(o.valid_fraction));
  if (!o.valid.empty() && o.valid_fraction > 0) return Status::InvalidArgument("train: give --valid or --valid_fraction, not both");
  if (o.early_stop < 0) return Status::InvalidArgument("train: --early_stop must be 0 (off) or a number of epochs");
  if (o.early_stop > 0 && o.valid.empty() && o.valid_fraction <= 0)
    return Status::InvalidArgument("train: --early_stop needs a validation set (--valid=FILES or --valid_fraction=F): the test set must not choose the model");
  if ((!o.valid.empty() || o.valid_fraction > 0) && (o.ranking || o.stream))
    return Status::InvalidArgument(o.ranking ? "train: --valid, --valid_fraction and --early_stop apply to the rating and click models, not to the ranking models (imf, two_tower)"
                                             : "train: a stream is validated progressively (each event scored before it trains): --valid, --valid_fraction and --early_stop apply to files");
  if (!o.ranking && (IsSet("top_k") || IsSet("items")))
    return Status::InvalidArgument("train: --top_k and --items apply to the ranking models (imf, two_tower)");
  if (o.ranking && !o.predictions_out.empty())
    return Status::InvalidArgument("train: --predictions_out is not available for the ranking models (imf, two_tower)");
  if (FLAGS_top_k < 1 || FLAGS_top_k > 10000) return Status::InvalidArgument("train: --top_k must be in [1, 10000]");
  o.top_k = FLAGS_top_k;
  o.items = FLAGS_items;
  std::shared_ptr<const embark::Model> shared(std::move(model));
  if (o.server_memory.budget_bytes > 0 && o.server_memory.admission()) {
    uint64_t sketches = 0;
    for (const embark::TableConfig& t : shared->Tables()) sketches += t.dense ? 0 : o.server_memory.sketch_bytes;
    if (o.server_memory.budget_bytes <= sketches)
      return Status::InvalidArgument("train: --server_memory=" + FLAGS_server_memory + " does not cover the admission sketches (" +
                                     std::to_string(sketches) + " bytes: --admission_sketch_kb per sparse table); raise it or lower --admission_sketch_kb");
  }
  if (train_options) *train_options = o;
  if (model_out) *model_out = shared;
  job->name = "train";
  job->tables = shared->Tables();
  job->make_scheduler_app = [o] {
    auto app = std::make_unique<embark::TrainApp>(o);
    app->SetCheckpointHook(embark::PublishHook(o.publish_dir, o.publish_full_every));
    return app;
  };
  job->worker_main = [o, shared](embark::WorkerContext& ctx) {
    embark::Trainer trainer(o, *shared, ctx);
    return trainer.Run();
  };
  return Status::OK();
}

// Reads gen's --users/--items: empty (the default) or a positive count.
bool ParseCount(const std::string& name, const std::string& text, int64_t* out) {
  *out = 0;
  if (text.empty()) return true;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || v < 1) {
    std::fprintf(stderr, "gen: --%s must be a positive integer, got '%s'\n", name.c_str(), text.c_str());
    return false;
  }
  *out = v;
  return true;
}

// `embark kafka-mock`: librdkafka's mock Kafka cluster on loopback, fed from --input.
int RunKafkaMock() {
  embark::KafkaMockOptions o;
  o.topic = FLAGS_topic;
  o.partitions = FLAGS_partitions;
  o.brokers = FLAGS_brokers;
  o.input = FLAGS_input;
  o.rate = FLAGS_rate;
  o.seconds = IsSet("seconds") ? FLAGS_seconds : 0;
  o.bootstrap_out = FLAGS_bootstrap_out;
  embark::Status st = embark::RunKafkaMockCommand(o);
  if (!st.ok()) {
    std::fprintf(stderr, "embark kafka-mock: %s\n", st.ToString().c_str());
    return st.code() == embark::Status::Code::kInvalidArgument ? embark::kExitUsage : 1;
  }
  return 0;
}

// `embark prepare`: raw interaction logs -> libffm interaction files (tools/prepare.h).
int RunPrepareCommand() {
  embark::PrepareOptions o;
  o.schema = FLAGS_schema;
  o.input = FLAGS_input;
  o.items = FLAGS_items;
  o.item_schema = FLAGS_item_schema;
  o.users = FLAGS_users;
  o.user_schema = FLAGS_user_schema;
  o.out = FLAGS_out;
  o.test_fraction = FLAGS_test_fraction;
  o.min_user_interactions = FLAGS_min_user_interactions;
  embark::Status st = embark::ParseBadLinePolicy(FLAGS_bad_lines, &o.bad_lines);
  embark::PrepareReport report;
  if (st.ok()) st = embark::RunPrepare(o, &report);
  if (!st.ok()) {
    std::fprintf(stderr, "prepare: %s\n", st.message().c_str());
    return embark::kExitUsage;
  }
  std::printf("%s", report.ToText().c_str());
  std::printf("wrote %s.{train,test,items}.libffm and %s.report.json\n", o.out.c_str(), o.out.c_str());
  return embark::kExitOk;
}

// `embark gen`: synthetic interactions with power-law popularity and latent preferences.
int RunGen() {
  if (FLAGS_out.empty()) {
    std::fprintf(stderr, "gen: --out=PREFIX is required\n");
    return embark::kExitUsage;
  }
  int64_t users = 0, items = 0;
  if (!ParseCount("users", FLAGS_users, &users) || !ParseCount("items", FLAGS_items, &items)) return embark::kExitUsage;
  embark::Status st;
  if (FLAGS_kind == "ratings") {
    embark::SynthRatingsOptions o;
    o.seed = FLAGS_seed;
    o.num_ratings = FLAGS_rows;
    o.test_fraction = FLAGS_test_fraction;
    o.num_users = users > 0 ? users : std::max<int64_t>(1000, FLAGS_rows / 50);
    o.num_items = items > 0 ? items : std::max<int64_t>(500, FLAGS_rows / 100);
    embark::SynthTruth truth;
    st = embark::WriteSynthRatings(o, FLAGS_out + ".train.tsv", FLAGS_out + ".test.tsv", &truth);
    if (st.ok()) std::printf("wrote %s.train.tsv and %s.test.tsv\n", FLAGS_out.c_str(), FLAGS_out.c_str());
    if (st.ok()) st = WriteTruth(FLAGS_out, "ratings", "bayes_test_rmse", truth);
  } else if (FLAGS_kind == "clicks") {
    embark::SynthClicksOptions o;
    o.seed = FLAGS_seed;
    o.num_rows = FLAGS_rows;
    o.test_fraction = FLAGS_test_fraction;
    if (users > 0) o.num_users = users;
    if (items > 0) o.num_items = items;
    embark::SynthTruth truth;
    st = embark::WriteSynthClicks(o, FLAGS_out, &truth);
    if (st.ok()) std::printf("wrote %s.{train,test}.{libffm,libsvm}\n", FLAGS_out.c_str());
    if (st.ok()) st = WriteTruth(FLAGS_out, "clicks", "bayes_test_logloss", truth);
  } else if (FLAGS_kind == "implicit") {
    embark::SynthImplicitOptions o;
    o.seed = FLAGS_seed;
    o.num_interactions = FLAGS_rows;
    o.test_fraction = FLAGS_test_fraction;
    o.num_users = users > 0 ? users : std::max<int64_t>(100, FLAGS_rows / 20);
    o.num_items = items > 0 ? items : std::max<int64_t>(100, FLAGS_rows / 40);
    st = embark::WriteSynthImplicit(o, FLAGS_out);
    if (st.ok()) std::printf("wrote %s.{train,test,items}.libffm\n", FLAGS_out.c_str());
  } else {
    st = embark::Status::InvalidArgument("--kind must be ratings, clicks or implicit, got '" + FLAGS_kind + "'");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "gen: %s\n", st.ToString().c_str());
    return embark::kExitUsage;
  }
  return embark::kExitOk;
}

// `embark export`: a checkpoint as a serving bundle (serving/bundle_format.md); no MPI.
int RunExportCommand() {
  embark::ExportOptions o;
  o.checkpoint = FLAGS_checkpoint;
  o.out = FLAGS_out;
  o.base = FLAGS_base;
  o.ids_from = FLAGS_ids_from;
  o.seen_from = FLAGS_seen_from;
  o.items = FLAGS_items;
  o.format = FLAGS_format;
  o.user_profiles = FLAGS_user_profiles;
  o.pca_dim = FLAGS_pca_dim;
  o.profile_field = FLAGS_profile_field;
  embark::Status st = embark::ParseBundleDtype(FLAGS_dtype, &o.dtype);
  if (st.ok() && !FLAGS_format.empty() && FLAGS_ids_from.empty() && FLAGS_seen_from.empty())
    st = embark::Status::InvalidArgument("--format applies to --ids_from and --seen_from");
  if (st.ok() && IsSet("pca_dim") && FLAGS_pca_dim == 0) st = embark::Status::InvalidArgument("--pca_dim must be at least 1");
  embark::ExportReport r;
  if (st.ok()) st = embark::RunExport(o, &r);
  if (!st.ok()) {
    std::fprintf(stderr, "export: %s\n", st.ToString().c_str());
    return embark::kExitUsage;
  }
  std::printf("exported %s to %s: %s bundle %s (%s)\n", r.checkpoint_dir.c_str(), o.out.c_str(), r.delta ? "delta" : "full",
              r.bundle_id.c_str(), FLAGS_dtype.c_str());
  for (const auto& t : r.tables) {
    std::printf("  table %s: %" PRIu64 " rows", t.name.c_str(), t.rows);
    if (r.delta) std::printf(" changed, %" PRIu64 " deleted", t.deleted);
    if (!o.ids_from.empty()) std::printf(", %" PRIu64 " with raw ids", t.with_ids);
    std::printf("\n");
  }
  if (!o.seen_from.empty()) std::printf("seen items: %" PRIu64 " (user, item) pairs of %" PRIu64 " users\n", r.seen_pairs, r.seen_users);
  if (r.catalogue_items > 0) std::printf("item catalogue: %" PRIu64 " items with their item-side features\n", r.catalogue_items);
  if (!o.user_profiles.empty()) {
    std::printf("user profiles: %" PRIu64 " x %u to %s", r.profile_rows, r.profile_dim, o.user_profiles.c_str());
    if (o.pca_dim > 0) std::printf(" (PCA, explained variance ratio %.4f)", r.explained_variance_ratio);
    std::printf("\n");
  }
  return embark::kExitOk;
}

embark::Status ParseDeliveryFlags(embark::DeliveryCommandOptions* out);

// `embark serve`: HTTP/JSON scoring and top-K over an exported bundle, with hot swap.
int RunServeCommand() {
  embark::ServeCommand c;
  c.bundle = FLAGS_bundle;
  c.serve.bind = FLAGS_bind;
  c.serve.port = FLAGS_port;
  c.serve.threads = FLAGS_threads;
  c.serve.max_body_kb = FLAGS_max_body_kb;
  c.serve.max_connections = FLAGS_max_connections;
  c.serve.read_timeout_s = FLAGS_read_timeout;
  c.serve.idle_timeout_s = FLAGS_idle_timeout;
  c.serve.auth_token_file = FLAGS_auth_token_file;
  c.serve.tls_cert_file = FLAGS_tls_cert;
  c.serve.tls_key_file = FLAGS_tls_key;
  c.serve.keep_previous = FLAGS_keep_previous;
  if (FLAGS_watch) {
    if (FLAGS_watch_interval <= 0) {
      std::fprintf(stderr, "serve: --watch_interval must be positive\n");
      return embark::kExitUsage;
    }
    c.serve.watch_interval_s = FLAGS_watch_interval;
  } else if (IsSet("watch_interval")) {
    std::fprintf(stderr, "serve: --watch_interval needs --watch\n");
    return embark::kExitUsage;
  }
  embark::Status st = embark::ParseTopKIndexKind(FLAGS_index, &c.serving.index);
  if (!st.ok()) {
    std::fprintf(stderr, "serve: %s\n", st.message().c_str());
    return embark::kExitUsage;
  }
  c.seed = FLAGS_seed;
  if (!FLAGS_campaigns.empty()) {
    embark::DeliveryCommandOptions d;
    st = ParseDeliveryFlags(&d);
    embark::DeliveryServeOptions ds;
    ds.campaigns = FLAGS_campaigns;
    ds.users = FLAGS_users;
    ds.decision_log = FLAGS_decision_log;
    ds.deliverer.auction = d.auction;
    ds.deliverer.pacing = d.pacing;
    ds.deliverer.seed = FLAGS_seed;
    ds.deliverer.reject_unknown_users = d.reject_unknown_users;
    if (st.ok()) st = embark::MakeDeliveryEndpoints(ds, &c.serve.endpoints);
  } else {
    for (const char* f : {"users", "decision_log", "policy", "epsilon", "temperature", "quality_floor", "reserve", "first_price",
                          "pacing", "pacing_interval", "pacing_max_change", "unknown_user"})
      if (IsSet(f) && st.ok()) st = embark::Status::InvalidArgument(std::string("--") + f + " needs --campaigns (POST /deliver)");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "serve: %s\n", st.message().c_str());
    return embark::kExitUsage;
  }
  return embark::RunServe(c);
}

// `embark serve-bench`: latency and throughput of a running `embark serve` (bench/serve_bench.h).
int RunServeBenchCommand() {
  embark::ServeBenchOptions o;
  o.host = FLAGS_bind;
  o.port = FLAGS_port;
  o.requests_from = FLAGS_requests_from;
  if (IsSet("seconds")) o.seconds = FLAGS_seconds;
  o.json_out = FLAGS_json_out;
  o.concurrency.clear();
  std::stringstream levels(FLAGS_concurrency);
  for (std::string c; std::getline(levels, c, ',');) {
    const int n = std::atoi(c.c_str());
    if (n < 1 || n > 1024) {
      std::fprintf(stderr, "serve-bench: --concurrency takes positive integers up to 1024, got '%s'\n", c.c_str());
      return embark::kExitUsage;
    }
    o.concurrency.push_back(n);
  }
  o.endpoints.clear();
  std::stringstream endpoints(FLAGS_endpoints);
  for (std::string e; std::getline(endpoints, e, ',');) o.endpoints.push_back(e);
  return embark::RunServeBench(o);
}

// The auction, pacing and unknown-user flags of deliver, simulate, ope and serve.
embark::Status ParseDeliveryFlags(embark::DeliveryCommandOptions* out) {
  embark::DeliveryCommandOptions& o = *out;
  embark::Status st = embark::ParseExploration(FLAGS_policy, &o.auction.exploration);
  o.auction.epsilon = FLAGS_epsilon;
  o.auction.temperature = IsSet("temperature") ? FLAGS_temperature : 0.1;
  o.auction.quality_floor = FLAGS_quality_floor;
  o.auction.reserve_ecpm = FLAGS_reserve;
  o.auction.first_price = FLAGS_first_price;
  o.pacing.enabled = FLAGS_pacing;
  o.pacing.interval_s = FLAGS_pacing_interval;
  o.pacing.max_change = FLAGS_pacing_max_change;
  if (st.ok() && IsSet("epsilon") && o.auction.exploration != embark::Exploration::kEpsilon)
    st = embark::Status::InvalidArgument("--epsilon applies only to --policy=epsilon");
  if (st.ok() && IsSet("temperature") && o.auction.exploration != embark::Exploration::kSoftmax)
    st = embark::Status::InvalidArgument("--temperature applies only to --policy=softmax");
  if (st.ok() && !(FLAGS_epsilon > 0 && FLAGS_epsilon <= 1)) st = embark::Status::InvalidArgument("--epsilon must be in (0, 1]");
  if (st.ok() && !(o.auction.temperature > 0)) st = embark::Status::InvalidArgument("--temperature must be positive");
  if (st.ok() && (FLAGS_quality_floor < 0 || FLAGS_quality_floor > 1)) st = embark::Status::InvalidArgument("--quality_floor must be in [0, 1]");
  if (st.ok() && FLAGS_reserve < 0) st = embark::Status::InvalidArgument("--reserve must be >= 0");
  if (st.ok() && !(FLAGS_pacing_interval >= 1)) st = embark::Status::InvalidArgument("--pacing_interval must be at least 1 second");
  if (st.ok() && !(FLAGS_pacing_max_change > 1)) st = embark::Status::InvalidArgument("--pacing_max_change must exceed 1");
  if (st.ok() && FLAGS_unknown_user != "cold_start" && FLAGS_unknown_user != "404")
    st = embark::Status::InvalidArgument("--unknown_user must be cold_start or 404, got '" + FLAGS_unknown_user + "'");
  o.reject_unknown_users = FLAGS_unknown_user == "404";
  return st;
}

// `embark deliver`, `simulate`, `ope`, `log-export`: options from the flags, contradictions refused.
int RunDeliveryCommand(const std::string& command) {
  embark::DeliveryCommandOptions o;
  o.bundle = FLAGS_bundle;
  o.campaigns = FLAGS_campaigns;
  o.requests = FLAGS_requests;
  o.out = FLAGS_out;
  o.decision_log = FLAGS_decision_log;
  o.log = FLAGS_log;
  o.json_out = FLAGS_json_out;
  o.policies = FLAGS_policies;
  o.seed = FLAGS_seed;
  o.slots = FLAGS_slots;
  embark::Status st = ParseDeliveryFlags(&o);
  if (command == "deliver") o.users = FLAGS_users;
  if (command == "simulate") {
    int64_t users = 0, items = 0;
    if (!ParseCount("users", FLAGS_users, &users) || !ParseCount("items", FLAGS_items, &items)) return embark::kExitUsage;
    o.world.clicks.seed = FLAGS_seed;
    if (users > 0) o.world.clicks.num_users = users;
    if (items > 0) o.world.clicks.num_items = items;
    o.world.num_campaigns = FLAGS_num_campaigns;
    o.world.arrivals = FLAGS_arrivals;
    o.world.budget_fraction = FLAGS_budget_fraction;
    o.world.frequency_cap = FLAGS_frequency_cap;
    if (st.ok() && (FLAGS_slots < 1 || FLAGS_slots > 6)) st = embark::Status::InvalidArgument("--slots must be in [1, 6]");
    if (st.ok() && FLAGS_policies.find("model") != std::string::npos && FLAGS_bundle.empty())
      st = embark::Status::InvalidArgument("the model policy needs --bundle=DIR (a model trained on gen --kind=clicks data of the same --seed, --users and --items)");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", command.c_str(), st.message().c_str());
    return embark::kExitUsage;
  }
  if (command == "deliver") return embark::RunDeliverCommand(o);
  if (command == "simulate") return embark::RunSimulateCommand(o);
  if (command == "ope") return embark::RunOpeCommand(o);
  return embark::RunLogExportCommand(o);
}

const char kUsage[] =
    "usage: embark <command> [--flags]\n"
    "commands (run under mpirun or launch/local.sh):\n"
    "  bench     push/pull throughput benchmark (ps-lite workload)\n"
    "  kvcheck   self-verifying cluster check (pull = push, exact concurrent updates)\n"
    "  mf-sgd-baseline  LIBMF-style single-process SGD (the throughput baseline of bench/)\n"
    "  ctr-baseline  tight single-process FM/FFM trainer, same flags as train (the baseline of bench/ctr_bench.sh)\n"
    "  gen       write synthetic e-commerce data (no MPI): --kind=ratings|clicks|implicit --out=PREFIX --rows=N\n"
    "  train     train a model: --model=NAME (see 'embark models') --train=FILES [--test=FILES] ...\n"
    "  train-local  the same training in one process, no MPI (the single-process reference)\n"
    "  models    the models train can build, one a line: name, task, input formats (default first), epochs, batch size\n"
    "  curve-keygen  write a new CURVE key pair for --curve_key_file (no MPI): --out=PATH (created with mode 0600)\n"
    "  serve-bench  latency of a running serve: --port --requests_from=RATINGS [--concurrency=1,4,16]\n"
    "  serve     HTTP/JSON scoring and top-K over a bundle (no MPI): --bundle=DIR [--port --index=exact|hnsw --watch]\n"
    "  export    a checkpoint as a serving bundle (no MPI): --checkpoint=DIR --out=BUNDLE [--dtype --base --ids_from --seen_from --items --user_profiles --pca_dim]\n"
    "  deliver   answer delivery requests with campaigns and a bundle (no MPI): --bundle --campaigns --requests [--users --decision_log]\n"
    "  simulate  a generated day of delivery per policy, with budgets and pacing (no MPI): --bundle --seed --users --items --out=PREFIX\n"
    "  ope       off-policy estimates (IPS, SNIPS, DR) of a new bundle's policy (no MPI): --log --bundle --campaigns\n"
    "  log-export  a decision log as libffm training data (no MPI): --log --out\n"
    "  kafka-mock  a mock Kafka cluster on 127.0.0.1 (no MPI), fed from a file: --topic=T --partitions=N --input=FILE [--rate=L/s]\n"
    "  plot      draw a --metrics_out file (epochs or online windows) as PNG or SVG (gnuplot): --input=M.jsonl --out=F.png\n"
    "  prepare   clean raw interaction logs into libffm files (no MPI): --schema=S --input=CSV --out=PREFIX\n"
    "            [--items=CSV --item_schema=S] [--users=CSV --user_schema=S] [--test_fraction --min_user_interactions]\n"
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
  ropts.max_request_bytes = FLAGS_max_request_mb << 20;
  ropts.insecure = FLAGS_insecure;
  ropts.curve_key_file = FLAGS_curve_key_file;
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
  if (FLAGS_max_request_mb < 1 || FLAGS_max_request_mb > 4096) {
    std::fprintf(stderr, "--max_request_mb must be in [1, 4096], got %llu\n", static_cast<unsigned long long>(FLAGS_max_request_mb));
    return embark::kExitUsage;
  }
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
  if (command == "models") return RunModelsCommand();
  if (command == "curve-keygen") {
    embark::CurveKeys keys;
    embark::Status st = FLAGS_out.empty() ? embark::Status::InvalidArgument("curve-keygen: --out=PATH is required")
                                          : embark::Transport::GenerateCurveKeys(&keys);
    if (st.ok()) st = embark::WriteCurveKeyFile(FLAGS_out, keys);
    if (!st.ok()) {
      std::fprintf(stderr, "embark %s\n", st.message().c_str());
      return embark::kExitUsage;
    }
    std::printf("wrote a CURVE key pair to %s (mode 0600); pass --curve_key_file=%s to every rank\n", FLAGS_out.c_str(),
                FLAGS_out.c_str());
    return embark::kExitOk;
  }
  if (command == "export") return RunExportCommand();
  if (command == "prepare") return RunPrepareCommand();
  if (command == "kafka-mock") return RunKafkaMock();
  if (command == "plot") {
    embark::PlotOptions o;
    o.metrics = FLAGS_input;
    o.out = FLAGS_out;
    embark::Status st = o.metrics.empty() || o.out.empty()
                            ? embark::Status::InvalidArgument("plot: --input=METRICS.jsonl and --out=FILE.png|.svg are required")
                            : embark::PlotMetrics(o);
    if (!st.ok()) {
      std::fprintf(stderr, "embark %s\n", st.message().c_str());
      return st.code() == embark::Status::Code::kInvalidArgument ? embark::kExitUsage : 1;
    }
    std::printf("wrote %s\n", o.out.c_str());
    return 0;
  }
  if (command == "serve") return RunServeCommand();
  if (command == "serve-bench") return RunServeBenchCommand();
  if (command == "deliver" || command == "simulate" || command == "ope" || command == "log-export")
    return RunDeliveryCommand(command);
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
  if (command == "ctr-baseline") {
    embark::JobSpec unused;
    embark::TrainOptions topts;
    std::shared_ptr<const embark::Model> model;
    embark::Status st = MakeTrainJob(&unused, &topts, &model);
    if (st.ok() && (!topts.valid.empty() || topts.valid_fraction > 0))
      st = embark::Status::InvalidArgument("ctr-baseline: --valid, --valid_fraction and --early_stop need train or train-local");
    if (!st.ok()) {
      std::fprintf(stderr, "embark: %s\n", st.message().c_str());
      return embark::kExitUsage;
    }
    return embark::RunCtrBaseline(topts, *model, FLAGS_seed);
  }
  if (command == "train-local") {
    embark::JobSpec unused;
    embark::TrainOptions topts;
    std::shared_ptr<const embark::Model> model;
    embark::Status st = MakeTrainJob(&unused, &topts, &model);
    if (st.ok() && !topts.checkpoint_dir.empty())
      st = embark::Status::InvalidArgument("train-local: checkpoints need a cluster run (train)");
    // One process owns the machine: MF's epochs from memory run Hogwild on every core (as
    // LIBMF's -s does). Not the CTR models: their shared hot rows (the bias, frequent
    // features) race between threads, and FM on 24k generated rows once ended at logloss 0.586
    // against 0.476 on one thread. A cluster's ranks share their hosts, so `train` keeps one
    // thread unless told.
    if (st.ok() && !IsSet("compute_threads") && embark::FindModel(topts.model)->all_cores_local && topts.sync == embark::SyncMode::kLocal)
      topts.compute_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (!st.ok()) {
      std::fprintf(stderr, "embark: %s\n", st.message().c_str());
      return embark::kExitUsage;
    }
    return embark::RunLocalTrain(topts, *model, FLAGS_seed);
  }
  embark::JobSpec job;
  if (command == "train") {
    embark::TrainOptions topts;
    embark::Status st = MakeTrainJob(&job, &topts);
    if (!st.ok()) {
      std::fprintf(stderr, "embark: %s\n", st.message().c_str());
      return embark::kExitUsage;
    }
    ropts.server_memory = topts.server_memory;
    // SIGTERM on a stream with checkpoints: a final checkpoint, then a clean end (exit 0);
    // the grace bounds it, so no rank waits for it forever.
    if (topts.stream && !topts.checkpoint_dir.empty()) ropts.liveness.termination_grace_s = kStreamStopGraceSeconds;
  } else if (command == "bench") {
    embark::KvBenchOptions o;
    o.val_len = FLAGS_val_len;
    o.batch_keys = FLAGS_batch_keys;
    o.seconds = FLAGS_seconds;
    o.key_space = FLAGS_key_space;
    o.phases = FLAGS_phases;
    o.json_out = FLAGS_json_out;
    o.seed = FLAGS_seed;
    o.rotating_batches = FLAGS_rotating_batches;
    o.server_key_cache = FLAGS_server_key_cache;
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
    if (o.rotating_batches < 0) {
      std::fprintf(stderr, "bench: --rotating_batches must be 0 (fresh key sets) or positive\n");
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
