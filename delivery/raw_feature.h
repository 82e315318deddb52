// RawFeature: one feature as people write it -- (field, raw id, value) -- in campaign files,
// user profiles, delivery requests and decision logs, with its JSON form [field, "id"] or
// [field, "id", value]. Keys are FeatureKey(field, id), exactly as the trainers' readers hash
// libffm ids, so a feature written here scores like the same feature in a training file.
//
// Thread-safety: plain values and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace embark {

struct RawFeature {
  uint16_t field = 0;
  std::string id;
  float value = 1;
};

// Parses a JSON array of [field, "id"(, value)] entries; errors name `where` and the index.
Status ParseRawFeatures(const nlohmann::json& j, const std::string& where, std::vector<RawFeature>* out);
// The JSON array form (value left out when it is 1).
nlohmann::json RawFeaturesToJson(const std::vector<RawFeature>& features);
// Parses a JSON array of strings (tags, targeting lists).
Status ParseStringList(const nlohmann::json& j, const std::string& where, std::vector<std::string>* out);

}  // namespace embark
