#include "core/flag_scope.h"

#include <gflags/gflags.h>

#include <vector>

namespace embark {

bool IsProjectFlagFile(const std::string& filename) {
  // The build passes absolute source paths to the compiler, so a project file's __FILE__
  // starts with the source directory.
  static const std::string root = std::string(EMBARK_SOURCE_DIR) + "/";
  return filename.compare(0, root.size(), root) == 0;
}

std::string FlagNotTaken(const std::string& command, const std::set<std::string>& own,
                         const std::set<std::string>& shared) {
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  for (const auto& f : flags) {
    if (f.is_default || !IsProjectFlagFile(f.filename)) continue;
    if (shared.count(f.name) || own.count(f.name)) continue;
    return "--" + f.name + " does not apply to '" + command + "'";
  }
  return "";
}

}  // namespace embark
