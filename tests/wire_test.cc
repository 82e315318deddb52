// Tests of core/wire.h: the 64-byte message header (its byte layout, ParseHeader's checks) and
// ValidateDataMessage's frame-size checks for data-plane requests and replies.
#include "core/wire.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

// Checks that `text` contains `part`, printing both on failure.
#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

// The header's raw bytes as they travel in frame 0.
std::string HeaderBytes(const MsgHeader& h) {
  return std::string(reinterpret_cast<const char*>(&h), sizeof(h));
}

template <class T>
T ReadAt(const std::string& bytes, size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

TEST(WireTest, HeaderHasTheDocumentedByteLayout) {
  MsgHeader h = MakeHeader(MsgType::kPushPull, 7, 0x1122334455667788ULL);
  h.table = 3;
  h.num_keys = 1000;
  h.val_len = 16;
  h.num_frames = 2;
  h.status = 9;
  h.aux = 0xa1b2c3d4e5f60718ULL;
  h.shm_offset = 0x0102030405060708ULL;
  h.shm_bytes = 0x1020304050607080ULL;
  const std::string b = HeaderBytes(h);
  ASSERT_EQ(b.size(), 64u);
  // Magic reads "EMBK" byte by byte: the little-endian spelling of kWireMagic.
  EXPECT_EQ(b.substr(0, 4), "EMBK");
  EXPECT_EQ(ReadAt<uint16_t>(b, 4), kWireVersion);
  EXPECT_EQ(ReadAt<uint16_t>(b, 6), 5);  // kPushPull
  EXPECT_EQ(ReadAt<uint32_t>(b, 8), 7u);
  EXPECT_EQ(ReadAt<uint32_t>(b, 12), 3u);
  EXPECT_EQ(ReadAt<uint64_t>(b, 16), 0x1122334455667788ULL);
  EXPECT_EQ(ReadAt<uint32_t>(b, 24), 1000u);
  EXPECT_EQ(ReadAt<uint32_t>(b, 28), 16u);
  EXPECT_EQ(ReadAt<uint32_t>(b, 32), 2u);
  EXPECT_EQ(ReadAt<uint32_t>(b, 36), 9u);
  EXPECT_EQ(ReadAt<uint64_t>(b, 40), 0xa1b2c3d4e5f60718ULL);
  EXPECT_EQ(ReadAt<uint64_t>(b, 48), 0x0102030405060708ULL);
  EXPECT_EQ(ReadAt<uint64_t>(b, 56), 0x1020304050607080ULL);
}

TEST(WireTest, HeaderRoundTripsThroughParseHeader) {
  MsgHeader h = MakeHeader(MsgType::kBarrier, 12, 77);
  h.table = 4;
  h.num_keys = kMaxKeysPerMessage;  // the bounds themselves are allowed
  h.val_len = kMaxValLen;
  h.num_frames = kMaxFrames;
  h.status = 1;
  h.aux = 123456789012345ULL;
  const std::string b = HeaderBytes(h);
  MsgHeader out;
  out.magic = 0;  // make sure every field is really written by ParseHeader
  Status st = ParseHeader(b.data(), b.size(), &out);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(out.magic, kWireMagic);
  EXPECT_EQ(out.version, kWireVersion);
  EXPECT_EQ(out.type, static_cast<uint16_t>(MsgType::kBarrier));
  EXPECT_EQ(out.sender, 12u);
  EXPECT_EQ(out.table, 4u);
  EXPECT_EQ(out.request_id, 77u);
  EXPECT_EQ(out.num_keys, kMaxKeysPerMessage);
  EXPECT_EQ(out.val_len, kMaxValLen);
  EXPECT_EQ(out.num_frames, kMaxFrames);
  EXPECT_EQ(out.status, 1u);
  EXPECT_EQ(out.aux, 123456789012345ULL);
}

TEST(WireTest, MakeHeaderFillsDefaults) {
  MsgHeader h = MakeHeader(MsgType::kPull, 3);
  EXPECT_EQ(h.magic, kWireMagic);
  EXPECT_EQ(h.version, kWireVersion);
  EXPECT_EQ(h.type, 1);
  EXPECT_EQ(h.sender, 3u);
  EXPECT_EQ(h.request_id, 0u);
  EXPECT_EQ(h.num_keys, 0u);
  EXPECT_EQ(h.num_frames, 0u);
  EXPECT_EQ(h.status, 0u);
}

TEST(WireTest, EveryTypeHasItsOwnNameAndParses) {
  const MsgType types[] = {MsgType::kPull, MsgType::kPullReply, MsgType::kPush,
                           MsgType::kPushAck, MsgType::kPushPull, MsgType::kError,
                           MsgType::kRegister, MsgType::kNodeTable, MsgType::kHeartbeat,
                           MsgType::kAbort, MsgType::kShutdown, MsgType::kDone,
                           MsgType::kBarrier, MsgType::kBarrierRelease, MsgType::kApp,
                           MsgType::kShmOffer, MsgType::kShmAccept};
  std::vector<std::string> names;
  for (MsgType t : types) {
    const std::string name = MsgTypeName(t);
    EXPECT_NE(name, "unknown") << static_cast<int>(t);
    for (const std::string& other : names) EXPECT_NE(name, other);
    names.push_back(name);
    const std::string b = HeaderBytes(MakeHeader(t, 1));
    MsgHeader out;
    EXPECT_TRUE(ParseHeader(b.data(), b.size(), &out).ok()) << name;
  }
  EXPECT_STREQ(MsgTypeName(static_cast<MsgType>(99)), "unknown");
}

TEST(WireTest, RejectsTruncatedHeader) {
  const std::string b = HeaderBytes(MakeHeader(MsgType::kPull, 1));
  MsgHeader out;
  Status st = ParseHeader(b.data(), 63, &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "63 bytes");
  EXPECT_CONTAINS(st.message(), "expected 64");
  // A version-1 peer's 48-byte header is refused by size before anything is misread.
  st = ParseHeader(b.data(), 48, &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "48 bytes");
  st = ParseHeader(b.data(), 0, &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "0 bytes");
}

TEST(WireTest, RejectsOversizedHeader) {
  std::string b = HeaderBytes(MakeHeader(MsgType::kPull, 1));
  b.push_back('\0');
  MsgHeader out;
  Status st = ParseHeader(b.data(), b.size(), &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "65 bytes");
  EXPECT_CONTAINS(st.message(), "expected 64");
}

TEST(WireTest, RejectsBadMagic) {
  MsgHeader h = MakeHeader(MsgType::kPull, 1);
  h.magic = 0x54544548;  // "HETT": e.g. an HTTP client that found the port
  const std::string b = HeaderBytes(h);
  MsgHeader out;
  Status st = ParseHeader(b.data(), b.size(), &out);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_CONTAINS(st.message(), "magic");
}

TEST(WireTest, OtherVersionNamesBothVersions) {
  MsgHeader h = MakeHeader(MsgType::kPull, 1);
  h.version = kWireVersion + 41;
  const std::string b = HeaderBytes(h);
  MsgHeader out;
  Status st = ParseHeader(b.data(), b.size(), &out);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "version " + std::to_string(kWireVersion + 41));
  EXPECT_CONTAINS(st.message(), "version " + std::to_string(kWireVersion));
}

