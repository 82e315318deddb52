#include "data/input_split.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace embark {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

bool IsGlobPattern(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Adds the regular, non-hidden files directly inside `dir`.
Status ListDirectory(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Status::IoError(dir + ": cannot list directory: " + ErrnoText(errno));
  std::vector<std::string> found;
  while (struct dirent* ent = readdir(d)) {
    if (ent->d_name[0] == '.') continue;  // hidden files, "." and ".."
    std::string path = dir;
    if (path.empty() || path.back() != '/') path += '/';
    path += ent->d_name;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) found.push_back(std::move(path));
  }
  closedir(d);
  if (found.empty()) return Status::NotFound(dir + ": directory has no input files");
  std::sort(found.begin(), found.end());
  out->insert(out->end(), found.begin(), found.end());
  return Status::OK();
}

// Adds one concrete path: a regular file, or the files of a directory.
Status AddPath(const std::string& path, std::vector<std::string>* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return Status::NotFound(path + ": " + ErrnoText(errno));
  }
  if (S_ISDIR(st.st_mode)) return ListDirectory(path, out);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  out->push_back(path);
  return Status::OK();
}

}  // namespace

Status ExpandInputs(const std::string& spec, std::vector<std::string>* files) {
  files->clear();
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = Trim(spec.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;  // tolerate "a,,b" and a trailing comma
    if (!IsGlobPattern(item)) {
      EMBARK_RETURN_IF_ERROR(AddPath(item, files));
      continue;
    }
    glob_t g;
    int rc = glob(item.c_str(), 0, nullptr, &g);
    if (rc == GLOB_NOMATCH) {
      globfree(&g);
      return Status::NotFound(item + ": pattern matches no files");
    }
    if (rc != 0) {
      globfree(&g);
      return Status::IoError(item + ": glob failed");
    }
    std::vector<std::string> matches(g.gl_pathv, g.gl_pathv + g.gl_pathc);
    globfree(&g);
    for (const std::string& m : matches) EMBARK_RETURN_IF_ERROR(AddPath(m, files));
  }
  std::sort(files->begin(), files->end());
  files->erase(std::unique(files->begin(), files->end()), files->end());
  if (files->empty()) return Status::InvalidArgument("input spec '" + spec + "' names no files");
  return Status::OK();
}

Status StatFiles(const std::vector<std::string>& files,
                 std::vector<std::pair<std::string, uint64_t>>* files_with_sizes) {
  files_with_sizes->clear();
  for (const std::string& f : files) {
    struct stat st;
    if (stat(f.c_str(), &st) != 0) return Status::NotFound(f + ": " + ErrnoText(errno));
    files_with_sizes->emplace_back(f, static_cast<uint64_t>(st.st_size));
  }
  return Status::OK();
}

