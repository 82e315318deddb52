// EvictColdest: frees bytes in one sub-shard's sparse tables by evicting the rows pushed least
// recently, for the --server_memory budget (policy in ps/bounded_memory.h).
//
// A row's coldness is its age: steps of its own table since its last push. Ages of different
// tables are compared directly: every worker pushes every table it uses once per batch, so
// their clocks advance at about the same rate (a one-row table such as a bias is pushed every
// batch and is never the coldest). The rows are binned by age into a fixed histogram (exact
// per step while the oldest age is below kAgeBins), the oldest bins are evicted whole and the
// boundary bin up to the bytes still needed. Three passes over the rows, no allocation.
//
// Thread-safety: touches only the given tables; call from the thread that owns them.
#pragma once

#include <cstdint>
#include <vector>

#include "ps/sparse_table.h"

namespace embark {

constexpr int kAgeBins = 1024;

// Evicts the oldest rows of `tables` (bounded mode; nulls are skipped) until at least
// `bytes_to_free` bytes of rows are freed or no row is left. Returns the rows evicted; they
// are counted as memory evictions in each table's counters.
uint64_t EvictColdest(const std::vector<SparseTable*>& tables, uint64_t bytes_to_free);

}  // namespace embark
