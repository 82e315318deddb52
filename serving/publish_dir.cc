#include "serving/publish_dir.h"

#include <algorithm>
#include <cstdio>

namespace embark {

std::string PublishedVersionName(uint64_t sequence) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "v-%010llu", static_cast<unsigned long long>(sequence));
  return buf;
}

bool ParsePublishedVersionName(const std::string& name, uint64_t* sequence) {
  if (name.size() != 12 || name.compare(0, 2, "v-") != 0) return false;
  uint64_t v = 0;
  for (size_t i = 2; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (v == 0) return false;  // sequences start at 1; 0 means "nothing served"
  *sequence = v;
  return true;
}

PublishPlan PlanPublishedVersions(const std::string& dir, std::vector<PublishedVersion> listed, uint64_t served) {
  PublishPlan plan;
  std::sort(listed.begin(), listed.end(), [](const PublishedVersion& a, const PublishedVersion& b) { return a.sequence < b.sequence; });
  // Start from the newest full version newer than the served one: deltas before it are moot.
  uint64_t start = 0;
  for (const PublishedVersion& v : listed)
    if (v.full && v.sequence > served) start = v.sequence;
  uint64_t at = served;
  if (start == 0) {
    if (served == 0) {
      if (!listed.empty())
        plan.problem = Status::NotFound(dir + " holds no full bundle yet (only deltas, the oldest " +
                                        PublishedVersionName(listed.front().sequence) + "); waiting for one");
      return plan;
    }
  } else {
    plan.apply.push_back(start);
    at = start;
  }
  for (const PublishedVersion& v : listed) {
    if (v.sequence <= at) continue;
    if (v.sequence != at + 1) {
      plan.problem = Status::Corruption("gap in " + dir + ": version " + PublishedVersionName(at + 1) + " is missing before " +
                                        dir + "/" + PublishedVersionName(v.sequence) + "; keeping " +
                                        PublishedVersionName(at) + " until a full bundle is published");
      return plan;
    }
    plan.apply.push_back(v.sequence);
    at = v.sequence;
  }
  return plan;
}

}  // namespace embark
