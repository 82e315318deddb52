#include "serving/json.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/json_text.h"

namespace embark {

// Builds a JsonValue from the document nlohmann::json parsed. Numbers keep nlohmann's text
// of them, which is exact for integers (uint64 included) and the shortest round-trip text
// for doubles.
class JsonParser {
 public:
  // Deeper documents are refused, so a hostile manifest cannot exhaust the stack of Convert.
  static constexpr int kMaxDepth = 64;

  static void Convert(const nlohmann::ordered_json& j, JsonValue* out) {
    using T = nlohmann::ordered_json::value_t;
    switch (j.type()) {
      case T::null:
      case T::discarded: out->type_ = JsonValue::Type::kNull; break;
      case T::boolean:
        out->type_ = JsonValue::Type::kBool;
        out->bool_ = j.get<bool>();
        break;
      case T::number_integer:
      case T::number_unsigned:
      case T::number_float:
        out->type_ = JsonValue::Type::kNumber;
        out->number_ = j.get<double>();
        out->text_ = j.dump();
        break;
      case T::string:
        out->type_ = JsonValue::Type::kString;
        out->text_ = j.get<std::string>();
        break;
      case T::array:
        out->type_ = JsonValue::Type::kArray;
        out->elements_.resize(j.size());
        for (size_t i = 0; i < j.size(); ++i) Convert(j[i], &out->elements_[i]);
        break;
      case T::object:
        out->type_ = JsonValue::Type::kObject;
        for (auto it = j.begin(); it != j.end(); ++it) {
          out->members_.emplace_back(it.key(), JsonValue());
          Convert(it.value(), &out->members_.back().second);
        }
        break;
      case T::binary: out->type_ = JsonValue::Type::kNull; break;
    }
  }
};

namespace {

struct TooDeep : std::runtime_error {
  TooDeep() : std::runtime_error("nested too deeply") {}
};

}  // namespace

Status JsonValue::Parse(const std::string& text, const std::string& source, JsonValue* out) {
  *out = JsonValue();
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(
        text, [](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
          if (depth > JsonParser::kMaxDepth) throw TooDeep();
          return true;
        });
  } catch (const nlohmann::ordered_json::parse_error& e) {
    return Status::InvalidArgument(source + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const TooDeep& e) {
    return Status::InvalidArgument(source + ": invalid JSON: " + e.what());
  }
  JsonParser::Convert(doc, out);
  return Status::OK();
}

uint64_t JsonValue::AsUint64() const {
  if (type_ != Type::kNumber || text_.empty() || text_[0] == '-') return 0;
  for (char c : text_)
    if (c < '0' || c > '9') return 0;
  errno = 0;
  const unsigned long long v = std::strtoull(text_.c_str(), nullptr, 10);
  return errno == 0 ? static_cast<uint64_t>(v) : 0;
}

const JsonValue& JsonValue::operator[](const std::string& key) const {
  static const JsonValue kNull;
  for (const auto& [name, value] : members_)
    if (name == key) return value;
  return kNull;
}

bool JsonValue::Has(const std::string& key) const {
  for (const auto& member : members_)
    if (member.first == key) return true;
  return false;
}

namespace {

nlohmann::ordered_json ToNlohmann(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::Type::kNull: return nullptr;
    case JsonValue::Type::kBool: return v.AsBool();
    // The number's own text, parsed back: exact for integers and for the doubles it holds.
    case JsonValue::Type::kNumber: return nlohmann::ordered_json::parse(v.AsString());
    case JsonValue::Type::kString: return v.AsString();
    case JsonValue::Type::kArray: {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const JsonValue& e : v.elements()) a.push_back(ToNlohmann(e));
      return a;
    }
    case JsonValue::Type::kObject: {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      for (const auto& [key, value] : v.members()) o[key] = ToNlohmann(value);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

std::string JsonValue::Serialize() const { return JsonText(ToNlohmann(*this)); }

}  // namespace embark
