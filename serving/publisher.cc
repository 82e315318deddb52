#include "serving/publisher.h"

#include <dirent.h>
#include <glog/logging.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "serving/exporter.h"
#include "serving/publish_dir.h"

namespace embark {

Status Publisher::Publish(const std::string& checkpoint) {
  if (next_ == 0) {
    // Continue after whatever D holds; this run's first version is full (its .last-full may
    // belong to another run).
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::IoError("--publish_dir: cannot create " + dir_ + ": " + ec.message());
    uint64_t newest = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      uint64_t s = 0;
      if (ParsePublishedVersionName(e.path().filename().string(), &s)) newest = std::max(newest, s);
    }
    next_ = newest + 1;
    since_full_ = full_every_;  // forces a full version first
  }
  const bool full = since_full_ >= full_every_;
  const std::string last_full = dir_ + "/.last-full";
  ExportOptions o;
  o.checkpoint = checkpoint;
  o.out = dir_ + "/" + PublishedVersionName(next_);
  if (!full) o.base = last_full;
  ExportReport report;
  EMBARK_RETURN_IF_ERROR(RunExport(o, &report));
  // The full form of this version, the base of the next delta.
  ExportOptions f;
  f.checkpoint = checkpoint;
  f.out = last_full;
  ExportReport full_report;
  EMBARK_RETURN_IF_ERROR(RunExport(f, &full_report));
  LOG(INFO) << "published " << o.out << (full ? " (full)" : " (delta)") << " from " << checkpoint;
  // Versions before the previous full one are no longer needed by any reader (a reader behind
  // it jumps to the newest full version).
  if (full) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      uint64_t s = 0;
      if (ParsePublishedVersionName(e.path().filename().string(), &s) && s + 2 * static_cast<uint64_t>(full_every_) < next_)
        std::filesystem::remove_all(e.path(), ec);
    }
  }
  since_full_ = full ? 1 : since_full_ + 1;
  ++next_;
  return Status::OK();
}

std::function<Status(const std::string&)> PublishHook(const std::string& dir, int full_every) {
  if (dir.empty()) return nullptr;
  auto publisher = std::make_shared<Publisher>(dir, full_every);
  return [publisher](const std::string& checkpoint) { return publisher->Publish(checkpoint); };
}

}  // namespace embark
