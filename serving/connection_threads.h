// ConnectionThreads: the task queue `embark serve` gives cpp-httplib -- one small thread per
// connection, up to a cap, instead of a fixed pool.
//
// cpp-httplib hands each accepted connection to its task queue and the task keeps that thread
// until the connection closes: with a fixed pool of N threads, N slow or idle clients (a header
// byte every few seconds, keep-alive connections left open) take every thread and /health
// stops answering. Here a connection waiting on its client holds only its own thread (1 MiB of
// stack reserved, a few pages used); the work of a request (scoring, top-K, reload) is bounded
// separately by ComputeSlots (serving/compute_slots.h), so --threads still bounds how much runs
// at once.
//
// Above max_connections, connections are not refused silently: they go to one overflow thread,
// on which OverCapacity() is true, so serve answers their request with 503 naming the cap and
// closes them. That thread serves them one after another; the read timeout bounds how long a
// slow one can delay the next.
//
// Thread-safety: enqueue is called by httplib's accept thread, shutdown by whoever stops the
// server; both are safe together with the connection threads finishing.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <httplib.h>

namespace embark {

class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max_connections);
  ~ConnectionThreads() override;

  void enqueue(std::function<void()> fn) override;
  // Waits until every connection thread and the overflow thread have finished (httplib calls
  // it after closing the listening socket, which makes connections end).
  void shutdown() override;

  // Connections being served on their own thread now.
  size_t active() const;
  // True on the overflow thread: the connection it serves is beyond the cap.
  static bool OverCapacity();

 private:
  void OverflowLoop();

  const size_t max_connections_;
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  size_t active_ = 0;                            // guarded by mu_
  std::deque<std::function<void()>> overflow_;   // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  std::condition_variable overflow_cv_;
  std::thread overflow_thread_;
};

}  // namespace embark
