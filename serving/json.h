// JsonValue: a read-only JSON document tree for a bundle's manifest.json, parsed by
// nlohmann::json and kept in a form whose lookups never throw (a missing member reads as null).
//
// Numbers are kept as their exact text and as a double, so a 64-bit integer written by the
// exporter (a row count, a key) reads back exactly through AsUint64(). Objects keep their
// members in file order; lookup is linear, which is fine for manifests of a few dozen keys
// (this is never used per key or per example).
//
// Thread-safety: a parsed JsonValue is immutable; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace embark {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // Parses `text` (a whole document). InvalidArgument names `source` (e.g. a file name) and the
  // byte offset of the first error.
  static Status Parse(const std::string& text, const std::string& source, JsonValue* out);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_bool() const { return type_ == Type::kBool; }

  bool AsBool() const { return bool_; }
  double AsDouble() const { return number_; }
  // The number's text parsed as an unsigned integer; 0 if it is not one.
  uint64_t AsUint64() const;
  // The string value (unescaped), or for a number its source text.
  const std::string& AsString() const { return text_; }

  // Object member `key`, or a shared null value when absent or when this is not an object.
  const JsonValue& operator[](const std::string& key) const;
  bool Has(const std::string& key) const;
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // Array elements (empty when this is not an array).
  const std::vector<JsonValue>& elements() const { return elements_; }

  // The value as compact JSON text (numbers keep their source text, so nothing is rounded).
  std::string Serialize() const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;
  std::vector<JsonValue> elements_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

}  // namespace embark