std::vector<FileRange> SplitForWorker(
    const std::vector<std::pair<std::string, uint64_t>>& files_with_sizes, int num_workers,
    int worker_index) {
  std::vector<FileRange> out;
  if (num_workers <= 0 || worker_index < 0 || worker_index >= num_workers) return out;
  unsigned __int128 total = 0;
  for (const auto& f : files_with_sizes) total += f.second;
  // 128-bit products: total * worker_index cannot overflow however large the data set.
  const uint64_t lo = static_cast<uint64_t>(total * worker_index / num_workers);
  const uint64_t hi = static_cast<uint64_t>(total * (worker_index + 1) / num_workers);
  uint64_t file_start = 0;  // global offset of the current file's first byte
  for (const auto& f : files_with_sizes) {
    const uint64_t file_end = file_start + f.second;
    const uint64_t b = std::max(lo, file_start);
    const uint64_t e = std::min(hi, file_end);
    if (b < e) out.push_back(FileRange{f.first, b - file_start, e - file_start});
    file_start = file_end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// LineSource

LineSource::LineSource(std::vector<FileRange> ranges, size_t buffer_bytes)
    : ranges_(std::move(ranges)),
      buf_(new char[std::max<size_t>(buffer_bytes, 16)]),
      capacity_(std::max<size_t>(buffer_bytes, 16)) {}

LineSource::~LineSource() { CloseRange(); }

void LineSource::CloseRange() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  range_open_ = false;
}

Status LineSource::Refill() {
  if (head_ > 0) {
    std::memmove(buf_.get(), buf_.get() + head_, tail_ - head_);
    buf_offset_ += head_;
    tail_ -= head_;
    head_ = 0;
  }
  if (tail_ == capacity_) {  // one line fills the whole buffer: grow it
    size_t bigger = capacity_ * 2;
    std::unique_ptr<char[]> nb(new char[bigger]);
    std::memcpy(nb.get(), buf_.get(), tail_);
    buf_ = std::move(nb);
    capacity_ = bigger;
  }
  for (;;) {
    ssize_t n = ::read(fd_, buf_.get() + tail_, capacity_ - tail_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(path() + ": read failed: " + ErrnoText(errno));
    if (n == 0) eof_ = true;
    tail_ += static_cast<size_t>(n);
    return Status::OK();
  }
}

Status LineSource::SkipPastNewline(bool* found) {
  for (;;) {
    const char* nl = static_cast<const char*>(
        std::memchr(buf_.get() + head_, '\n', tail_ - head_));
    if (nl != nullptr) {
      head_ = static_cast<size_t>(nl - buf_.get()) + 1;
      *found = true;
      return Status::OK();
    }
    // Discard everything: skipped bytes are never needed, so a long line never grows buf_.
    buf_offset_ += tail_;
    head_ = tail_ = 0;
    if (eof_) {
      *found = false;
      return Status::OK();
    }
    EMBARK_RETURN_IF_ERROR(Refill());
  }
}

Status LineSource::OpenRange() {
  const FileRange& r = ranges_[range_index_];
  fd_ = ::open(r.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return Status::IoError(r.path + ": cannot open: " + ErrnoText(errno));
  range_open_ = true;
  range_begin_ = r.begin;
  range_end_ = r.end;
  head_ = tail_ = 0;
  eof_ = false;
  lines_in_range_ = 0;
  prefix_newlines_ = -1;
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  // Start one byte early so the byte before `begin` tells whether a line starts at `begin`.
  uint64_t start = r.begin == 0 ? 0 : r.begin - 1;
  if (::lseek(fd_, static_cast<off_t>(start), SEEK_SET) < 0) {
    return Status::IoError(r.path + ": seek failed: " + ErrnoText(errno));
  }
  buf_offset_ = start;
  if (r.begin > 0) {
    bool found = false;
    EMBARK_RETURN_IF_ERROR(SkipPastNewline(&found));  // byte begin-1 == '\n' stops at once
    if (!found) {  // the file ends inside a line owned by an earlier range
      head_ = tail_ = 0;
      buf_offset_ = r.end;  // makes Next() see the range as exhausted
      eof_ = true;
    }
  }
  first_line_offset_ = buf_offset_ + head_;
  return Status::OK();
}

Status LineSource::Next(std::string_view* line, bool* has_line) {
  for (;;) {
    if (!range_open_) {
      if (range_index_ >= ranges_.size()) {
        *has_line = false;
        return Status::OK();
      }
      Status s = OpenRange();
      if (!s.ok()) {
        CloseRange();
        return s;
      }
    }
    // A line belongs to this range only if its first byte is before range_end_.
    const bool line_starts_here = buf_offset_ + head_ < range_end_ && !(eof_ && head_ == tail_);
    if (!line_starts_here) {
      CloseRange();
      ++range_index_;
      continue;
    }
    size_t scan_from = head_;
    for (;;) {
      const char* nl = static_cast<const char*>(
          std::memchr(buf_.get() + scan_from, '\n', tail_ - scan_from));
      size_t line_end;
      if (nl != nullptr) {
        line_end = static_cast<size_t>(nl - buf_.get());
      } else if (eof_) {
        line_end = tail_;  // last line without a trailing newline
      } else {
        // Remember how much was already scanned (relative to the line start) so a line longer
        // than the buffer is scanned once, not once per refill.
        size_t scanned = tail_ - head_;
        Status s = Refill();
        if (!s.ok()) {
          CloseRange();
          return s;
        }
        scan_from = head_ + scanned;
        if (eof_ && scan_from == tail_ && scanned == 0) {
          // Nothing left at all (can only happen when head_ == tail_ before the refill).
          break;
        }
        continue;
      }
      size_t len = line_end - head_;
      const char* start = buf_.get() + head_;
      if (len > 0 && start[len - 1] == '\r') --len;
      *line = std::string_view(start, len);
      line_offset_ = buf_offset_ + head_;
      head_ = nl != nullptr ? line_end + 1 : line_end;
      ++lines_in_range_;
      *has_line = true;
      return Status::OK();
    }
    // Reached end of file with no bytes left: the range is done.
    CloseRange();
    ++range_index_;
  }
}

uint64_t LineSource::LineNumber() {
  if (prefix_newlines_ < 0) {
    prefix_newlines_ = 0;
    if (first_line_offset_ > 0) {
      // Count the newlines before the range's first line with a separate descriptor so the
      // main read position and buffer stay untouched.
      int fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        std::unique_ptr<char[]> chunk(new char[1 << 16]);
        uint64_t remaining = first_line_offset_;
        uint64_t offset = 0;
        while (remaining > 0) {
          size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, 1 << 16));
          ssize_t n = ::pread(fd, chunk.get(), want, static_cast<off_t>(offset));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          const char* p = chunk.get();
          const char* end = p + n;
          while ((p = static_cast<const char*>(std::memchr(p, '\n', end - p))) != nullptr) {
            ++prefix_newlines_;
            ++p;
          }
          remaining -= static_cast<uint64_t>(n);
          offset += static_cast<uint64_t>(n);
        }
        ::close(fd);
      }
    }
  }
  return static_cast<uint64_t>(prefix_newlines_) + lines_in_range_;
}

