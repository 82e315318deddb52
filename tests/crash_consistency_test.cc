// Crash consistency of checkpoints: whatever point a crash hits while checkpoints are being
// written, the newest checkpoint with a MANIFEST is usable (every file it names is there with
// the checksum it records), and no checkpoint whose MANIFEST write had returned is lost.
//
// Two kinds of crash:
//  * a host crash or power loss, simulated by CrashEnv (a FileEnv): it counts operations,
//    fails every one after the N-th (the machine stopped), and then throws away what a real
//    file system may lose -- file data not fsync'ed, and directory entries (created, renamed,
//    removed files and directories) whose directory was not fsync'ed since. Every N from 0 to
//    the last operation is tried. The same check with fsyncs that do nothing must find a
//    broken or lost checkpoint, so the simulation can tell durable code from lucky code.
//  * a killed process: a child writes checkpoints through the real file system and is
//    SIGKILLed at a random moment, many times.
//
// The checkpoint sequence is the scheduler's and servers' (scheduler/train_app.cc): Prepare,
// one shard file per server, the scheduler state, MANIFEST last, then Prune; full and delta
// checkpoints alternate, and a second run re-writes the newest checkpoint (a resume).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/checked_file.h"
#include "core/file_env.h"
#include "ps/checkpoint_shard.h"
#include "checkpoint/checkpoint_store.h"

namespace embark {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// CrashEnv

class CrashEnv : public FileEnv {
 public:
  // Operations after the first `budget` fail (the host stopped). honour_sync = false turns
  // Sync and SyncDir into no-ops (the control experiment).
  CrashEnv(std::string backup_dir, uint64_t budget, bool honour_sync = true)
      : backup_dir_(std::move(backup_dir)), budget_(budget), honour_sync_(honour_sync) {
    fs::create_directories(backup_dir_);
  }

  uint64_t ops() const { return ops_; }
  // From now on, `n` more operations succeed.
  void AllowMore(uint64_t n) { budget_ = n > UINT64_MAX - ops_ ? UINT64_MAX : ops_ + n; }
  bool crashed() const { return ops_ > budget_; }

