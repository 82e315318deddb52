// ComputeSlots: how many requests of `embark serve` compute at once (--threads).
//
// Connections have a thread each (serving/connection_threads.h), so connection count no longer
// bounds the CPU work; a handler that scores or searches first takes one of N slots, waiting at
// most a bounded time (then the client gets 503: the server is saturated, try again). /health
// and /version take none, so a probe answers even while every slot is busy.
//
// Thread-safety: all members are safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace embark {

class ComputeSlots {
 public:
  explicit ComputeSlots(int slots) : free_(slots) {}

  // Holds a slot for its lifetime, if it got one (ok()).
  class Lease {
   public:
    Lease(ComputeSlots* slots, std::chrono::milliseconds wait) : slots_(slots) {
      std::unique_lock<std::mutex> lock(slots_->mu_);
      ok_ = slots_->cv_.wait_for(lock, wait, [this] { return slots_->free_ > 0; });
      if (ok_) --slots_->free_;
    }
    ~Lease() {
      if (!ok_) return;
      std::lock_guard<std::mutex> lock(slots_->mu_);
      ++slots_->free_;
      slots_->cv_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    bool ok() const { return ok_; }

   private:
    ComputeSlots* slots_;
    bool ok_ = false;
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;  // guarded by mu_
};

}  // namespace embark
