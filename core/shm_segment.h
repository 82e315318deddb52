// ShmSegment: one POSIX shared-memory object (a file in /dev/shm) mapped into this process.
//
// A worker creates one segment per server on its host (named after the worker's pid, so two
// jobs never collide) and offers it to that server; the server opens the same name and maps
// it. Once both have it mapped, the worker unlinks the name: the memory lives on while the
// mappings do and disappears when both processes are gone, however they end. A worker killed
// between creating and unlinking leaves a file behind; RemoveStaleShmSegments(), run by every
// worker before it creates its own, removes such files whose creator's pid is dead.
//
// The first 4 KiB hold a small header (magic, size, a random token that the offer carries):
// a server checks it before trusting the mapping, so a stale or foreign object with the same
// name is refused. The payload (the slot ring's region) starts after it, page-aligned.
//
// Space is reserved when the segment is created (posix_fallocate): on a tmpfs that is too
// small the creation fails cleanly and the worker uses TCP, instead of a SIGBUS on first touch.
//
// Thread-safety: immutable after Create/Open; the payload bytes are shared with another
// process and synchronised by the messages that name them (a slot is written before the
// message that names it is sent, and read after it is received).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace embark {

class ShmSegment {
 public:
  static constexpr uint64_t kHeaderBytes = 4096;

  // Creates and maps a new object `name` ("/embark-shm-..."), payload_bytes after the header.
  // Fails if the name exists or the space cannot be reserved.
  static Status Create(const std::string& name, uint64_t payload_bytes, uint64_t token,
                       std::unique_ptr<ShmSegment>* out);
  // Maps an existing object; checks its owner (this process's uid, writable by it alone), its
  // total size and the header's token.
  static Status Open(const std::string& name, uint64_t total_bytes, uint64_t token,
                     std::unique_ptr<ShmSegment>* out);

  ~ShmSegment();  // unmaps; the creator also unlinks the name if it is still linked
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // Removes the name; the mapping stays valid. Idempotent.
  void Unlink();

  uint8_t* payload() const { return base_ + kHeaderBytes; }
  uint64_t payload_bytes() const { return total_bytes_ - kHeaderBytes; }
  uint64_t total_bytes() const { return total_bytes_; }
  uint64_t token() const { return token_; }
  const std::string& name() const { return name_; }

 private:
  ShmSegment(std::string name, uint8_t* base, uint64_t total_bytes, uint64_t token, bool owner)
      : name_(std::move(name)), base_(base), total_bytes_(total_bytes), token_(token), linked_(owner) {}

  const std::string name_;
  uint8_t* const base_;
  const uint64_t total_bytes_;
  const uint64_t token_;
  bool linked_;  // the creator still has to unlink the name
};

// "/embark-shm-<creator pid>-<worker rank>-<server rank>": unique among live processes of a
// host, and the pid tells a later job whether the creator is still alive.
std::string ShmSegmentName(int creator_pid, int worker_rank, int server_rank);
// True if `name` has ShmSegmentName's form (what a server accepts in an offer).
bool IsShmSegmentName(const std::string& name);
// Removes /dev/shm/embark-shm-<pid>-* objects whose creator pid is no longer running; returns
// how many were removed. Objects of other users that cannot be removed are skipped.
int RemoveStaleShmSegments();
// This host's boot id (/proc/sys/kernel/random/boot_id), empty if unreadable. Two processes
// share memory only if they report the same host name and the same boot id.
std::string ReadBootId();
// This process's network namespace: the target of /proc/self/ns/net ("net:[4026531840]"),
// unique among the namespaces alive on a boot; empty if unreadable. Ranks in different network
// namespaces never share memory, even on one kernel (see SameHost in core/cluster.h).
std::string ReadNetNamespace();

}  // namespace embark
