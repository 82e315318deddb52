// ForkJoinPool: runs one function on N fixed threads at once and waits for all of them.
//
// Part i always runs on the same thread (part 0 on the caller), so data owned by part i (a
// server sub-shard, a slice of a batch) is only ever touched by one thread and needs no lock.
//
// Thread-safety: Run() must be called from one thread at a time (the owner).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace embark {

class ForkJoinPool {
 public:
  explicit ForkJoinPool(int parts) : parts_(parts < 1 ? 1 : parts) {
    for (int i = 1; i < parts_; ++i) threads_.emplace_back([this, i] { Loop(i); });
  }
  ~ForkJoinPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  ForkJoinPool(const ForkJoinPool&) = delete;
  ForkJoinPool& operator=(const ForkJoinPool&) = delete;

  int parts() const { return parts_; }

  // Calls fn(i) for every part i in [0, parts()) concurrently; returns when all are done.
  void Run(const std::function<void(int)>& fn) {
    if (parts_ == 1) {
      fn(0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      pending_ = parts_ - 1;
      ++generation_;
    }
    start_cv_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void Loop(int part) {
    uint64_t seen = 0;
    while (true) {
      const std::function<void(int)>* fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        fn = fn_;
      }
      (*fn)(part);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }

  const int parts_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int)>* fn_ = nullptr;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace embark