  // Leaves on disk only what a crash at that moment may keep.
  void SimulateCrash() {
    for (const auto& [path, f] : files_) {
      if (f.size != f.synced && fs::exists(path)) fs::resize_file(path, f.synced);
    }
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) Undo(*it);
    pending_.clear();
    files_.clear();
  }

  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    if (!Step()) return Crashed(path);
    const bool existed = fs::exists(path);
    std::unique_ptr<WritableFile> real;
    EMBARK_RETURN_IF_ERROR(FileEnv::Default()->NewWritableFile(path, &real));
    if (!existed) pending_.push_back({Op::kCreate, DirName(path), path, "", ""});
    files_[path] = FileData{};  // truncated: nothing of it is durable yet
    *file = std::make_unique<File>(this, path, std::move(real));
    return Status::OK();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (!Step()) return Crashed(from);
    const std::string backup = fs::exists(to) ? Backup(to) : "";
    EMBARK_RETURN_IF_ERROR(FileEnv::Default()->RenameFile(from, to));
    pending_.push_back({Op::kRename, DirName(to), from, to, backup});
    auto it = files_.find(from);
    if (it != files_.end()) {
      files_[to] = it->second;
      files_.erase(it);
    }
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (!Step()) return Crashed(path);
    if (!fs::exists(path)) return Status::OK();
    const std::string backup = Backup(path);
    EMBARK_RETURN_IF_ERROR(FileEnv::Default()->RemoveFile(path));
    pending_.push_back({Op::kRemove, DirName(path), path, "", backup});
    files_.erase(path);
    return Status::OK();
  }

  Status CreateDir(const std::string& path) override {
    if (!Step()) return Crashed(path);
    if (fs::exists(path)) return Status::OK();
    EMBARK_RETURN_IF_ERROR(FileEnv::Default()->CreateDir(path));
    pending_.push_back({Op::kMkdir, DirName(path), path, "", ""});
    return Status::OK();
  }

  Status RemoveDir(const std::string& path) override {
    if (!Step()) return Crashed(path);
    if (!fs::exists(path)) return Status::OK();
    EMBARK_RETURN_IF_ERROR(FileEnv::Default()->RemoveDir(path));
    pending_.push_back({Op::kRmdir, DirName(path), path, "", ""});
    return Status::OK();
  }

  Status SyncDir(const std::string& path) override {
    if (!Step()) return Crashed(path);
    if (!honour_sync_) return Status::OK();
    // No real fsync: the simulation decides what survives, and the test stays fast.
    std::vector<Op> still;
    for (const Op& op : pending_)
      if (op.dir != path) still.push_back(op);
    pending_ = std::move(still);
    return Status::OK();
  }

 private:
  struct FileData {
    uint64_t size = 0;
    uint64_t synced = 0;
  };
  struct Op {
    enum Kind { kCreate, kRename, kRemove, kMkdir, kRmdir } kind;
    std::string dir;     // the directory whose fsync makes it durable
    std::string a, b;    // create/remove/mkdir/rmdir: a; rename: a -> b
    std::string backup;  // the file a rename replaced or a remove removed (a hard link)
  };

  class File : public WritableFile {
   public:
    File(CrashEnv* env, std::string path, std::unique_ptr<WritableFile> real)
        : env_(env), path_(std::move(path)), real_(std::move(real)) {}
    Status Append(std::string_view data) override {
      if (!env_->Step()) return env_->Crashed(path_);
      EMBARK_RETURN_IF_ERROR(real_->Append(data));
      env_->files_[path_].size += data.size();
      return Status::OK();
    }
    Status Sync() override {
      if (!env_->Step()) return env_->Crashed(path_);
      if (env_->honour_sync_) env_->files_[path_].synced = env_->files_[path_].size;
      return Status::OK();
    }
    Status Close() override {
      Status st = real_->Close();  // always release the descriptor
      if (!env_->Step()) return env_->Crashed(path_);
      return st;
    }

   private:
    CrashEnv* env_;
    const std::string path_;
    std::unique_ptr<WritableFile> real_;
  };

  bool Step() { return ++ops_ <= budget_; }
  Status Crashed(const std::string& path) { return Status::IoError("simulated crash before an operation on " + path); }

  std::string Backup(const std::string& path) {
    const std::string backup = backup_dir_ + "/" + std::to_string(backups_++);
    fs::create_hard_link(path, backup);
    return backup;
  }

  void Undo(const Op& op) {
    std::error_code ec;
    switch (op.kind) {
      case Op::kCreate: fs::remove(op.a, ec); break;
      case Op::kRename:
        fs::rename(op.b, op.a, ec);
        if (!op.backup.empty()) fs::rename(op.backup, op.b, ec);
        break;
      case Op::kRemove: fs::rename(op.backup, op.a, ec); break;
      case Op::kMkdir: fs::remove_all(op.a, ec); break;  // its entries went with it
      case Op::kRmdir: fs::create_directory(op.a, ec); break;
    }
  }

  const std::string backup_dir_;
  uint64_t budget_;
  const bool honour_sync_;
  uint64_t ops_ = 0;
  uint64_t backups_ = 0;
  std::map<std::string, FileData> files_;
  std::vector<Op> pending_;
};

TEST(FileEnvTest, DirNameIsTheDirectoryToSync) {
  EXPECT_EQ(DirName("ck/epoch-1/MANIFEST"), "ck/epoch-1");
  EXPECT_EQ(DirName("ck"), ".");
  EXPECT_EQ(DirName("ck/"), ".");
  EXPECT_EQ(DirName("/ck"), "/");
  EXPECT_EQ(DirName("/data/ck//"), "/data");
}

