// PublishDir: the layout of a live-publishing directory (`serve --watch=D`, the trainer's
// --publish_dir) and the choice of which published versions a server applies next.
//
// D holds one bundle directory per published version, named v-NNNNNNNNNN (the sequence number,
// zero-padded to 10 digits so name order is publication order). Each is a full bundle or a
// delta whose base_bundle_id is the id of the version before it (its tombstones, the keys
// evicted since, are the delta's TABLE.deleted.npy; see serving/bundle_format.md). Versions are
// published by renaming a finished directory into place (WriteBundle), so a listed name is
// complete. Anything else in D (temporary directories, files) is ignored.
//
// PlanPublishedVersions decides, from the listed names and the sequence being served, what to
// apply: the newest full version if one is newer than the served one (or nothing is served),
// then every following version in order. A missing sequence number is a gap: the plan stops
// before it and says so, naming the directory, so the server keeps the last good version.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

// "v-0000000042" for 42.
std::string PublishedVersionName(uint64_t sequence);
// The sequence of a version directory name; false for any other name.
bool ParsePublishedVersionName(const std::string& name, uint64_t* sequence);

// One listed version: its sequence and whether it is a full bundle (manifest kind "full").
struct PublishedVersion {
  uint64_t sequence = 0;
  bool full = false;
};

struct PublishPlan {
  std::vector<uint64_t> apply;  // sequences to apply, in order (the first is full when nothing is served)
  Status problem;               // a gap or a missing full bundle: why the plan stops early
};

// `listed` in any order; served = 0 when nothing is served yet. `dir` names D in messages.
PublishPlan PlanPublishedVersions(const std::string& dir, std::vector<PublishedVersion> listed, uint64_t served);

}  // namespace embark