std::vector<FileRange> LineSource::Remaining() const {
  std::vector<FileRange> out;
  size_t i = range_index_;
  if (range_open_) {
    const uint64_t next = buf_offset_ + head_;
    if (next < range_end_ && !(eof_ && head_ == tail_)) out.push_back(FileRange{ranges_[i].path, next, range_end_});
    ++i;
  }
  for (; i < ranges_.size(); ++i) out.push_back(ranges_[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// OffsetLineReader

OffsetLineReader::OffsetLineReader(std::string path) : path_(std::move(path)) {}

OffsetLineReader::~OffsetLineReader() {
  if (fd_ >= 0) ::close(fd_);
}

Status OffsetLineReader::Load(uint64_t offset, size_t bytes) {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return Status::IoError(path_ + ": cannot open: " + ErrnoText(errno));
  }
  window_.resize(bytes);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::pread(fd_, &window_[got], bytes - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(path_ + ": read failed: " + ErrnoText(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  window_.resize(got);
  window_begin_ = offset;
  window_reaches_eof_ = got < bytes;
  return Status::OK();
}

Status OffsetLineReader::LineAt(uint64_t offset, std::string_view* line) {
  // 16 KiB windows: pending lines are usually sparse, so a larger window mostly reads bytes
  // nobody needs.
  size_t want = size_t{16} << 10;
  for (;;) {
    if (offset >= window_begin_ && offset < window_begin_ + window_.size()) {
      const size_t at = static_cast<size_t>(offset - window_begin_);
      const size_t nl = window_.find('\n', at);
      if (nl != std::string::npos || window_reaches_eof_) {
        size_t end = nl == std::string::npos ? window_.size() : nl;
        if (end > at && window_[end - 1] == '\r') --end;
        *line = std::string_view(window_.data() + at, end - at);
        return Status::OK();
      }
      // The line runs past the window: read again from its start, larger if needed.
      if (at == 0) want = std::max(want, window_.size() * 2);
    }
    EMBARK_RETURN_IF_ERROR(Load(offset, want));
    if (window_.empty())
      return Status::InvalidArgument(path_ + ": no line starts at byte " + std::to_string(offset) + " (past the end)");
  }
}

uint64_t OffsetLineReader::LineNumberAt(uint64_t offset) {
  uint64_t lines = 1;
  if (fd_ < 0) return 0;
  std::string chunk(size_t{1} << 16, '\0');
  for (uint64_t at = 0; at < offset;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), offset - at));
    ssize_t n = ::pread(fd_, &chunk[0], want, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines += static_cast<uint64_t>(std::count(chunk.begin(), chunk.begin() + n, '\n'));
    at += static_cast<uint64_t>(n);
  }
  return lines;
}

}  // namespace embark
