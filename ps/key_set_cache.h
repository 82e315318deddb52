// KeySetCache: a server's memory of the row pointers of recently seen key sets.
//
// A worker usually sends the same key set twice in a row: it pulls the rows of a batch, then
// pushes their gradients. Each data request names its key set with an id (MsgHeader::aux, a
// hash of the keys); when the same (sender, table, id) comes again and the keys are byte-for-
// byte identical, the server reuses the row pointers it looked up the first time instead of
// probing the hash index again, and skips the key-ownership check it already passed.
//
// Correctness rests on row pointers being stable (SparseTable never moves rows). Anything that
// erases or moves rows must Clear() the cache first.
//
// Thread-safety: not thread-safe; owned by the server's receiving thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace embark {

class KeySetCache {
 public:
  struct Entry {
    int peer = -1;
    uint32_t table = 0;
    uint64_t id = 0;
    uint64_t last_use = 0;
    std::vector<uint64_t> keys;
    std::vector<float*> rows;                      // rows[i] is the row of keys[i]
    std::vector<std::vector<uint32_t>> positions;  // per sub-shard: key positions it owns
  };

  explicit KeySetCache(size_t capacity) : entries_(capacity) {}
  KeySetCache(const KeySetCache&) = delete;
  KeySetCache& operator=(const KeySetCache&) = delete;

  bool enabled() const { return !entries_.empty(); }

  // The cached entry for this key set, or null if absent or if its keys differ.
  Entry* Find(int peer, uint32_t table, uint64_t id, const uint64_t* keys, size_t n) {
    for (Entry& e : entries_) {
      if (e.id == id && e.peer == peer && e.table == table && e.keys.size() == n &&
          std::memcmp(e.keys.data(), keys, n * sizeof(uint64_t)) == 0) {
        e.last_use = ++clock_;
        return &e;
      }
    }
    return nullptr;
  }

  // Reuses the least recently used entry for this key set; the caller fills rows/positions.
  Entry* Insert(int peer, uint32_t table, uint64_t id, const uint64_t* keys, size_t n) {
    Entry* victim = &entries_[0];
    for (Entry& e : entries_)
      if (e.last_use < victim->last_use) victim = &e;
    victim->peer = peer;
    victim->table = table;
    victim->id = id;
    victim->last_use = ++clock_;
    victim->keys.assign(keys, keys + n);
    victim->rows.resize(n);
    return victim;
  }

  void Clear() {
    for (Entry& e : entries_) {
      e.peer = -1;
      e.keys.clear();
    }
  }

 private:
  std::vector<Entry> entries_;
  uint64_t clock_ = 0;
};

}  // namespace embark
