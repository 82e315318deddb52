#include "worker/trained_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace embark {
namespace {

std::string Errno() { return std::strerror(errno); }

}  // namespace

TrainedLog::~TrainedLog() {
  if (fd_ >= 0) ::close(fd_);
}

Status TrainedLog::Open(const std::string& path, int worker, const std::map<int32_t, uint64_t>& truncate, bool fresh) {
  for (const auto& [index, bytes] : truncate) {
    const std::string log = path + "." + std::to_string(index);
    struct stat st;
    if (::stat(log.c_str(), &st) != 0) {
      if (bytes == 0) continue;
      return Status::NotFound("--trained_log: " + log + " is missing, but the checkpoint records " + std::to_string(bytes) +
                              " bytes of it");
    }
    if (static_cast<uint64_t>(st.st_size) < bytes) {
      return Status::Corruption("--trained_log: " + log + " has " + std::to_string(st.st_size) + " bytes, fewer than the " +
                                std::to_string(bytes) + " the checkpoint records (it was cut or replaced)");
    }
    if (::truncate(log.c_str(), static_cast<off_t>(bytes)) != 0)
      return Status::IoError("--trained_log: cannot cut " + log + " back to " + std::to_string(bytes) + " bytes: " + Errno());
  }
  path_ = path + "." + std::to_string(worker);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | (fresh ? O_TRUNC : 0), 0644);
  if (fd_ < 0) return Status::IoError("--trained_log: cannot open " + path_ + ": " + Errno());
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Status::IoError("--trained_log: cannot stat " + path_ + ": " + Errno());
  size_ = static_cast<uint64_t>(st.st_size);
  return Status::OK();
}

Status TrainedLog::Append(const Batch& batch) {
  if (batch.event_keys.size() != batch.size() || batch.event_numbers.size() != batch.size())
    return Status::Internal("--trained_log: a batch of " + std::to_string(batch.size()) + " examples carries " +
                            std::to_string(batch.event_keys.size()) + " event ids");
  for (size_t i = 0; i < batch.size(); ++i) {
    buffer_ += batch.event_keys[i];
    buffer_ += '\t';
    buffer_ += std::to_string(batch.event_numbers[i]);
    buffer_ += '\n';
  }
  // Written at once (one write per batch): a killed run leaves its tail in the file, and the
  // resume cuts it back, so the cut, not the chance of a lost buffer, makes the count exact.
  return WriteBuffer();
}

Status TrainedLog::WriteBuffer() {
  size_t at = 0;
  while (at < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + at, buffer_.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IoError("--trained_log: cannot write " + path_ + ": " + Errno());
    at += static_cast<size_t>(n);
  }
  size_ += buffer_.size();
  buffer_.clear();
  return Status::OK();
}

Status TrainedLog::Commit(uint64_t* bytes) {
  if (fd_ < 0) return Status::Internal("--trained_log: Commit before Open");
  EMBARK_RETURN_IF_ERROR(WriteBuffer());
  if (::fdatasync(fd_) != 0) return Status::IoError("--trained_log: cannot sync " + path_ + ": " + Errno());
  if (bytes != nullptr) *bytes = size_;
  return Status::OK();
}

}  // namespace embark
