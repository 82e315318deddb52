// Fuzz target: core/slot_ring.h driven by a sequence of operations, checking its promises:
// every reserved slot is aligned, inside the region, at least as large as asked, and never
// overlaps another slot still held; Release of a held slot succeeds once; a ring with no
// slots held has room for any payload up to its capacity.
//
// Input: a 2-byte capacity, then operations of 3 bytes: byte 0 even = reserve (bytes 1-2 the
// size, scaled), odd = release the held slot number (byte 1 mod held).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/slot_ring.h"
#include "fuzz/fuzz_input.h"

using namespace embark;
using embark::fuzz::FuzzInput;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  SlotRing ring(uint64_t{in.U16()} * 8);
  struct Held {
    uint64_t offset, bytes;
  };
  std::vector<Held> held;
  while (in.remaining() > 0) {
    const uint8_t op = in.Byte();
    if (op % 2 == 0) {
      const uint64_t want = uint64_t{in.U16()} * (op % 8 == 0 ? 64 : 1);
      uint64_t at = ~uint64_t{0};
      if (!ring.Reserve(want, &at)) {
        FUZZ_CHECK(at == ~uint64_t{0}, "a refused Reserve changed *offset");
        FUZZ_CHECK(!held.empty() || SlotRing::RoundUp(std::max<uint64_t>(want, 1)) > ring.capacity(),
                   "an empty ring refused a payload that fits");
        continue;
      }
      const uint64_t bytes = SlotRing::RoundUp(std::max<uint64_t>(want, 1));
      FUZZ_CHECK(at % SlotRing::kAlign == 0, "slot not aligned");
      FUZZ_CHECK(at + bytes <= ring.capacity(), "slot outside the region");
      for (const Held& h : held)
        FUZZ_CHECK(at + bytes <= h.offset || h.offset + h.bytes <= at, "two held slots overlap");
      held.push_back({at, bytes});
    } else {
      if (held.empty()) {
        FUZZ_CHECK(!ring.Release(in.U16()), "Release of a slot nobody holds succeeded");
        continue;
      }
      const size_t i = in.Byte() % held.size();
      in.Byte();
      FUZZ_CHECK(ring.Release(held[i].offset), "Release of a held slot failed");
      FUZZ_CHECK(!ring.Release(held[i].offset), "a slot was released twice");
      held.erase(held.begin() + static_cast<long>(i));
    }
    FUZZ_CHECK(ring.slots_in_use() == held.size(), "slots_in_use disagrees with the slots held");
  }
  return 0;
}
