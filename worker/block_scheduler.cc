#include "worker/block_scheduler.h"

#include <chrono>
#include <string>

#include "core/hash.h"

namespace embark {

BlockScheduler::BlockScheduler(uint32_t grid, double wait_seconds)
    : grid_(grid < 1 ? 1 : grid), wait_seconds_(wait_seconds), row_busy_(grid_, 0), col_busy_(grid_, 0) {}

void BlockScheduler::StartRound(const std::vector<uint32_t>& blocks, uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = blocks;
  // Fisher-Yates with a counter-based generator: the same seed gives the same order anywhere.
  for (size_t i = pending_.size(); i > 1; --i) {
    const uint64_t r = Mix64(seed ^ Mix64(i));
    const size_t j = static_cast<size_t>((static_cast<unsigned __int128>(r) * i) >> 64);
    std::swap(pending_[i - 1], pending_[j]);
  }
  std::fill(row_busy_.begin(), row_busy_.end(), 0);
  std::fill(col_busy_.begin(), col_busy_.end(), 0);
  held_ = 0;
  aborted_ = false;
}

Status BlockScheduler::Take(uint32_t* block, bool* done) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds_);
  while (true) {
    if (aborted_ || pending_.empty()) {
      *done = true;
      return Status::OK();
    }
    // The first free block in the round's order. A block becomes free only when a held one is
    // done, and with nothing held every block is free, so this wait always ends.
    for (size_t k = 0; k < pending_.size(); ++k) {
      const uint32_t b = pending_[k];
      const uint32_t row = b / grid_, col = b % grid_;
      if (row_busy_[row] || col_busy_[col]) continue;
      pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(k));
      row_busy_[row] = col_busy_[col] = 1;
      ++held_;
      *block = b;
      *done = false;
      return Status::OK();
    }
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return Status::Timeout("block schedule: waited " + std::to_string(wait_seconds_) + " s for one of " +
                              std::to_string(held_) + " held blocks to be trained (" +
                              std::to_string(pending_.size()) + " blocks left in the round)");
    }
  }
}

void BlockScheduler::Done(uint32_t block) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    row_busy_[block / grid_] = 0;
    col_busy_[block % grid_] = 0;
    --held_;
  }
  freed_.notify_all();
}

void BlockScheduler::Abort() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborted_ = true;
  }
  freed_.notify_all();
}

}  // namespace embark
