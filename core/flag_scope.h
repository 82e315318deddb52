// Flag scope: which of the flags set on a command line a command does not take, the check
// behind "embark: --x does not apply to 'serve'".
//
// A flag is the project's own when the source file that DEFINEs it lies in the project's
// source tree (EMBARK_SOURCE_DIR, given to this file by the build); the libraries' flags
// (gflags' --help family, glog's --v, --logtostderr, ...) are never refused. Which file of the
// project defines a flag does not matter, so the commands' flags may live in any file.
//
// Thread-safety: reads gflags' registry; call after ParseCommandLineFlags, from one thread.
#pragma once

#include <set>
#include <string>

namespace embark {

// True when `filename` (a flag's gflags::CommandLineFlagInfo::filename) is a project file.
bool IsProjectFlagFile(const std::string& filename);

// The first project flag set on the command line (not at its default) that is neither in
// `own` (the command's flags) nor in `shared` (flags every command takes), as the error
// "--NAME does not apply to 'COMMAND'"; "" when there is none.
std::string FlagNotTaken(const std::string& command, const std::set<std::string>& own,
                         const std::set<std::string>& shared);

}  // namespace embark
