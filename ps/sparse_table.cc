#include "ps/sparse_table.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <glog/logging.h>

#include "ps/row_init.h"

namespace embark {
namespace {

constexpr size_t kInitialCapacity = 16;
// Load factor 5/8: probe runs stay short (expected ~1.8 probes for a hit at the limit) while
// the index costs 16 / (5/8 .. 5/16) = 26 .. 51 bytes per row.
constexpr size_t kLoadNum = 5, kLoadDen = 8;
constexpr size_t kChunkBytes = size_t{4} << 20;
constexpr size_t kMaxRowsPerChunk = size_t{1} << 16;
// Keys resolved (and their rows prefetched) before the group is consumed. 64 rows of up to
// 256 prefetched bytes stay within L1.
constexpr size_t kGroup = 64;
// How far ahead of the key being resolved its slot is prefetched.
constexpr size_t kSlotAhead = 16;
constexpr size_t kCacheLine = 64;
constexpr size_t kMaxRowPrefetchBytes = 4 * kCacheLine;

// Large arrays (the index once it outgrows a few MiB, and every row chunk after the first) are
// 2 MiB aligned and advised as transparent huge pages: lookups are random over arrays of
// hundreds of MiB, and with 4 KiB pages nearly every lookup would also miss the TLB. The first
// row chunk keeps small pages so that a small table does not pin a whole huge page.
constexpr size_t kHugePage = size_t{2} << 20;

void* AllocateArray(size_t bytes, bool huge_pages) {
  void* p = nullptr;
  if (huge_pages && bytes >= kHugePage) {
    bytes = (bytes + kHugePage - 1) & ~(kHugePage - 1);
    p = std::aligned_alloc(kHugePage, bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p != nullptr) madvise(p, bytes, MADV_HUGEPAGE);  // advisory: failure is harmless
#endif
  } else {
    // Cache-line aligned, so rows whose size is a multiple of 64 bytes never straddle lines.
    bytes = (bytes + kCacheLine - 1) & ~(kCacheLine - 1);
    p = std::aligned_alloc(kCacheLine, bytes);
  }
  CHECK(p != nullptr) << "SparseTable: out of memory allocating " << bytes << " bytes";
  return p;
}

int Log2Floor(size_t x) {
  int r = 0;
  while (x > 1) {
    x >>= 1;
    ++r;
  }
  return r;
}

}  // namespace

SparseTable::SparseTable(const TableConfig& cfg, uint64_t seed, const BoundedMemoryOptions* bounded,
                         int sub_shards)
    : table_id_(cfg.id),
      seed_(seed),
      init_(cfg.init),
      optimizer_(Optimizer::Create(cfg.optimizer)),
      dim_(cfg.dim),
      row_floats_(cfg.dim + static_cast<size_t>(optimizer_->StateFloats(static_cast<int>(cfg.dim)))),
      bounded_(bounded != nullptr && bounded->enabled()),
      // The stamp float also makes every row at least 8 bytes, room for the free-list link.
      stride_(row_floats_ + (bounded_ ? 1 : 0)) {
  CHECK_GT(dim_, 0u) << "table '" << cfg.name << "' (id " << cfg.id << ") has dim 0";
  if (bounded_) {
    scratch_row_.assign(row_floats_, 0.0f);
    if (bounded->admission()) {
      min_count_ = bounded->min_count;
      admit_probability_ = bounded->admit_probability;
      const size_t width = bounded->sketch_bytes / static_cast<size_t>(std::max(1, sub_shards)) / CountMinSketch::kDepth;
      sketch_ = std::make_unique<CountMinSketch>(width, Mix64(seed ^ (uint64_t{cfg.id} << 32) ^ 0xbb67ae8584caa73bULL));
    }
  }
  const size_t row_bytes = stride_ * sizeof(float);
  const size_t rows_per_chunk = std::min(kMaxRowsPerChunk, std::max<size_t>(1, kChunkBytes / row_bytes));
  chunk_shift_ = Log2Floor(rows_per_chunk);
  Rehash(kInitialCapacity);
}

SparseTable::~SparseTable() = default;

void SparseTable::FreeDeleter::operator()(void* p) const { std::free(p); }

float* SparseTable::AllocateRow() {
  if (free_rows_ != nullptr) {
    float* row = free_rows_;
    std::memcpy(&free_rows_, row, sizeof(float*));
    return row;
  }
  const size_t chunk = allocated_ >> chunk_shift_;
  if (chunk == chunks_.size()) {
    // Not initialised: pages are only committed when rows are written, so the unused tail of
    // the newest chunk costs address space (up to one huge page of memory) only.
    const size_t bytes = (size_t{1} << chunk_shift_) * stride_ * sizeof(float);
    chunks_.emplace_back(static_cast<float*>(AllocateArray(bytes, /*huge_pages=*/chunk > 0)));
  }
  const size_t within = allocated_ & ((size_t{1} << chunk_shift_) - 1);
  ++allocated_;
  return chunks_[chunk].get() + within * stride_;
}

std::vector<std::pair<uintptr_t, size_t>> SparseTable::ChunksByAddress() const {
  std::vector<std::pair<uintptr_t, size_t>> out;
  for (size_t c = 0; c < chunks_.size(); ++c) out.emplace_back(reinterpret_cast<uintptr_t>(chunks_[c].get()), c);
  std::sort(out.begin(), out.end());
  return out;
}

size_t SparseTable::FindEmptySlot(uint64_t key) const {
  size_t i = HomeSlot(key);
  while (slots_[i].row != nullptr) i = (i + 1) & mask_;
  return i;
}

float* SparseTable::InsertRaw(uint64_t key, size_t empty_slot) {
  if (size_ + 1 > grow_at_) {
    Rehash(capacity_ * 2);
    empty_slot = FindEmptySlot(key);
  }
  float* row = AllocateRow();
  slots_[empty_slot].key = key;
  slots_[empty_slot].row = row;
  ++size_;
  if (bounded_) SetStamp(row);
  return row;
}

float* SparseTable::CreateRow(uint64_t key, size_t empty_slot, const float* weights) {
  float* row = InsertRaw(key, empty_slot);
  const int dim = static_cast<int>(dim_);
  if (weights == nullptr) {
    InitRowWeights(seed_, table_id_, key, init_, dim, row);
  } else {
    std::memcpy(row, weights, dim_ * sizeof(float));
  }
  optimizer_->InitState(row, dim);
  return row;
}

void SparseTable::Rehash(size_t new_capacity) {
  std::unique_ptr<Slot[], FreeDeleter> old = std::move(slots_);
  const size_t old_capacity = capacity_;
  slots_.reset(static_cast<Slot*>(AllocateArray(new_capacity * sizeof(Slot), true)));
  std::fill(slots_.get(), slots_.get() + new_capacity, Slot{0, nullptr});
  capacity_ = new_capacity;
  mask_ = new_capacity - 1;
  shift_ = 64 - Log2Floor(new_capacity);
  grow_at_ = new_capacity / kLoadDen * kLoadNum;
  for (size_t i = 0; i < old_capacity; ++i) {
    if (old[i].row != nullptr) slots_[FindEmptySlot(old[i].key)] = old[i];
  }
}

void SparseTable::ShrinkIndex() {
  size_t capacity = capacity_;
  while (capacity > kInitialCapacity && size_ <= capacity / 2 / kLoadDen * kLoadNum / 2) capacity /= 2;
  if (capacity != capacity_) Rehash(capacity);
}

void SparseTable::Reserve(size_t rows) {
  size_t capacity = capacity_;
  while (capacity / kLoadDen * kLoadNum < rows) capacity *= 2;
  if (capacity != capacity_) Rehash(capacity);
}

inline void SparseTable::PrefetchSlot(uint64_t key) const {
  __builtin_prefetch(&slots_[HomeSlot(key)], 0, 3);
}

template <class F>
void SparseTable::ForRowGroups(const uint64_t* keys, size_t n, size_t prefetch_bytes,
                               F on_group) {
  float* rows[kGroup];
  prefetch_bytes = std::min(prefetch_bytes, kMaxRowPrefetchBytes);
  for (size_t i = 0; i < std::min(n, kSlotAhead); ++i) PrefetchSlot(keys[i]);
  for (size_t first = 0; first < n; first += kGroup) {
    const size_t count = std::min(kGroup, n - first);
    for (size_t k = 0; k < count; ++k) {
      const size_t i = first + k;
      if (i + kSlotAhead < n) PrefetchSlot(keys[i + kSlotAhead]);
      float* row = FindOrCreate(keys[i]);
      const char* bytes = reinterpret_cast<const char*>(row);
      for (size_t off = 0; off < prefetch_bytes; off += kCacheLine) {
        __builtin_prefetch(bytes + off, 1, 3);
      }
      rows[k] = row;
    }
    on_group(static_cast<float* const*>(rows), first, count);
  }
}

void SparseTable::Pull(const uint64_t* keys, size_t n, float* out) {
  const size_t dim = dim_;
  ForRowGroups(keys, n, dim * sizeof(float),
               [&](float* const* rows, size_t first, size_t count) {
                 float* dst = out + first * dim;
                 for (size_t k = 0; k < count; ++k, dst += dim) {
                   std::memcpy(dst, rows[k], dim * sizeof(float));
                 }
               });
}

void SparseTable::FindOrCreateRows(const uint64_t* keys, size_t n, float** rows) {
  ForRowGroups(keys, n, 0, [&](float* const* group, size_t first, size_t count) {
    std::memcpy(rows + first, group, count * sizeof(float*));
  });
}

void SparseTable::Push(const uint64_t* keys, size_t n, const float* grads) {
  const size_t dim = dim_;
  const Optimizer& opt = *optimizer_;
  ForRowGroups(keys, n, row_floats_ * sizeof(float),
               [&](float* const* rows, size_t first, size_t count) {
                 opt.ApplyBatch(rows, grads + first * dim, count, static_cast<int>(dim));
               });
}

void SparseTable::Assign(const uint64_t* keys, size_t n, const float* weights) {
  const int dim = static_cast<int>(dim_);
  for (size_t i = 0; i < n; ++i) {
    const float* w = weights + i * dim_;
    size_t s = HomeSlot(keys[i]);
    while (slots_[s].row != nullptr && slots_[s].key != keys[i]) s = (s + 1) & mask_;
    if (slots_[s].row == nullptr) {
      CreateRow(keys[i], s, w);
    } else {
      float* row = slots_[s].row;
      std::memcpy(row, w, dim_ * sizeof(float));
      optimizer_->SyncState(row, dim);
    }
  }
}

void SparseTable::AssignRows(const uint64_t* keys, size_t n, const float* rows) {
  for (size_t i = 0; i < n; ++i) {
    size_t s = HomeSlot(keys[i]);
    while (slots_[s].row != nullptr && slots_[s].key != keys[i]) s = (s + 1) & mask_;
    float* row = slots_[s].row != nullptr ? slots_[s].row : InsertRaw(keys[i], s);
    std::memcpy(row, rows + i * row_floats_, row_floats_ * sizeof(float));
  }
}

void SparseTable::PullOrInit(const uint64_t* keys, size_t n, float* out) const {
  const int dim = static_cast<int>(dim_);
  for (size_t i = 0; i < std::min(n, kSlotAhead); ++i) PrefetchSlot(keys[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kSlotAhead < n) PrefetchSlot(keys[i + kSlotAhead]);
    float* dst = out + i * dim_;
    const float* row = Find(keys[i]);
    if (row != nullptr) {
      std::memcpy(dst, row, dim_ * sizeof(float));
    } else {
      InitRowWeights(seed_, table_id_, keys[i], init_, dim, dst);
    }
  }
}

bool SparseTable::Admit(uint64_t key) {
  if (!sketch_) return true;
  const uint32_t count = sketch_->Add(key);
  if (count >= min_count_) return true;
  if (admit_probability_ <= 0) return false;
  // The coin of the count-th push of this key: a function of (seed, table, key, count) only.
  const uint64_t h = HashCombine(HashCombine(seed_ ^ 0xa54ff53a5f1d36f1ULL, table_id_), HashCombine(key, count));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0) < admit_probability_;
}

