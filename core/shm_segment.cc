#include "core/shm_segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace embark {

namespace {

constexpr uint64_t kSegmentMagic = 0x314d48534b424d45ULL;  // "EMBKSHM1"
constexpr char kPrefix[] = "embark-shm-";

struct SegmentHeader {
  uint64_t magic;
  uint64_t total_bytes;
  uint64_t token;
  int64_t creator_pid;
};

std::string Errno(const std::string& what, const std::string& name, int err) {
  return what + " shared-memory object " + name + ": " + std::strerror(err);
}

// Maps `fd` shared, with every page table entry filled up front (MAP_POPULATE): the ring is
// reused over and over, so faulting it in lazily would only move the cost into the first
// requests.
uint8_t* MapShared(int fd, uint64_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
}

}  // namespace

Status ShmSegment::Create(const std::string& name, uint64_t payload_bytes, uint64_t token,
                          std::unique_ptr<ShmSegment>* out) {
  const uint64_t total = kHeaderBytes + (payload_bytes + 4095) / 4096 * 4096;
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 && errno == EEXIST) {
    // Our pid is in the name, so an existing object was left by a dead process that had it.
    shm_unlink(name.c_str());
    fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  if (fd < 0) return Status::IoError(Errno("cannot create", name, errno));
  int err = posix_fallocate(fd, 0, static_cast<off_t>(total));
  if (err != 0) {
    close(fd);
    shm_unlink(name.c_str());
    return Status::IoError(Errno("cannot reserve " + std::to_string(total >> 20) + " MiB for", name, err));
  }
  uint8_t* base = MapShared(fd, total);
  err = errno;
  close(fd);
  if (base == nullptr) {
    shm_unlink(name.c_str());
    return Status::IoError(Errno("cannot map", name, err));
  }
  SegmentHeader h{kSegmentMagic, total, token, static_cast<int64_t>(getpid())};
  std::memcpy(base, &h, sizeof(h));
  out->reset(new ShmSegment(name, base, total, token, /*owner=*/true));
  return Status::OK();
}

Status ShmSegment::Open(const std::string& name, uint64_t total_bytes, uint64_t token,
                        std::unique_ptr<ShmSegment>* out) {
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) return Status::IoError(Errno("cannot open", name, errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != total_bytes || total_bytes <= kHeaderBytes) {
    close(fd);
    return Status::InvalidArgument("shared-memory object " + name + " has " + std::to_string(st.st_size) +
                                   " bytes, the offer says " + std::to_string(total_bytes));
  }
  // Ranks of a job run as one user: an object of another user (or one others may write) is
  // not a worker's of this job, and mapping it would let that user read or change rows.
  if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    close(fd);
    return Status::InvalidArgument("shared-memory object " + name + " belongs to uid " + std::to_string(st.st_uid) +
                                   " with mode " + std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                                   std::to_string(st.st_mode & 7) + "; this job runs as uid " + std::to_string(geteuid()) +
                                   " and maps only its own objects, writable by it alone");
  }
  uint8_t* base = MapShared(fd, total_bytes);
  const int err = errno;
  close(fd);
  if (base == nullptr) return Status::IoError(Errno("cannot map", name, err));
  SegmentHeader h;
  std::memcpy(&h, base, sizeof(h));
  if (h.magic != kSegmentMagic || h.total_bytes != total_bytes || h.token != token) {
    munmap(base, total_bytes);
    return Status::InvalidArgument("shared-memory object " + name +
                                   " is not the one offered (its header or token differs)");
  }
  out->reset(new ShmSegment(name, base, total_bytes, token, /*owner=*/false));
  return Status::OK();
}

ShmSegment::~ShmSegment() {
  Unlink();
  munmap(base_, total_bytes_);
}

void ShmSegment::Unlink() {
  if (!linked_) return;
  shm_unlink(name_.c_str());
  linked_ = false;
}

std::string ShmSegmentName(int creator_pid, int worker_rank, int server_rank) {
  return "/" + std::string(kPrefix) + std::to_string(creator_pid) + "-" + std::to_string(worker_rank) + "-" +
         std::to_string(server_rank);
}

bool IsShmSegmentName(const std::string& name) {
  const std::string prefix = "/" + std::string(kPrefix);
  if (name.size() > 64 || name.compare(0, prefix.size(), prefix) != 0) return false;
  int dashes = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] == '-') {
      if (name[i - 1] == '-' || i + 1 == name.size()) return false;
      ++dashes;
    } else if (name[i] < '0' || name[i] > '9') {
      return false;
    }
  }
  return dashes == 2 && name.size() > prefix.size() && name[prefix.size()] != '-';
}

int RemoveStaleShmSegments() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return 0;
  int removed = 0;
  while (dirent* e = readdir(dir)) {
    const std::string file = e->d_name;
    if (!IsShmSegmentName("/" + file)) continue;
    const long pid = std::strtol(file.c_str() + sizeof(kPrefix) - 1, nullptr, 10);
    if (pid <= 0 || pid == getpid()) continue;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to probe)
    if (shm_unlink(("/" + file).c_str()) == 0) ++removed;
  }
  closedir(dir);
  return removed;
}

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

std::string ReadNetNamespace() {
  char buf[128];
  const ssize_t n = readlink("/proc/self/ns/net", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace embark
