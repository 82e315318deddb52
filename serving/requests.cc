#include "serving/requests.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

namespace embark {
namespace {

using nlohmann::json;

// Deepest nesting of arrays/objects in a JSON text (brackets inside strings do not count).
// Checked before parsing because printing or walking a value recurses once per level: a body
// of 100 000 '[' would otherwise overflow the stack of the thread answering it.
int MaxNesting(std::string_view body) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

constexpr int kMaxNesting = 16;  // the deepest valid request is 4 levels

Status ParseBody(std::string_view body, json* out) {
  if (MaxNesting(body) > kMaxNesting)
    return Status::InvalidArgument("malformed request: JSON nested deeper than " + std::to_string(kMaxNesting) + " levels");
  try {
    *out = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    // Syntax errors are parse_error; a number beyond double's range (1e999) is out_of_range.
    // Both are the client's. e.what() reads "[json.exception.parse_error.101] parse error at
    // line 1, column 5: ...".
    std::string what = e.what();
    const size_t at = what.find("] ");
    return Status::InvalidArgument("malformed JSON: " + (at == std::string::npos ? what : what.substr(at + 2)));
  }
  if (!out->is_object()) return Status::InvalidArgument("the body must be a JSON object");
  return Status::OK();
}

const char* TypeName(const json& v) { return v.type_name(); }

// A client value quoted in an error message, cut short: the reason must not echo a whole body.
std::string Quote(const json& v) {
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// One [field, "id", value] triple -> one feature of the example being built.
Status ParseFeature(const json& f, const std::string& path, const Model& model, Batch* batch) {
  if (!f.is_array() || f.size() < 2 || f.size() > 3)
    return Status::InvalidArgument(path + ": a feature is [field, \"id\", value] or [field, \"id\"], got " + Quote(f));
  if (!f[0].is_number_integer())
    return Status::InvalidArgument(path + "[0]: the field must be an integer, got " + std::string(TypeName(f[0])));
  const int64_t field = f[0].get<int64_t>();
  if (field < 0 || field > 65535)
    return Status::InvalidArgument(path + "[0]: field " + std::to_string(field) + " is outside 0..65535");
  if (model.TableOfField(static_cast<uint16_t>(field)) < 0)
    return Status::InvalidArgument(path + "[0]: unknown field " + std::to_string(field) + ": model " + model.name() +
                                   " does not use it");
  if (!f[1].is_string())
    return Status::InvalidArgument(path + "[1]: the id must be a string (ids are hashed as text: write \"" +
                                   Quote(f[1]) + "\" with quotes), got " + std::string(TypeName(f[1])));
  float value = 1.0f;
  if (f.size() == 3) {
    if (!f[2].is_number())
      return Status::InvalidArgument(path + "[2]: the value must be a number, got " + std::string(TypeName(f[2])));
    const double v = f[2].get<double>();
    if (!std::isfinite(v) || std::fabs(v) > 3.4e38)
      return Status::InvalidArgument(path + "[2]: the value must be a finite float");
    value = static_cast<float>(v);
  }
  const std::string& id = f[1].get_ref<const std::string&>();
  batch->AddFeature(FeatureKey(static_cast<uint16_t>(field), id), value, static_cast<uint16_t>(field));
  return Status::OK();
}

Status ParseExample(const json& features, const std::string& path, const Model& model, Batch* batch) {
  if (!features.is_array())
    return Status::InvalidArgument(path + ": an example is an array of features, got " + std::string(TypeName(features)));
  const size_t start = batch->keys.size();
  for (size_t i = 0; i < features.size(); ++i) {
    Status st = ParseFeature(features[i], path + "[" + std::to_string(i) + "]", model, batch);
    if (!st.ok()) {
      // Leave the batch as it was: drop the features of the half-built example.
      batch->keys.resize(start);
      batch->values.resize(start);
      batch->fields.resize(start);
      return st;
    }
  }
  batch->EndExample(0.0f);
  return Status::OK();
}

Status ParseLines(const json& lines, const std::optional<DataFormat>& format, Batch* batch) {
  if (!lines.is_array())
    return Status::InvalidArgument("lines: must be an array of strings, got " + std::string(TypeName(lines)));
  if (!format.has_value())
    return Status::InvalidArgument("lines: this bundle does not record its training data format; send \"features\"");
  std::unique_ptr<LineParser> parser = LineParser::Create(*format);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string path = "lines[" + std::to_string(i) + "]";
    if (!lines[i].is_string())
      return Status::InvalidArgument(path + ": must be a string, got " + std::string(TypeName(lines[i])));
    parser->StartFile();  // every line stands alone: separators are detected per line
    BadLineReason reason = BadLineReason::kWrongFieldCount;
    switch (parser->Parse(lines[i].get_ref<const std::string&>(), false, batch, &reason)) {
      case LineParser::Outcome::kExample:
        break;
      case LineParser::Outcome::kBlank:
        return Status::InvalidArgument(path + ": blank line");
      case LineParser::Outcome::kBad:
      case LineParser::Outcome::kSkipped:  // (csv policies; a line that gives no example is an error here)
        return Status::InvalidArgument(path + ": not a valid " + std::string(DataFormatName(*format)) + " line (" +
                                       BadLineReasonName(reason) + ")");
    }
  }
  return Status::OK();
}

}  // namespace

Status ParseScoreRequest(std::string_view body, const Model& model, const std::optional<DataFormat>& format,
                         Batch* batch) {
  json doc;
  EMBARK_RETURN_IF_ERROR(ParseBody(body, &doc));
  int forms = 0;
  for (const auto& [key, value] : doc.items()) {
    if (key != "features" && key != "examples" && key != "lines")
      return Status::InvalidArgument("unknown member '" + key + "' (use features, examples or lines)");
    ++forms;
  }
  if (forms != 1) return Status::InvalidArgument("give exactly one of features, examples or lines");
  if (doc.contains("features")) return ParseExample(doc["features"], "features", model, batch);
  if (doc.contains("lines")) return ParseLines(doc["lines"], format, batch);
  const json& examples = doc["examples"];
  if (!examples.is_array())
    return Status::InvalidArgument("examples: must be an array, got " + std::string(TypeName(examples)));
  for (size_t e = 0; e < examples.size(); ++e) {
    const std::string path = "examples[" + std::to_string(e) + "]";
    const json& ex = examples[e];
    if (ex.is_object()) {
      if (ex.size() != 1 || !ex.contains("features"))
        return Status::InvalidArgument(path + ": an example object has exactly one member, features");
      EMBARK_RETURN_IF_ERROR(ParseExample(ex["features"], path + ".features", model, batch));
    } else {
      EMBARK_RETURN_IF_ERROR(ParseExample(ex, path, model, batch));
    }
  }
  return Status::OK();
}

Status ParseTopKRequest(std::string_view body, size_t max_k, TopKRequest* request) {
  json doc;
  EMBARK_RETURN_IF_ERROR(ParseBody(body, &doc));
  *request = TopKRequest();
  // Without "k" the default, but never more than max_k (a server configured for at most 5
  // results must not compute 10 because the client left k out).
  request->k = std::min(request->k, max_k);
  for (const auto& [key, value] : doc.items()) {
    if (key == "user") {
      if (!value.is_string())
        return Status::InvalidArgument("user: must be a string (ids are hashed as text), got " + std::string(TypeName(value)));
      request->user = value.get<std::string>();
      request->has_user = true;
    } else if (key == "k") {
      if (!value.is_number_integer())
        return Status::InvalidArgument("k: must be an integer, got " + std::string(TypeName(value)));
      const int64_t k = value.get<int64_t>();
      if (k < 1 || static_cast<uint64_t>(k) > max_k)
        return Status::InvalidArgument("k: " + std::to_string(k) + " is out of range [1, " + std::to_string(max_k) + "]");
      request->k = static_cast<size_t>(k);
    } else if (key == "exclude") {
      if (!value.is_array())
        return Status::InvalidArgument("exclude: must be an array of item ids, got " + std::string(TypeName(value)));
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string())
          return Status::InvalidArgument("exclude[" + std::to_string(i) + "]: must be a string, got " +
                                         std::string(TypeName(value[i])));
        request->exclude.push_back(value[i].get<std::string>());
      }
    } else if (key == "exact") {
      if (!value.is_boolean()) return Status::InvalidArgument("exact: must be true or false");
      request->exact = value.get<bool>();
    } else if (key == "include_seen") {
      if (!value.is_boolean()) return Status::InvalidArgument("include_seen: must be true or false");
      request->include_seen = value.get<bool>();
    } else if (key == "user_features") {
      if (!value.is_array())
        return Status::InvalidArgument("user_features: must be an array of [field, \"id\"], got " + std::string(TypeName(value)));
      for (size_t i = 0; i < value.size(); ++i) {
        const json& f = value[i];
        const std::string path = "user_features[" + std::to_string(i) + "]";
        if (!f.is_array() || f.size() != 2)
          return Status::InvalidArgument(path + ": a user feature is [field, \"id\"], got " + Quote(f));
        if (!f[0].is_number_integer() || f[0].get<int64_t>() < 0 || f[0].get<int64_t>() > 65535)
          return Status::InvalidArgument(path + "[0]: the field must be an integer in 0..65535, got " + Quote(f[0]));
        if (!f[1].is_string())
          return Status::InvalidArgument(path + "[1]: the id must be a string (ids are hashed as text), got " +
                                         std::string(TypeName(f[1])));
        request->user_features.emplace_back(static_cast<uint16_t>(f[0].get<int64_t>()), f[1].get<std::string>());
      }
    } else {
      return Status::InvalidArgument("unknown member '" + key +
                                     "' (use user, k, exclude, exact, include_seen, user_features)");
    }
  }
  if (!request->has_user && request->user_features.empty())
    return Status::InvalidArgument("user: missing (give user, or user_features for a model that reads them)");
  return Status::OK();
}

}  // namespace embark
