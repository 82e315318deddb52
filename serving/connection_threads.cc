#include "serving/connection_threads.h"

#include <pthread.h>

#include <glog/logging.h>

#include <chrono>
#include <memory>

namespace embark {

namespace {

thread_local bool t_over_capacity = false;

// Enough for httplib's buffers and a request handler (JSON nesting is capped at 16 levels);
// the default 8 MiB per thread would reserve 16 GiB for 2,000 idle connections.
constexpr size_t kStackBytes = size_t{1} << 20;

struct Task {
  std::function<void()> fn;
  std::function<void()> done;
};

void* RunTask(void* arg) {
  std::unique_ptr<Task> task(static_cast<Task*>(arg));
  task->fn();
  task->done();
  return nullptr;
}

}  // namespace

ConnectionThreads::ConnectionThreads(size_t max_connections)
    : max_connections_(max_connections), overflow_thread_([this] { OverflowLoop(); }) {}

ConnectionThreads::~ConnectionThreads() { shutdown(); }

bool ConnectionThreads::OverCapacity() { return t_over_capacity; }

size_t ConnectionThreads::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

void ConnectionThreads::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_ < max_connections_) {
      ++active_;
    } else {
      overflow_.push_back(std::move(fn));
      overflow_cv_.notify_one();
      return;
    }
  }
  auto* task = new Task{std::move(fn), [this] {
                          std::lock_guard<std::mutex> lock(mu_);
                          --active_;
                          done_cv_.notify_all();
                        }};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, RunTask, task);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    // Out of threads: serve this connection as an over-capacity one (503), never drop it
    // unanswered (its socket would leak).
    LOG(WARNING) << "serve: cannot start a connection thread (error " << rc << "); answering 503";
    std::lock_guard<std::mutex> lock(mu_);
    --active_;
    overflow_.push_back(std::move(task->fn));
    delete task;
    overflow_cv_.notify_one();
  }
}

void ConnectionThreads::OverflowLoop() {
  t_over_capacity = true;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    overflow_cv_.wait(lock, [this] { return stopping_ || !overflow_.empty(); });
    if (overflow_.empty()) return;  // stopping, and nothing left to answer
    std::function<void()> fn = std::move(overflow_.front());
    overflow_.pop_front();
    lock.unlock();
    fn();
    lock.lock();
  }
}

void ConnectionThreads::shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!overflow_thread_.joinable()) return;
  stopping_ = true;
  overflow_cv_.notify_all();
  // Connections end once httplib has closed the listening socket: an idle keep-alive wait
  // notices within its idle interval, a read within the read timeout.
  // The wait is bounded by those timeouts; it is reported if it lasts, never abandoned (the
  // threads still use this object).
  while (!done_cv_.wait_for(lock, std::chrono::seconds(10), [this] { return active_ == 0; }))
    LOG(WARNING) << "serve: still waiting for " << active_ << " connections to end";
  lock.unlock();
  overflow_thread_.join();
}

}  // namespace embark
