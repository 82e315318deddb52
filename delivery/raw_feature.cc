#include "delivery/raw_feature.h"

#include <cmath>

namespace embark {

Status ParseRawFeatures(const nlohmann::json& j, const std::string& where, std::vector<RawFeature>* out) {
  if (!j.is_array()) return Status::InvalidArgument(where + " must be an array of [field, \"id\"] entries");
  out->clear();
  for (size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& f = j[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!f.is_array() || f.size() < 2 || f.size() > 3)
      return Status::InvalidArgument(at + " must be [field, \"id\"] or [field, \"id\", value]");
    if (!f[0].is_number_integer() || f[0].get<int64_t>() < 0 || f[0].get<int64_t>() > 65535)
      return Status::InvalidArgument(at + ": the field must be an integer in [0, 65535]");
    if (!f[1].is_string()) return Status::InvalidArgument(at + ": the id must be a string");
    RawFeature r;
    r.field = static_cast<uint16_t>(f[0].get<int64_t>());
    r.id = f[1].get<std::string>();
    if (f.size() == 3) {
      if (!f[2].is_number() || !std::isfinite(f[2].get<double>()))
        return Status::InvalidArgument(at + ": the value must be a finite number");
      r.value = f[2].get<float>();
    }
    out->push_back(std::move(r));
  }
  return Status::OK();
}

nlohmann::json RawFeaturesToJson(const std::vector<RawFeature>& features) {
  nlohmann::json a = nlohmann::json::array();
  for (const RawFeature& f : features) {
    if (f.value == 1.0f)
      a.push_back({f.field, f.id});
    else
      a.push_back({f.field, f.id, f.value});
  }
  return a;
}

Status ParseStringList(const nlohmann::json& j, const std::string& where, std::vector<std::string>* out) {
  if (!j.is_array()) return Status::InvalidArgument(where + " must be an array of strings");
  out->clear();
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) return Status::InvalidArgument(where + "[" + std::to_string(i) + "] must be a string");
    out->push_back(j[i].get<std::string>());
  }
  return Status::OK();
}

}  // namespace embark
