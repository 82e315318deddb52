#include "delivery/user_profiles.h"

#include <fstream>
#include <set>

namespace embark {

Status ParseUserAttributes(const nlohmann::json& j, const std::string& where, UserAttributes* out) {
  if (j.contains("segment")) {
    if (!j["segment"].is_string()) return Status::InvalidArgument(where + ": \"segment\" must be a string");
    out->segment = j["segment"].get<std::string>();
  }
  if (j.contains("country")) {
    if (!j["country"].is_string()) return Status::InvalidArgument(where + ": \"country\" must be a string");
    out->country = j["country"].get<std::string>();
  }
  if (j.contains("tags")) {
    Status st = ParseStringList(j["tags"], "\"tags\"", &out->tags);
    if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  }
  return Status::OK();
}

Status UserProfiles::Load(const std::string& path, UserProfiles* out) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot open users file " + path);
  UserProfiles users;
  static const std::set<std::string> kKnown = {"id", "segment", "country", "tags", "features"};
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string source = path + ":" + std::to_string(number);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument(source + ": not a JSON object");
    for (const auto& m : j.items())
      if (!kKnown.count(m.key())) return Status::InvalidArgument(source + ": unknown member \"" + m.key() + "\"");
    if (!j.contains("id") || !j["id"].is_string()) return Status::InvalidArgument(source + ": missing string \"id\"");
    UserProfile p;
    p.id = j["id"].get<std::string>();
    EMBARK_RETURN_IF_ERROR(ParseUserAttributes(j, source, &p.attributes));
    if (j.contains("features")) {
      Status st = ParseRawFeatures(j["features"], "\"features\"", &p.features);
      if (!st.ok()) return Status::InvalidArgument(source + ": " + st.message());
    }
    if (users.Find(p.id) != nullptr) return Status::InvalidArgument(source + ": duplicate user id \"" + p.id + "\"");
    users.Add(std::move(p));
  }
  if (in.bad()) return Status::IoError("cannot read users file " + path);
  *out = std::move(users);
  return Status::OK();
}

}  // namespace embark
