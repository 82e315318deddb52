// Hash functions shared by every module: key -> virtual shard, feature id -> key, and the
// deterministic per-row initialisation. All are pure functions of their inputs, so any process
// (worker, server, a later resize or restore) computes the same value for the same key.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace embark {

// splitmix64 finaliser: a bijection on 64-bit integers with good avalanche. Used to spread
// sequential keys (ids 0,1,2,...) evenly before they are mapped to shards or slots.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Combines two 64-bit values into one hash (order matters).
inline uint64_t HashCombine(uint64_t a, uint64_t b) { return Mix64(a ^ Mix64(b)); }

// FNV-1a over bytes, then mixed: hashes raw string ids (user names, hex categoricals).
inline uint64_t HashBytes(std::string_view s, uint64_t seed = 0) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

}  // namespace embark
