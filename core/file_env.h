// FileEnv: the one file-system layer every checkpoint write goes through, so that what is on
// disk after a host crash or power loss is what the code promised (modelled on LevelDB's
// Env / WritableFile::Sync).
//
// A rename alone survives a killed process, not a crashed host: the kernel may write the new
// name to disk before the file's data, or lose both. The durable recipe is
//   write PATH.tmp, fsync it, close, rename to PATH, fsync PATH's directory;
// after the directory's fsync returns, PATH is the new complete file even if the host dies.
// A checkpoint writes every data file that way and its MANIFEST last, so a MANIFEST on disk
// implies every file it names is on disk too. Removing a file that marks completeness (a
// MANIFEST) is followed by a directory fsync for the same reason.
//
// FileEnv is an interface so tests can substitute an implementation that simulates a crash
// (data and directory entries not yet synced are lost: tests/crash_consistency_test.cc).
// FileEnv::Default() is the POSIX one.
//
// Thread-safety: the default FileEnv is stateless and safe from any thread; a WritableFile
// belongs to one thread.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace embark {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes everything appended so far durable (fsync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

class FileEnv {
 public:
  virtual ~FileEnv() = default;
  // The process-wide POSIX environment.
  static FileEnv* Default();

  // Creates (or truncates) `path` for writing.
  virtual Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Removing a missing file is not an error.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Creating an existing directory is not an error.
  virtual Status CreateDir(const std::string& path) = 0;
  virtual Status RemoveDir(const std::string& path) = 0;
  // Makes the directory's entries (files created, renamed or removed in it) durable.
  virtual Status SyncDir(const std::string& path) = 0;
};

// The directory holding `path` ("." when it has none; trailing slashes are ignored).
std::string DirName(const std::string& path);

// Writes `data` to `path` durably and atomically: PATH.tmp, fsync, rename, fsync of the
// directory. Afterwards `path` holds `data` even across a host crash; before, it holds its
// previous content (or does not exist). Errors name the file.
Status WriteFileDurably(FileEnv* env, const std::string& path, std::string_view data);
// The same for data given in pieces, written in order (a header and a large payload are not
// copied into one buffer first).
Status WriteFileDurably(FileEnv* env, const std::string& path, std::initializer_list<std::string_view> pieces);

// Writes the pieces to `path` and fsyncs it, without a temporary name: for the files of a
// directory that is written under a temporary name and published whole (RenameDurably), as a
// serving bundle is. A failed write removes the file. Errors name the file.
Status WriteSyncedFile(FileEnv* env, const std::string& path, std::initializer_list<std::string_view> pieces);

// Renames `from` (a file, or a directory) to `to` and fsyncs `to`'s directory, so the new
// name survives a host crash. This is the one temp-then-rename step every atomic write uses.
Status RenameDurably(FileEnv* env, const std::string& from, const std::string& to);

// Creates directory `path` (if missing) and syncs its parent, so the directory survives a crash.
Status CreateDirDurably(FileEnv* env, const std::string& path);

// Removes `path` and syncs its directory: after a crash the file stays removed.
Status RemoveFileDurably(FileEnv* env, const std::string& path);

}  // namespace embark
