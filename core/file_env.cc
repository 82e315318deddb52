#include "core/file_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace embark {

namespace {

std::string Errno() { return std::strerror(errno); }

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) close(fd_);
  }

  Status Append(std::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IoError("cannot write " + path_ + ": " + Errno() + (errno == ENOSPC ? " (disk full)" : ""));
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Status::OK();
  }

  Status Sync() override {
    // fsync rather than fdatasync: one call that certainly covers the data and the file's size.
    if (fsync(fd_) != 0) return Status::IoError("cannot fsync " + path_ + ": " + Errno());
    return Status::OK();
  }

  Status Close() override {
    const int fd = fd_;
    fd_ = -1;
    if (close(fd) != 0) return Status::IoError("cannot close " + path_ + ": " + Errno());
    return Status::OK();
  }

 private:
  const std::string path_;
  int fd_;
};

class PosixFileEnv : public FileEnv {
 public:
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IoError("cannot create " + path + ": " + Errno());
    *file = std::make_unique<PosixWritableFile>(path, fd);
    return Status::OK();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (std::rename(from.c_str(), to.c_str()) != 0) return Status::IoError("cannot rename " + from + " to " + to + ": " + Errno());
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return Status::IoError("cannot remove " + path + ": " + Errno());
    return Status::OK();
  }

  Status CreateDir(const std::string& path) override {
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Status::IoError("cannot create directory " + path + ": " + Errno());
    return Status::OK();
  }

  Status RemoveDir(const std::string& path) override {
    if (rmdir(path.c_str()) != 0 && errno != ENOENT) return Status::IoError("cannot remove directory " + path + ": " + Errno());
    return Status::OK();
  }

  Status SyncDir(const std::string& path) override {
    const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::IoError("cannot open directory " + path + " to sync it: " + Errno());
    const int rc = fsync(fd);
    const std::string why = rc != 0 ? Errno() : "";
    close(fd);
    if (rc != 0) return Status::IoError("cannot fsync directory " + path + ": " + why);
    return Status::OK();
  }
};

}  // namespace

FileEnv* FileEnv::Default() {
  static PosixFileEnv* env = new PosixFileEnv();  // never destroyed: usable during exit
  return env;
}

std::string DirName(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;  // "ck/" names ck, whose directory is "."
  const size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos || end == 0) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteSyncedFile(FileEnv* env, const std::string& path, std::initializer_list<std::string_view> pieces) {
  std::unique_ptr<WritableFile> file;
  EMBARK_RETURN_IF_ERROR(env->NewWritableFile(path, &file));
  Status st;
  for (std::string_view piece : pieces) {
    if (st.ok() && !piece.empty()) st = file->Append(piece);
  }
  if (st.ok()) st = file->Sync();  // the data is on disk before any name points at it
  Status closed = file->Close();
  if (st.ok()) st = closed;
  if (!st.ok()) (void)env->RemoveFile(path);  // no half-written file left behind (disk full)
  return st;
}

Status RenameDurably(FileEnv* env, const std::string& from, const std::string& to) {
  EMBARK_RETURN_IF_ERROR(env->RenameFile(from, to));
  return env->SyncDir(DirName(to));  // the new name is on disk
}

Status WriteFileDurably(FileEnv* env, const std::string& path, std::initializer_list<std::string_view> pieces) {
  const std::string tmp = path + ".tmp";
  EMBARK_RETURN_IF_ERROR(WriteSyncedFile(env, tmp, pieces));
  return RenameDurably(env, tmp, path);
}

Status WriteFileDurably(FileEnv* env, const std::string& path, std::string_view data) {
  return WriteFileDurably(env, path, {data});
}

Status CreateDirDurably(FileEnv* env, const std::string& path) {
  EMBARK_RETURN_IF_ERROR(env->CreateDir(path));
  return env->SyncDir(DirName(path));
}

Status RemoveFileDurably(FileEnv* env, const std::string& path) {
  EMBARK_RETURN_IF_ERROR(env->RemoveFile(path));
  return env->SyncDir(DirName(path));
}

}  // namespace embark
