// Tests of core/slot_ring.h: aligned slots in allocation order, wrap-around to the start of the
// region, a full ring refusing (the caller's cue to fall back to frames) until the oldest slot
// is released, out-of-order releases, and a randomized check that live slots never overlap.
#include "core/slot_ring.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

uint64_t MustReserve(SlotRing& ring, uint64_t bytes) {
  uint64_t at = 12345;
  EXPECT_TRUE(ring.Reserve(bytes, &at)) << bytes << " bytes";
  return at;
}

TEST(SlotRingTest, SlotsAreAlignedAndConsecutive) {
  SlotRing ring(1000);  // rounded down to 960
  EXPECT_EQ(ring.capacity(), 960u);
  EXPECT_EQ(MustReserve(ring, 1), 0u);     // 1 byte takes a whole 64-byte line
  EXPECT_EQ(MustReserve(ring, 64), 64u);
  EXPECT_EQ(MustReserve(ring, 65), 128u);  // 65 -> 128
  EXPECT_EQ(MustReserve(ring, 0), 256u);   // an empty payload still gets its own offset
  EXPECT_EQ(MustReserve(ring, 100), 320u);
  EXPECT_EQ(ring.slots_in_use(), 5u);
}

TEST(SlotRingTest, FullRingRefusesUntilTheOldestSlotIsReleased) {
  SlotRing ring(960);
  EXPECT_EQ(MustReserve(ring, 320), 0u);
  EXPECT_EQ(MustReserve(ring, 320), 320u);
  EXPECT_EQ(MustReserve(ring, 320), 640u);
  uint64_t at = 7;
  EXPECT_FALSE(ring.Reserve(64, &at));
  EXPECT_EQ(at, 7u);  // untouched on failure
  // Releasing a slot that is not the oldest frees nothing yet: reuse stays in order.
  EXPECT_TRUE(ring.Release(320));
  EXPECT_FALSE(ring.Reserve(64, &at));
  EXPECT_EQ(ring.slots_in_use(), 2u);
  // Releasing the oldest frees it and the released one behind it: [0, 640) is room again.
  EXPECT_TRUE(ring.Release(0));
  EXPECT_EQ(MustReserve(ring, 640), 0u);
  EXPECT_FALSE(ring.Reserve(64, &at));
}

TEST(SlotRingTest, WrapsToTheStartWhenTheEndHasNoRoom) {
  SlotRing ring(960);
  MustReserve(ring, 320);                  // [0, 320)
  MustReserve(ring, 320);                  // [320, 640)
  MustReserve(ring, 256);                  // [640, 896); 64 bytes left at the end
  EXPECT_TRUE(ring.Release(0));            // room at the start: [0, 320)
  EXPECT_EQ(MustReserve(ring, 128), 0u);   // does not fit the 64-byte tail: wraps to 0
  EXPECT_EQ(MustReserve(ring, 192), 128u); // wrapped: room is [128, 320)
  uint64_t at;
  EXPECT_FALSE(ring.Reserve(64, &at));     // [320, ...) is still held
  // The oldest two go; the wrapped slots [0, 320) are now the oldest, room is [320, 960)
  // minus nothing: the skipped 64-byte tail is usable again.
  EXPECT_TRUE(ring.Release(320));
  EXPECT_TRUE(ring.Release(640));
  EXPECT_EQ(MustReserve(ring, 640), 320u);
  EXPECT_FALSE(ring.Reserve(64, &at));
}

TEST(SlotRingTest, PayloadLargerThanTheRingIsRefused) {
  SlotRing ring(4096);
  uint64_t at;
  EXPECT_FALSE(ring.Reserve(4097, &at));
  EXPECT_FALSE(ring.Reserve(~uint64_t{0}, &at));  // rounding up must not wrap around to 0
  EXPECT_EQ(MustReserve(ring, 4096), 0u);
  SlotRing tiny(63);  // rounds down to nothing
  EXPECT_FALSE(tiny.Reserve(1, &at));
}

TEST(SlotRingTest, ReleaseOfUnknownOrReleasedSlotIsRefused) {
  SlotRing ring(960);
  const uint64_t a = MustReserve(ring, 64);
  const uint64_t b = MustReserve(ring, 64);
  EXPECT_FALSE(ring.Release(a + 1));
  EXPECT_FALSE(ring.Release(640));
  EXPECT_TRUE(ring.Release(b));
  EXPECT_FALSE(ring.Release(b));  // already released (still queued behind a)
  EXPECT_TRUE(ring.Release(a));
  EXPECT_FALSE(ring.Release(a));
  EXPECT_EQ(ring.slots_in_use(), 0u);
  EXPECT_EQ(MustReserve(ring, 960), 0u);  // an empty ring starts over at 0
}

TEST(SlotRingTest, RandomizedLiveSlotsNeverOverlap) {
  SlotRing ring(64 * 100);
  std::mt19937 rng(5);
  struct Live { uint64_t at, bytes; };
  std::vector<Live> live;
  int refused = 0, granted = 0;
  for (int op = 0; op < 20000; ++op) {
    if (live.empty() || rng() % 2 == 0) {
      const uint64_t bytes = 1 + rng() % (64 * 30);
      uint64_t at;
      if (!ring.Reserve(bytes, &at)) {
        ++refused;
        continue;
      }
      ++granted;
      ASSERT_EQ(at % 64, 0u);
      ASSERT_LE(at + bytes, ring.capacity());
      for (const Live& l : live) ASSERT_TRUE(at + bytes <= l.at || l.at + l.bytes <= at) << "overlap at op " << op;
      live.push_back({at, bytes});
    } else {
      const size_t i = rng() % live.size();  // release in any order
      ASSERT_TRUE(ring.Release(live[i].at));
      live.erase(live.begin() + i);
    }
    ASSERT_EQ(ring.slots_in_use(), live.size());
  }
  EXPECT_GT(granted, 5000);
  EXPECT_GT(refused, 100);  // the ring really ran full
}

}  // namespace
}  // namespace embark
