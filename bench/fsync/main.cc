// embark_fsync_bench: what durable checkpoint writes cost. Writes the same bytes as files of
// --file_mb through core/file_env.h twice -- durably (PATH.tmp, fsync, rename, directory
// fsync: what checkpoints do) and with the same steps minus both fsyncs (what they did
// before) -- and prints the seconds per GiB of each and the difference.
//   embark_fsync_bench DIR [total_mb=1024] [file_mb=64]
// DIR must be on the file system that holds --checkpoint_dir; its files are removed after.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/file_env.h"

namespace {

// FileEnv minus durability: Sync and SyncDir do nothing.
class NoSyncEnv : public embark::FileEnv {
 public:
  class File : public embark::WritableFile {
   public:
    explicit File(std::unique_ptr<embark::WritableFile> f) : f_(std::move(f)) {}
    embark::Status Append(std::string_view d) override { return f_->Append(d); }
    embark::Status Sync() override { return embark::Status::OK(); }
    embark::Status Close() override { return f_->Close(); }

   private:
    std::unique_ptr<embark::WritableFile> f_;
  };
  embark::Status NewWritableFile(const std::string& p, std::unique_ptr<embark::WritableFile>* f) override {
    std::unique_ptr<embark::WritableFile> real;
    EMBARK_RETURN_IF_ERROR(Default()->NewWritableFile(p, &real));
    *f = std::make_unique<File>(std::move(real));
    return embark::Status::OK();
  }
  embark::Status RenameFile(const std::string& a, const std::string& b) override { return Default()->RenameFile(a, b); }
  embark::Status RemoveFile(const std::string& p) override { return Default()->RemoveFile(p); }
  embark::Status CreateDir(const std::string& p) override { return Default()->CreateDir(p); }
  embark::Status RemoveDir(const std::string& p) override { return Default()->RemoveDir(p); }
  embark::Status SyncDir(const std::string&) override { return embark::Status::OK(); }
};

// Seconds to write total_mb in files of file_mb through `env`.
double Pass(embark::FileEnv* env, const std::string& dir, size_t total_mb, size_t file_mb, const std::string& data) {
  ::sync();  // the previous pass's dirty pages must not be flushed on this one's clock
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i * file_mb < total_mb; ++i) {
    const std::string path = dir + "/fsync-bench-" + std::to_string(i) + ".shard";
    embark::Status st = embark::WriteFileDurably(env, path, data);
    if (!st.ok()) {
      std::fprintf(stderr, "embark_fsync_bench: %s\n", st.ToString().c_str());
      std::exit(1);
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i * file_mb < total_mb; ++i) (void)env->RemoveFile(dir + "/fsync-bench-" + std::to_string(i) + ".shard");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: embark_fsync_bench DIR [total_mb=1024] [file_mb=64]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const size_t total_mb = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
  const size_t file_mb = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 64;
  if (total_mb == 0 || file_mb == 0) {
    std::fprintf(stderr, "embark_fsync_bench: sizes must be positive\n");
    return 2;
  }
  std::string data(file_mb << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 2654435761u >> 13);  // not compressible
  NoSyncEnv nosync;
  const double gib = static_cast<double>(((total_mb + file_mb - 1) / file_mb) * file_mb) / 1024;
  const double plain = Pass(&nosync, dir, total_mb, file_mb, data) / gib;
  const double durable = Pass(embark::FileEnv::Default(), dir, total_mb, file_mb, data) / gib;
  std::printf("files of %zu MiB, %.2f GiB: without fsync %.2f s/GiB, durable (fsync + directory fsync) %.2f s/GiB, "
              "fsync cost %.2f s/GiB\n", file_mb, gib, plain, durable, durable - plain);
  return 0;
}
