// Tests of the flag scope check (core/flag_scope.h): a project flag set for a command that does
// not take it is refused wherever it is defined (this file is not app/main.cc, and the
// check once skipped every flag outside a file named main.cc); the libraries' flags pass.
#include <gflags/gflags.h>
#include <gtest/gtest.h>

#include "core/flag_scope.h"

DEFINE_int32(flag_scope_probe, 3, "test only: a project flag defined outside app/main.cc");

namespace embark {
namespace {

TEST(FlagScope, AProjectFlagOutsideMainIsRefusedUnlessTheCommandTakesIt) {
  gflags::FlagSaver saver;  // restores every flag (and its is_default) afterwards
  gflags::CommandLineFlagInfo info;
  ASSERT_TRUE(gflags::GetCommandLineFlagInfo("flag_scope_probe", &info));
  EXPECT_TRUE(IsProjectFlagFile(info.filename)) << info.filename;
  EXPECT_EQ(FlagNotTaken("serve", {"port"}, {"seed"}), "");
  ASSERT_FALSE(gflags::SetCommandLineOption("flag_scope_probe", "4").empty());
  EXPECT_EQ(FlagNotTaken("serve", {"port"}, {"seed"}), "--flag_scope_probe does not apply to 'serve'");
  EXPECT_EQ(FlagNotTaken("probe", {"flag_scope_probe"}, {}), "");
  EXPECT_EQ(FlagNotTaken("probe", {}, {"flag_scope_probe"}), "");
}

TEST(FlagScope, LibraryFlagsAreNeverRefused) {
  gflags::FlagSaver saver;
  gflags::CommandLineFlagInfo info;
  ASSERT_TRUE(gflags::GetCommandLineFlagInfo("v", &info));  // glog's verbosity
  EXPECT_FALSE(IsProjectFlagFile(info.filename)) << info.filename;
  ASSERT_FALSE(gflags::SetCommandLineOption("v", "1").empty());
  EXPECT_EQ(FlagNotTaken("serve", {}, {}), "");
}

}  // namespace
}  // namespace embark
