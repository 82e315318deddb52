// ShmSlotLayout: where the arrays of one data request lie inside its shared-memory slot.
//
// A request that travels through shared memory (MsgHeader::shm_bytes != 0) owns one slot of
// the worker's segment. The worker writes the keys and, for a push, the values there; for a
// pull the server writes the result rows into the slot's output area. Each area starts on a
// 64-byte boundary (slot offsets are 64-byte aligned too, core/slot_ring.h):
//
//   keys    uint64[num_keys]                        always
//   values  float32[num_keys * val_len]             push and push-pull
//   out     float32[num_keys * val_len]             pull and push-pull (the pull-reply's rows)
//
// Both sides compute the layout from the header, so the server can check that the slot the
// worker named has exactly the size its header implies.
//
// Thread-safety: plain values and functions.
#pragma once

#include <cstdint>

#include "core/slot_ring.h"
#include "core/wire.h"

namespace embark {

struct ShmSlotLayout {
  uint64_t keys = 0;    // offsets inside the slot
  uint64_t values = 0;  // meaningful only if has_values
  uint64_t out = 0;     // meaningful only if has_out
  uint64_t bytes = 0;   // the whole slot
  bool has_values = false;
  bool has_out = false;
  bool valid = false;   // false for message types that carry no data arrays

  static ShmSlotLayout For(MsgType type, uint64_t num_keys, uint64_t val_len) {
    ShmSlotLayout l;
    const bool pull_only = type == MsgType::kPull || type == MsgType::kPullRows;
    const bool push_only = type == MsgType::kPush || type == MsgType::kPushDelta;
    if (!pull_only && !push_only && type != MsgType::kPushPull) return l;
    l.valid = true;
    l.has_values = !pull_only;
    l.has_out = !push_only;
    // Counts are bounded by ParseHeader (2^26 keys, 2^20 floats per key): 64 bits suffice.
    const uint64_t value_bytes = SlotRing::RoundUp(num_keys * val_len * 4);
    l.bytes = SlotRing::RoundUp(num_keys * 8);
    if (l.has_values) {
      l.values = l.bytes;
      l.bytes += value_bytes;
    }
    if (l.has_out) {
      l.out = l.bytes;
      l.bytes += value_bytes;
    }
    return l;
  }
};

}  // namespace embark
