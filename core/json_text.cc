#include "core/json_text.h"

namespace embark {

namespace {

std::string Scalar(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void Append(const nlohmann::ordered_json& j, std::string* out) {
  if (j.is_object()) {
    *out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) *out += ", ";
      first = false;
      *out += Scalar(nlohmann::ordered_json(it.key()));
      *out += ": ";
      Append(it.value(), out);
    }
    *out += '}';
  } else if (j.is_array()) {
    *out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) *out += ", ";
      Append(j[i], out);
    }
    *out += ']';
  } else {
    *out += Scalar(j);
  }
}

}  // namespace

std::string JsonText(const nlohmann::ordered_json& j) {
  std::string out;
  Append(j, &out);
  return out;
}

std::string JsonNumberText(double v) { return Scalar(nlohmann::ordered_json(v)); }

}  // namespace embark