TEST(FileEnvTest, WriteFileDurablyReplacesAtomicallyAndNamesTheFileOnError) {
  const std::string dir = testing::TempDir() + "embark_fileenv_" + std::to_string(getpid());
  fs::create_directories(dir);
  const std::string path = dir + "/f";
  ASSERT_TRUE(WriteFileDurably(FileEnv::Default(), path, "first").ok());
  ASSERT_TRUE(WriteFileDurably(FileEnv::Default(), path, "second").ok());
  std::string back;
  {
    std::ifstream in(path);
    std::getline(in, back);
  }
  EXPECT_EQ(back, "second");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Status st = WriteFileDurably(FileEnv::Default(), dir + "/missing/f", "x");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir + "/missing/f.tmp"), std::string::npos) << st.ToString();
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------
// The checkpoint sequence and its check

const std::vector<std::string> kNames = {"emb"};
const std::vector<bool> kDense = {false};
const std::vector<uint32_t> kFloats = {3};
constexpr int kServers = 2;

// Row values of key k in checkpoint `epoch` of run `generation`: a re-written checkpoint
// differs from the first one.
float Value(int generation, int epoch, uint64_t key, uint32_t j) {
  return static_cast<float>(generation * 1000 + epoch * 100) + static_cast<float>(key) + 0.25f * j;
}

// Writes checkpoint epoch-`epoch` (a delta of epoch-(epoch-1) when epoch is even) the way the
// scheduler and the servers do. False as soon as a write fails (the crash).
bool WriteCheckpoint(const CheckpointStore& store, FileEnv* env, int generation, int epoch) {
  const std::string name = CheckpointStore::Name(epoch, 0, 0);
  if (!store.Prepare(name).ok()) return false;
  Manifest m;
  m.model = "mf";
  m.epochs_done = epoch;
  m.delta = epoch % 2 == 0;
  if (m.delta) m.base = CheckpointStore::Name(epoch - 1, 0, 0);
  m.servers = kServers;
  m.workers = 1;
  for (int s = 0; s < kServers; ++s) {
    const std::string file = "server-" + std::to_string(s) + ".shard";
    uint64_t sum = 0;
    Status st = WriteShardFile(store.PathOf(name) + "/" + file, kNames, kDense, kFloats,
                               [&](const std::function<void(const ShardRow&)>& emit) {
                                 for (uint64_t k = s; k < 40; k += kServers) {
                                   float row[3];
                                   for (uint32_t j = 0; j < 3; ++j) row[j] = Value(generation, epoch, k, j);
                                   emit({0, k, row, 3});
                                 }
                               },
                               &sum, env);
    if (!st.ok()) return false;
    m.files.push_back({"shard", file, sum});
  }
  uint64_t sum = 0;
  if (!WriteCheckedFile(store.PathOf(name) + "/scheduler.state", "state of " + name, &sum, env).ok()) return false;
  m.files.push_back({"state", "scheduler.state", sum});
  if (!store.WriteManifest(name, m).ok()) return false;
  store.Prune(2);
  return true;
}

// Empty when the newest complete checkpoint of `dir` is usable and not older than
// `acknowledged` (the newest epoch whose MANIFEST write returned); else what is wrong.
std::string CheckNewest(const std::string& dir, int acknowledged) {
  CheckpointStore store(dir);
  const std::vector<std::string> complete = store.Complete();
  if (complete.empty()) return acknowledged > 0 ? "no complete checkpoint, but epoch " + std::to_string(acknowledged) + " was written" : "";
  const std::string newest = complete.back();
  uint64_t key[3];
  if (!CheckpointStore::OrderKey(newest, key)) return "odd name " + newest;
  if (static_cast<int>(key[0]) < acknowledged)
    return "newest complete checkpoint is " + newest + " but epoch-" + std::to_string(acknowledged) + " was written";
  std::vector<std::string> names;
  std::vector<Manifest> manifests;
  Status st = store.Chain(newest, &names, &manifests);
  if (!st.ok()) return st.ToString();
  for (size_t i = 0; i < names.size(); ++i) {
    for (const ManifestFile& f : manifests[i].files) {
      const std::string path = store.PathOf(names[i]) + "/" + f.name;
      if (f.role == "shard") {
        st = ReadShardFile(path, kNames, kFloats, [](const ShardRow&) { return Status::OK(); }, &f.checksum);
      } else {
        std::string payload;
        st = ReadCheckedFile(path, &payload, &f.checksum);
      }
      if (!st.ok()) return st.ToString();
    }
  }
  return "";
}