TEST(WireTest, RejectsUnknownType) {
  for (uint16_t type : {0, 9, 19, 28, 39, 41, 65535}) {
    MsgHeader h = MakeHeader(MsgType::kPull, 1);
    h.type = type;
    const std::string b = HeaderBytes(h);
    MsgHeader out;
    Status st = ParseHeader(b.data(), b.size(), &out);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << type;
    EXPECT_CONTAINS(st.message(), "unknown message type " + std::to_string(type));
  }
}

TEST(WireTest, RejectsAbsurdCounts) {
  MsgHeader out;
  {
    MsgHeader h = MakeHeader(MsgType::kPush, 1);
    h.num_keys = kMaxKeysPerMessage + 1;
    const std::string b = HeaderBytes(h);
    Status st = ParseHeader(b.data(), b.size(), &out);
    EXPECT_FALSE(st.ok());
    EXPECT_CONTAINS(st.message(), "too many keys: " + std::to_string(kMaxKeysPerMessage + 1));
  }
  {
    MsgHeader h = MakeHeader(MsgType::kPush, 1);
    h.num_frames = kMaxFrames + 1;
    const std::string b = HeaderBytes(h);
    Status st = ParseHeader(b.data(), b.size(), &out);
    EXPECT_FALSE(st.ok());
    EXPECT_CONTAINS(st.message(), "too many frames: " + std::to_string(kMaxFrames + 1));
  }
  {
    MsgHeader h = MakeHeader(MsgType::kPush, 1);
    h.val_len = kMaxValLen + 1;
    const std::string b = HeaderBytes(h);
    Status st = ParseHeader(b.data(), b.size(), &out);
    EXPECT_FALSE(st.ok());
    EXPECT_CONTAINS(st.message(), "row width too large: " + std::to_string(kMaxValLen + 1));
  }
  {
    MsgHeader h = MakeHeader(MsgType::kPush, 1);
    h.num_keys = 0xffffffffu;
    const std::string b = HeaderBytes(h);
    EXPECT_FALSE(ParseHeader(b.data(), b.size(), &out).ok());
  }
}

// ---------------------------------------------------------------------------------------------
// ValidateDataMessage

// A message of `type` with header counts and frames of the given byte sizes.
Message MakeMessage(MsgType type, uint32_t num_keys, uint32_t val_len, std::vector<size_t> frame_sizes,
                    uint32_t table = 0) {
  Message m;
  m.header = MakeHeader(type, 2, 5);
  m.header.table = table;
  m.header.num_keys = num_keys;
  m.header.val_len = val_len;
  m.header.num_frames = static_cast<uint32_t>(frame_sizes.size());
  for (size_t bytes : frame_sizes) m.frames.emplace_back(bytes);
  return m;
}