void SparseTable::PushOrAdmit(const uint64_t* keys, size_t n, const float* grads) {
  const size_t dim = dim_;
  const Optimizer& opt = *optimizer_;
  float* rows[kGroup];
  for (size_t i = 0; i < std::min(n, kSlotAhead); ++i) PrefetchSlot(keys[i]);
  for (size_t first = 0; first < n; first += kGroup) {
    const size_t count = std::min(kGroup, n - first);
    bool rejected = false;
    for (size_t k = 0; k < count; ++k) {
      const size_t i = first + k;
      if (i + kSlotAhead < n) PrefetchSlot(keys[i + kSlotAhead]);
      size_t s = HomeSlot(keys[i]);
      while (slots_[s].row != nullptr && slots_[s].key != keys[i]) s = (s + 1) & mask_;
      float* row = slots_[s].row;
      if (row != nullptr) {
        SetStamp(row);
      } else if (Admit(keys[i])) {
        row = CreateRow(keys[i], s, nullptr);
        ++counters_.admitted;
      } else {
        // The gradient goes to a scratch row, so the group stays one ApplyBatch call.
        row = scratch_row_.data();
        rejected = true;
        ++counters_.rejected_pushes;
      }
      rows[k] = row;
    }
    opt.ApplyBatch(rows, grads + first * dim, count, static_cast<int>(dim));
    if (rejected) std::fill(scratch_row_.begin(), scratch_row_.end(), 0.0f);  // keep it finite
  }
}

void SparseTable::EraseSlot(size_t i) {
  float* row = slots_[i].row;
  std::memcpy(row, &free_rows_, sizeof(float*));
  free_rows_ = row;
  // Backward shift: later rows of the probe run move into the hole when their home slot does
  // not lie after the hole (cyclically), so every remaining key stays reachable from its home.
  size_t hole = i;
  for (size_t j = (i + 1) & mask_; slots_[j].row != nullptr; j = (j + 1) & mask_) {
    const size_t home = HomeSlot(slots_[j].key);
    if (((j - home) & mask_) >= ((j - hole) & mask_)) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole].row = nullptr;
  --size_;
}

size_t SparseTable::BytesPerRow() const {
  const size_t row_bytes = stride_ * sizeof(float);
  if (size_ == 0) return row_bytes + sizeof(Slot) * kLoadDen / kLoadNum;
  return row_bytes + (capacity_ * sizeof(Slot) + size_ / 2) / size_;
}

size_t SparseTable::MemoryBytes() const {
  return chunks_.size() * (size_t{1} << chunk_shift_) * stride_ * sizeof(float) +
         capacity_ * sizeof(Slot) + chunks_.capacity() * sizeof(chunks_[0]);
}

}  // namespace embark
