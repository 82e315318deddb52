// --checkpoint_every parsing: every unit, the conversions to seconds, and the errors.
#include "worker/checkpoint_interval.h"

#include <gtest/gtest.h>

namespace embark {
namespace {

using Unit = CheckpointInterval::Unit;

CheckpointInterval Parse(const std::string& text) {
  CheckpointInterval c;
  Status st = ParseCheckpointInterval(text, &c);
  EXPECT_TRUE(st.ok()) << text << ": " << st.ToString();
  return c;
}

TEST(CheckpointIntervalTest, EveryUnit) {
  EXPECT_EQ(Parse("").unit, Unit::kNone);
  CheckpointInterval c = Parse("1epoch");
  EXPECT_EQ(c.unit, Unit::kEpochs);
  EXPECT_EQ(c.count, 1u);
  c = Parse("2epochs");
  EXPECT_EQ(c.unit, Unit::kEpochs);
  EXPECT_EQ(c.count, 2u);
  c = Parse("5000steps");
  EXPECT_EQ(c.unit, Unit::kSteps);
  EXPECT_EQ(c.count, 5000u);
  c = Parse("1step");
  EXPECT_EQ(c.unit, Unit::kSteps);
  EXPECT_EQ(c.count, 1u);
  c = Parse("30s");
  EXPECT_EQ(c.unit, Unit::kSeconds);
  EXPECT_EQ(c.count, 30u);
  c = Parse("10m");
  EXPECT_EQ(c.unit, Unit::kSeconds);
  EXPECT_EQ(c.count, 600u);
  c = Parse("1h");
  EXPECT_EQ(c.unit, Unit::kSeconds);
  EXPECT_EQ(c.count, 3600u);
}

TEST(CheckpointIntervalTest, ErrorsQuoteTheValue) {
  for (const char* bad : {"epoch", "0epochs", "5", "5 steps", "5minutes", "-1s", "1.5h", "99999999999999999999s", "2d"}) {
    CheckpointInterval c;
    Status st = ParseCheckpointInterval(bad, &c);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find(std::string("--checkpoint_every=") + bad), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace embark
