// AppChannel: what a job running on a worker may ask of the scheduler — barriers among
// workers and application messages both ways.
//
// In a cluster the ControlPlane implements it over ZeroMQ; a single-process run implements it
// by calling the scheduler-side app directly (runtime/local_runner.h), so the same job code
// runs in both.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace embark {

// Barrier groups: which ranks take part.
enum class BarrierGroup : uint32_t { kWorkers = 0, kServers = 1, kAll = 2 };

class AppChannel {
 public:
  virtual ~AppChannel() = default;
  // Blocks until every rank of `group` reached its next barrier.
  virtual Status Barrier(BarrierGroup group, double timeout_s) = 0;
  // Application messages to and from the scheduler (subtype = MsgHeader::aux).
  virtual Status SendToScheduler(uint64_t subtype, const std::string& payload) = 0;
  // Waits for the next application message of `subtype` from the scheduler.
  virtual Status WaitApp(uint64_t subtype, std::string* payload, double timeout_s) = 0;
};

}  // namespace embark