TEST(WireTest, ValidWellFormedDataMessagesPass) {
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPull, 3, 4, {24}), 4).ok());
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPush, 3, 4, {24, 48}), 4).ok());
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPushPull, 3, 4, {24, 48}), 4).ok());
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPullReply, 3, 4, {48}), 4).ok());
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPushAck, 3, 4, {}), 4).ok());
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPull, 0, 4, {0}), 4).ok());
  // expected_val_len 0 skips the table width check.
  EXPECT_TRUE(ValidateDataMessage(MakeMessage(MsgType::kPush, 2, 7, {16, 56}), 0).ok());
}

TEST(WireTest, PullWithWrongKeysFrameSize) {
  Status st = ValidateDataMessage(MakeMessage(MsgType::kPull, 3, 4, {23}), 4);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_CONTAINS(st.message(), "pull");
  EXPECT_CONTAINS(st.message(), "keys frame is 23 bytes, expected 24");
  st = ValidateDataMessage(MakeMessage(MsgType::kPull, 3, 4, {32}), 4);
  EXPECT_CONTAINS(st.message(), "keys frame is 32 bytes, expected 24");
}

TEST(WireTest, PushMissingValuesFrame) {
  // The header honestly says one frame.
  Status st = ValidateDataMessage(MakeMessage(MsgType::kPush, 3, 4, {24}), 4);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "push: 1 frames");
  EXPECT_CONTAINS(st.message(), "expected 2");
  // The header claims two frames but only one is attached.
  Message m = MakeMessage(MsgType::kPushPull, 3, 4, {24});
  m.header.num_frames = 2;
  st = ValidateDataMessage(m, 4);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "push-pull: 1 frames (header says 2), expected 2");
}

TEST(WireTest, PushValuesSizeMustBeNumKeysTimesValLen) {
  Status st = ValidateDataMessage(MakeMessage(MsgType::kPush, 3, 4, {24, 44}), 4);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "values frame is 44 bytes, expected 48");
  EXPECT_CONTAINS(st.message(), "num_keys 3, val_len 4");
  st = ValidateDataMessage(MakeMessage(MsgType::kPushPull, 3, 4, {24, 52}), 4);
  EXPECT_CONTAINS(st.message(), "values frame is 52 bytes, expected 48");
  // The keys frame is checked too, before the values.
  st = ValidateDataMessage(MakeMessage(MsgType::kPush, 3, 4, {16, 48}), 4);
  EXPECT_CONTAINS(st.message(), "keys frame is 16 bytes, expected 24");
}

TEST(WireTest, ValLenMustMatchTheTable) {
  // Consistent sizes for val_len 4, but the table has rows of 8.
  Status st = ValidateDataMessage(MakeMessage(MsgType::kPush, 3, 4, {24, 48}, /*table=*/6), 8);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_CONTAINS(st.message(), "row width 4 but table 6 has rows of 8 floats");
  st = ValidateDataMessage(MakeMessage(MsgType::kPull, 3, 4, {24}, 6), 8);
  EXPECT_CONTAINS(st.message(), "row width 4 but table 6");
}

TEST(WireTest, ReplySizes) {
  Status st = ValidateDataMessage(MakeMessage(MsgType::kPullReply, 3, 4, {47}), 4);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "pull-reply: values frame is 47 bytes, expected 48");
  st = ValidateDataMessage(MakeMessage(MsgType::kPullReply, 3, 4, {}), 4);
  EXPECT_CONTAINS(st.message(), "pull-reply: 0 frames");
  st = ValidateDataMessage(MakeMessage(MsgType::kPushAck, 3, 4, {8}), 4);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "push-ack: 1 frames");
  EXPECT_CONTAINS(st.message(), "expected 0");
}

TEST(WireTest, ControlMessagesAreNotDataMessages) {
  Status st = ValidateDataMessage(MakeMessage(MsgType::kHeartbeat, 0, 0, {}), 0);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "not a data message: heartbeat");
  st = ValidateDataMessage(MakeMessage(MsgType::kError, 0, 0, {5}), 0);
  EXPECT_CONTAINS(st.message(), "not a data message: error");
}

TEST(WireTest, HugeCountsDoNotOverflowTheSizeCheck) {
  // num_keys * val_len * 4 = 2^26 * 2^20 * 4 = 2^48 bytes: must be computed in 64 bits, so a
  // tiny frame cannot pass by 32-bit wrap-around.
  Status st = ValidateDataMessage(MakeMessage(MsgType::kPullReply, kMaxKeysPerMessage, kMaxValLen, {0}), 0);
  EXPECT_FALSE(st.ok());
  EXPECT_CONTAINS(st.message(), "expected 281474976710656");
  // 2^30 keys * 4 floats * 4 bytes = 2^34 bytes, which wraps to 0 in 32 bits.
  st = ValidateDataMessage(MakeMessage(MsgType::kPullReply, 1u << 30, 4, {0}), 0);
  EXPECT_FALSE(st.ok());
}

}  // namespace
}  // namespace embark
