// CheckpointStore: the checkpoint directory's layout, MANIFEST files, delta chains and pruning.
//
// Layout of --checkpoint_dir: one directory per checkpoint,
//   epoch-N/          the cut after epoch N (epoch boundary)
//   epoch-E-step-S/   a cut inside epoch E, after global step S (steps: train_protocol.h)
// holding server-I.shard (full or delta rows of server I), worker-J.position (mid-epoch cuts:
// what worker J had not trained yet), scheduler.state, and MANIFEST, written last. A directory
// without a MANIFEST is an incomplete checkpoint and is ignored. Checkpoints are ordered by
// name: epoch-E-step-S comes after epoch-(E-1) and before epoch-E.
//
// MANIFEST (text, one "key value" per line): model, epoch (epochs completed at the cut),
// in_epoch (mid-epoch cuts: the epoch cut), step, kind (full | delta), base (delta: the previous
// checkpoint of its chain), servers, workers, then one line per file "ROLE NAME CHECKSUM" (ROLE
// = shard | position | state), and finally "crc32 C", the zlib CRC-32 of all the preceding
// bytes (MANIFESTs written before it end "checksum C", FNV-1a HashBytes; still read). Optional
// lines: format, seed (the job's --seed, for rows a reader must initialise as the servers did),
// option NAME VALUE, metric NAME VALUE.
// A delta checkpoint holds only the rows changed since its base; restoring it means loading
// the full checkpoint at the start of its chain, then every delta in order.
//
// Thread-safety: none; used by the scheduler's thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/file_env.h"
#include "core/status.h"

namespace embark {

struct ManifestFile {
  std::string role;  // shard, position, state
  std::string name;  // file name inside the checkpoint directory
  uint64_t checksum = 0;
};

struct Manifest {
  std::string model;
  int epochs_done = 0;     // epochs completed at the cut
  int in_epoch = 0;        // mid-epoch cut: the epoch that was cut; 0 at an epoch boundary
  uint64_t step = 0;       // global step at the cut
  bool delta = false;
  std::string base;        // delta: name of the previous checkpoint in the chain
  int servers = 0;
  int workers = 0;
  std::vector<ManifestFile> files;
  // How to rebuild the model and how good it was, for `embark export` (serving/checkpoint_reader.h):
  // the data format, every model option the user set (models/model_spec.h), the last metrics.
  std::string format;
  std::optional<uint64_t> seed;  // the job's --seed; unset in MANIFESTs written before seed lines
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::pair<std::string, std::string>> metrics;

  std::vector<ManifestFile> FilesOf(const std::string& role) const;
};

std::string FormatManifest(const Manifest& m);
// `path` names the file in errors.
Status ParseManifest(const std::string& path, const std::string& text, Manifest* m);

class CheckpointStore {
 public:
  explicit CheckpointStore(std::string dir, FileEnv* env = FileEnv::Default()) : dir_(std::move(dir)), env_(env) {}

  // "epoch-N" for an epoch boundary, "epoch-E-step-S" inside epoch E.
  static std::string Name(int epochs_done, int in_epoch, uint64_t step);
  // Sort key of a checkpoint directory name; false if `name` is not one.
  static bool OrderKey(const std::string& name, uint64_t key[3]);

  const std::string& dir() const { return dir_; }
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name; }

  // Creates the checkpoint directory `name` (and dir()), removing a MANIFEST left there by an
  // earlier run so the directory is incomplete until WriteManifest. Durable: after a host
  // crash the directories exist and the old MANIFEST stays removed.
  Status Prepare(const std::string& name) const;
  // Writes MANIFEST atomically and durably (temp name, fsync, rename, directory fsync): the
  // checkpoint is complete afterwards. Call it only after every file it names is durable.
  Status WriteManifest(const std::string& name, const Manifest& m) const;
  Status ReadManifest(const std::string& name, Manifest* m) const;

  // Names of the directories that have a MANIFEST, oldest first (manifests are not parsed).
  std::vector<std::string> Complete() const;
  // The chain of checkpoint `name`: its full base first, `name` last. Errors name the MANIFEST
  // that is missing or corrupt.
  Status Chain(const std::string& name, std::vector<std::string>* names, std::vector<Manifest>* manifests) const;
  // Keeps the newest `keep` complete checkpoints, `also_keep` (unless empty: the best epoch's
  // of an early-stopping job) and every checkpoint their chains need; removes the other
  // complete ones (MANIFEST first, made durable before any of its files goes, so a crash, of
  // the process or the host, leaves no manifest without its files).
  void Prune(int keep, const std::string& also_keep = "") const;

 private:
  const std::string dir_;
  FileEnv* const env_;
};

}  // namespace embark
