// BlockScheduler: hands the blocks of a G x G grid (user block x item block) to compute threads
// so that no two threads ever hold blocks in the same grid row or the same grid column.
//
// This is the conflict-free schedule of stratified SGD for matrix factorisation (DSGD, Gemulla
// et al., KDD 2011; LIBMF's free-block scheduling): a rating in block (u, i) updates one user row
// of user block u and one item row of item block i, so blocks that share neither index touch
// disjoint rows, and lock-free threads on them give exactly the result of some serial SGD order.
//
// A round is a list of blocks, each handed out once. Take() returns a free block (its row and
// column held by no one), chosen in an order drawn from the round's seed, waits when every
// remaining block conflicts with a held one, and reports the end of the round. With one thread
// the order is a function of the seed alone.
//
// Thread-safety: StartRound from one thread while no Take/Done runs; Take, Done and Abort from
// any number of threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/status.h"

namespace embark {

class BlockScheduler {
 public:
  // `grid`: blocks per side (G); `wait_seconds`: the longest Take waits for a held block to be
  // done before it returns an error (a thread that stopped without calling Done).
  explicit BlockScheduler(uint32_t grid, double wait_seconds = 60);

  uint32_t grid() const { return grid_; }

  // Starts a round over `blocks` (block = user_block * grid + item_block, each < grid^2, no
  // repeats), handed out in an order drawn from `seed`.
  void StartRound(const std::vector<uint32_t>& blocks, uint64_t seed);
  // A free block of the round into *block, or *done = true when every block was handed out.
  Status Take(uint32_t* block, bool* done);
  // The block taken by this thread is trained: its row and column are free again.
  void Done(uint32_t block);
  // Ends the round early (an error on one thread): every Take from now on reports done.
  void Abort();

 private:
  const uint32_t grid_;
  const double wait_seconds_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<uint32_t> pending_;          // not yet handed out, in the round's order
  std::vector<uint8_t> row_busy_, col_busy_;
  uint32_t held_ = 0;
  bool aborted_ = false;
};

}  // namespace embark
