#include "data/dir_stream.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <utility>

namespace embark {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

DirStream::DirStream(std::string spec, std::string dir, StreamOptions options)
    : spec_(std::move(spec)), dir_(std::move(dir)), options_(std::move(options)) {}

Status DirStream::Open() {
  struct stat st;
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::NotFound(spec_ + ": " + dir_ + " is not a directory");
  }
  EMBARK_RETURN_IF_ERROR(Scan());
  for (const auto& [name, offset] : options_.start) {
    auto it = files_.find(name);
    // A part read to its end may have been removed since (retention); nothing of it is left.
    if (it == files_.end()) continue;
    if (offset > it->second.size) {
      return Status::Corruption(spec_ + "/" + name + ": the saved position " + std::to_string(offset) +
                                " is past its size " + std::to_string(it->second.size) +
                                " (the file shrank or was replaced since)");
    }
    it->second.position = offset;
  }
  return Status::OK();
}

Status DirStream::Scan() {
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Status::IoError(spec_ + ": cannot list " + dir_);
  std::set<std::string> data, markers;
  bool success = false;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "_SUCCESS") success = true;
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    if (EndsWith(name, ".done")) {
      markers.insert(name.substr(0, name.size() - 5));
      continue;
    }
    if (EndsWith(name, ".tmp")) continue;
    data.insert(name);
  }
  ::closedir(d);
  if (success) success_ = true;

  for (const std::string& name : data) {
    struct stat st;
    const std::string path = dir_ + "/" + name;
    if (::stat(path.c_str(), &st) != 0) continue;  // removed between readdir and stat
    if (!S_ISREG(st.st_mode)) continue;
    const bool ready = success_ || markers.count(name) > 0;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    auto it = files_.find(name);
    if (it == files_.end()) {
      if (!order_.empty() && name < order_.back()) {
        return Status::Corruption(spec_ + "/" + name + " appeared after " + order_.back() +
                                  ", which sorts after it: parts are read in name order, so a new part "
                                  "must sort after every part already there");
      }
      FileState f;
      f.dev = st.st_dev;
      f.ino = st.st_ino;
      f.size = size;
      f.ready = ready;
      f.mine = static_cast<int>(order_.size() % static_cast<size_t>(options_.num_workers)) == options_.worker_index;
      f.mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
      files_.emplace(name, f);
      order_.push_back(name);
      continue;
    }
    FileState& f = it->second;
    if (!f.mine) continue;
    if (f.dev != st.st_dev || f.ino != st.st_ino) {
      return Status::Corruption(spec_ + "/" + name + " was replaced by another file under the same name "
                                "while the stream was read; parts must not change once written");
    }
    if (size < f.size || size < f.position) {
      return Status::Corruption(spec_ + "/" + name + " shrank from " + std::to_string(std::max(f.size, f.position)) +
                                " to " + std::to_string(size) + " bytes; parts must not change once written");
    }
    if (f.ready && size > f.size) {
      return Status::Corruption(spec_ + "/" + name + " grew from " + std::to_string(f.size) + " to " +
                                std::to_string(size) + " bytes after its completion marker");
    }
    f.size = size;
    f.ready = ready;
    f.mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  }
  // A part of this worker removed before it was read to its end would be lost events.
  for (const std::string& name : order_) {
    const FileState& f = files_[name];
    if (f.mine && data.count(name) == 0 && f.position < f.size) {
      return Status::Corruption(spec_ + "/" + name + " was removed after " + std::to_string(f.position) + " of its " +
                                std::to_string(f.size) + " bytes were read");
    }
  }
  return Status::OK();
}

Status DirStream::OpenNext(bool* opened) {
  *opened = false;
  for (const std::string& name : order_) {
    FileState& f = files_[name];
    if (!f.mine || (f.ready && f.position >= f.size)) continue;
    if (!f.ready) break;  // name order: a later part waits for this one's marker
    const std::string path = dir_ + "/" + name;
    in_ = std::ifstream(path, std::ios::binary);
    if (!in_) return Status::IoError(spec_ + "/" + name + ": cannot open " + path);
    line_number_ = 0;
    if (f.position > 0) {
      // Line numbers in messages stay true after a resume: count the lines before the position.
      std::string skipped;
      uint64_t seen = 0;
      while (seen < f.position && std::getline(in_, skipped)) {
        seen += skipped.size() + 1;
        ++line_number_;
      }
      if (seen != f.position) {
        return Status::Corruption(spec_ + "/" + name + ": the saved position " + std::to_string(f.position) +
                                  " is not the start of a line");
      }
    }
    current_ = name;
    *opened = true;
    return Status::OK();
  }
  return Status::OK();
}

Status DirStream::Next(StreamEvent* event, int timeout_ms, bool* got, bool* finished) {
  *got = false;
  *finished = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (!current_.empty()) {
      FileState& f = files_[current_];
      std::string line;
      if (f.position < f.size && std::getline(in_, line)) {
        const bool newline = !in_.eof();
        event->offset = f.position;
        f.position += line.size() + (newline ? 1 : 0);
        if (f.position > f.size) {
          return Status::Corruption(spec_ + "/" + current_ + " grew from " + std::to_string(f.size) +
                                    " bytes after its completion marker");
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        event->next = f.position;
        event->line = std::move(line);
        event->key = current_;
        event->line_number = ++line_number_;
        event->timestamp_ms = f.mtime_ms;
        *got = true;
        return Status::OK();
      }
      if (f.position < f.size) {
        return Status::Corruption(spec_ + "/" + current_ + " ended at byte " + std::to_string(f.position) +
                                  " of the " + std::to_string(f.size) + " it had when its marker was seen (it shrank)");
      }
      in_.close();
      current_.clear();
      EMBARK_RETURN_IF_ERROR(Scan());
    }
    bool opened = false;
    EMBARK_RETURN_IF_ERROR(OpenNext(&opened));
    if (opened) continue;
    if (success_) {
      bool all_read = true;
      for (const auto& [name, f] : files_) all_read = all_read && (!f.mine || f.position >= f.size);
      if (all_read) {
        *finished = true;
        return Status::OK();
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Status::OK();
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        deadline - now, std::chrono::milliseconds(options_.poll_ms)));
    EMBARK_RETURN_IF_ERROR(Scan());
  }
}

StreamPositions DirStream::Positions() const {
  StreamPositions out;
  for (const auto& [name, f] : files_) {
    if (f.mine) out[name] = f.position;
  }
  return out;
}

int64_t DirStream::Lag() {
  int64_t bytes = 0;
  for (const auto& [name, f] : files_) {
    if (f.mine && f.ready) bytes += static_cast<int64_t>(f.size - f.position);
  }
  return bytes;
}

}  // namespace embark
