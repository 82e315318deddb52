#include "ps/row_eviction.h"

#include <algorithm>

namespace embark {

uint64_t EvictColdest(const std::vector<SparseTable*>& tables, uint64_t bytes_to_free) {
  if (bytes_to_free == 0) return 0;
  uint64_t max_age = 0;
  for (const SparseTable* t : tables)
    if (t != nullptr) t->ForEachAge([&](uint32_t age) { max_age = std::max<uint64_t>(max_age, age); });
  // bin(age) is monotone in age; with max_age < kAgeBins every age has its own bin.
  const uint64_t span = max_age + 1;
  auto bin = [span](uint32_t age) {
    return span <= kAgeBins ? static_cast<int>(age) : static_cast<int>(uint64_t{age} * kAgeBins / span);
  };
  uint64_t bytes[kAgeBins] = {};
  for (const SparseTable* t : tables) {
    if (t == nullptr) continue;
    const uint64_t row_bytes = t->RowBytes();
    t->ForEachAge([&](uint32_t age) { bytes[bin(age)] += row_bytes; });
  }
  // Oldest bins first: every bin above `boundary` goes whole; the boundary bin gives what is
  // still missing.
  int boundary = kAgeBins - 1;
  uint64_t above = 0;
  for (; boundary > 0 && above + bytes[boundary] < bytes_to_free; --boundary) above += bytes[boundary];
  uint64_t from_boundary = bytes_to_free > above ? bytes_to_free - above : 0;
  uint64_t evicted = 0;
  for (SparseTable* t : tables) {
    if (t == nullptr) continue;
    const uint64_t row_bytes = t->RowBytes();
    evicted += t->EvictWhere(
        [&](uint32_t age) {
          const int b = bin(age);
          if (b > boundary) return true;
          if (b < boundary || from_boundary == 0) return false;
          from_boundary -= std::min(from_boundary, row_bytes);
          return true;
        },
        SparseTable::EvictReason::kMemory);
  }
  return evicted;
}

}  // namespace embark
