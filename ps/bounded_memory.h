// BoundedMemoryOptions: what a server does to keep its sparse tables within bounds — feature
// admission, eviction by age (TTL) and eviction under a byte budget — and the parsers of the
// flags that set them (--min_count, --admit_probability, --ttl, --server_memory,
// --admission_sketch_kb).
//
// The policy, in one place (the mechanisms are in SparseTable, CountMinSketch and Server):
//  * Only pushes create rows. A pull of a key without a row returns the row's initial weights
//    (InitRowWeights: a pure function of seed, table and key) without storing them, i.e.
//    exactly what an unbounded server would return for a key never trained. So a non-admitted
//    feature contributes its init values (zeros for LR/FTRL and biases, small N(0, s^2) factors
//    for FM/MF embeddings), the same small noise every unbounded run already has for a
//    feature seen only at test time; and the row created at admission starts from exactly the
//    values the model already saw, so admission changes only which gradients are kept, never
//    the forward pass. (Serving zeros instead would make every admission a jump.)
//  * Admission: every push of a key without a row is counted in a count-min sketch (one per
//    table per sub-shard, fixed memory, counters saturate at 255). The push that brings the
//    count to min_count creates the row (from init) and is applied; the earlier ones are
//    dropped and counted as rejected. With admit_probability p > 0 the c-th push of a key
//    also admits it if Coin(seed, table, key, c) < p: each push admits with probability p,
//    and the push at which a key is admitted is a function of the key alone (not of timing,
//    worker or server count), so reruns and re-sharded resumes agree. p alone keeps
//    min_count at the counters' ceiling (255).
//  * Step: a server's clock for one table is the number of push requests it has applied to
//    that table. Every worker pushes each table once per batch (more often only when a push is
//    split by --max_message_kb), so W workers advance it by about W per batch round; it needs
//    no messages, and it stands still while nobody trains (evaluation, checkpoints).
//  * TTL: a row stores the step of its last push (pulls do not count: evaluation must not keep
//    rows alive). "N" or "Nsteps": a row not pushed for more than N steps is evicted by a sweep
//    that runs every max(1, N/4) steps of its table, so it lives N to 1.25 N steps after its
//    last push. "Nepochs": at the end of epoch E (the scheduler tells the servers) the rows not
//    pushed during epochs E-N+1..E are evicted.
//  * Budget: held bytes of a sub-shard = its rows x (weights + optimizer state + 4-byte step
//    stamp) + its index slots; the budget is --server_memory minus the fixed bytes (dense
//    blocks and sketches), split evenly over the sub-shards. After a push request leaves a
//    sub-shard over its share, the least recently pushed rows (largest age in their table's
//    steps, across the sub-shard's tables) are evicted until it is at 90 % of its share. A
//    sweep visits every row twice but frees 10 % of the budget, so the cost is O(1) amortised
//    per created row, and never a scan per push.
//  * An evicted row is gone: a later pull returns its init row, a later push goes through
//    admission again (its earlier pushes are still in the sketch, so in practice it is
//    re-admitted at once) and starts from init. Checkpoints hold the rows present, not the
//    sketches (after a resume, counting starts again); dense tables are never evicted.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace embark {

struct BoundedMemoryOptions {
  uint32_t min_count = 1;          // pushes of a key before it gets a row (1 = at once)
  double admit_probability = 0;    // 0 = off; else each push admits with this probability
  uint64_t ttl_steps = 0;          // 0 = off
  uint32_t ttl_epochs = 0;         // 0 = off
  uint64_t budget_bytes = 0;       // --server_memory; 0 = unbounded
  uint64_t sketch_bytes = 4 << 20; // admission counters per sparse table per server

  bool admission() const { return min_count > 1 || admit_probability > 0; }
  bool enabled() const { return admission() || ttl_steps > 0 || ttl_epochs > 0 || budget_bytes > 0; }
};

// "123", "64K", "512M", "2G", "1T" (binary multiples, optional trailing "B"/"iB") into bytes.
Status ParseByteSize(const std::string& text, uint64_t* bytes);

// "N" or "Nsteps" (also "1step") into *steps, "Nepochs" ("1epoch") into *epochs; N >= 1. The
// other output is set to 0.
Status ParseTtl(const std::string& text, uint64_t* steps, uint32_t* epochs);

}  // namespace embark
