// UserProfiles: what delivery knows about each user -- the attributes targeting rules read
// (segment, country, tags) and the user-side features the model scores with -- loaded from a
// users file.
//
// File format: JSON Lines, one user per line (blank lines and '#' lines skipped):
//   {"id": "u1", "segment": "s", "country": "FR", "tags": ["a", "b"],
//    "features": [[0, "u1"], [10, "age3"]]}
// "id" is required and unique; the others are optional ("features" defaults to none: a user
// scored on the request's context alone). Unknown members, wrong types and duplicate ids
// refuse the file with "FILE:LINE: reason".
//
// Thread-safety: immutable after Load; Find is safe from any thread.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "delivery/campaign.h"
#include "delivery/raw_feature.h"

namespace embark {

struct UserProfile {
  std::string id;
  UserAttributes attributes;
  std::vector<RawFeature> features;
};

class UserProfiles {
 public:
  static Status Load(const std::string& path, UserProfiles* out);
  void Add(UserProfile profile) {
    const std::string id = profile.id;
    users_[id] = std::move(profile);
  }
  // The profile of `id`, or nullptr for a user the file does not list.
  const UserProfile* Find(const std::string& id) const {
    auto it = users_.find(id);
    return it == users_.end() ? nullptr : &it->second;
  }
  size_t size() const { return users_.size(); }

 private:
  std::unordered_map<std::string, UserProfile> users_;
};

// Parses the optional attribute members ("segment", "country", "tags") of a JSON object
// (a users-file line or a cold-start request); errors name `where`.
Status ParseUserAttributes(const nlohmann::json& j, const std::string& where, UserAttributes* out);

}  // namespace embark