class CrashTest : public ::testing::Test {
 protected:
  CrashTest() {
    std::string pattern = testing::TempDir() + "embark_crash_XXXXXX";
    root_ = mkdtemp(pattern.data());
  }
  ~CrashTest() override { fs::remove_all(root_); }

  // One trial: run 1 writes epochs 1-3 cleanly; run 2 (a resume) re-writes epoch 3, then 4
  // and 5, through a CrashEnv that stops after `budget` operations. Returns the check's verdict.
  std::string Trial(uint64_t budget, bool honour_sync, uint64_t* ops = nullptr) {
    const std::string dir = root_ + "/ck", backups = root_ + "/backups";
    fs::remove_all(dir);
    fs::remove_all(backups);
    // Run 1 goes through the simulation too (no real fsync: fast), with no crash.
    CrashEnv env(backups, UINT64_MAX, honour_sync);
    CheckpointStore store(dir, &env);
    for (int e = 1; e <= 3; ++e) EXPECT_TRUE(WriteCheckpoint(store, &env, 1, e));
    const uint64_t run1_ops = env.ops();
    env.AllowMore(budget);
    // Re-writing epoch-3 withdraws it first (its MANIFEST goes), so until run 2 writes a
    // MANIFEST the newest checkpoint a crash must keep is epoch-2.
    int acknowledged = 2;
    for (int e = 3; e <= 5; ++e) {
      if (!WriteCheckpoint(store, &env, 2, e)) break;
      acknowledged = e;
    }
    if (ops) *ops = env.ops() - run1_ops;
    env.SimulateCrash();
    return CheckNewest(dir, acknowledged);
  }

  std::string root_;
};

TEST_F(CrashTest, EveryHostCrashPointLeavesAUsableCheckpoint) {
  uint64_t total = 0;
  ASSERT_EQ(Trial(UINT64_MAX, true, &total), "");
  ASSERT_GT(total, 40u);
  for (uint64_t budget = 0; budget <= total; ++budget) {
    const std::string verdict = Trial(budget, true);
    EXPECT_EQ(verdict, "") << "crash after operation " << budget << " of " << total;
  }
}

TEST_F(CrashTest, WithoutFsyncsSomeCrashPointLosesOrBreaksACheckpoint) {
  uint64_t total = 0;
  (void)Trial(UINT64_MAX, false, &total);  // counts the operations (and already loses everything)
  int broken = 0;
  for (uint64_t budget = 0; budget <= total; ++budget) broken += !Trial(budget, false).empty();
  EXPECT_GT(broken, 0) << "the simulated crash cannot tell a missing fsync";
}

// A killed process (SIGKILL at a random moment while checkpoints are written through the
// real file system) always leaves a usable newest checkpoint.
TEST_F(CrashTest, KilledWritersLeaveAUsableCheckpoint) {
  const std::string dir = root_ + "/killed";
  std::mt19937 rng(12345);
  int reached_epoch_4 = 0;
  for (int trial = 0; trial < 30; ++trial) {
    fs::remove_all(dir);
    {
      CheckpointStore clean(dir);
      for (int e = 1; e <= 3; ++e) ASSERT_TRUE(WriteCheckpoint(clean, FileEnv::Default(), 1, e));
    }
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      CheckpointStore store(dir);
      for (int round = 0;; ++round)
        for (int e = 3; e <= 5; ++e) WriteCheckpoint(store, FileEnv::Default(), 2 + round, e);
    }
    // A checkpoint takes about a dozen fsyncs here: the kills spread over the first few.
    usleep(std::uniform_int_distribution<int>(0, 150000)(rng));
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    reached_epoch_4 += fs::exists(dir + "/epoch-5") || fs::exists(dir + "/epoch-4");
    EXPECT_EQ(CheckNewest(dir, 2), "") << "trial " << trial;  // epoch-3 is re-written first
  }
  EXPECT_GT(reached_epoch_4, 0) << "every kill landed in the first checkpoint";
}

}  // namespace
}  // namespace embark
