#include "models/model_spec.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "models/two_tower.h"
#include "ps/optimizer.h"

namespace embark {
namespace {

std::string FloatText(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(v));
  return buf;
}

Status ParseFloatOption(const std::string& name, const std::string& text, std::optional<float>* out) {
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(text.c_str(), &end);
  if (text.empty() || *end != 0 || errno != 0 || !std::isfinite(v))
    return Status::InvalidArgument("model option " + name + ": '" + text + "' is not a finite number");
  *out = v;
  return Status::OK();
}

Status ParseUintOption(const std::string& name, const std::string& text, std::optional<uint32_t>* out) {
  bool digits = !text.empty() && text.size() <= 9;
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (!digits) return Status::InvalidArgument("model option " + name + ": '" + text + "' is not a non-negative integer");
  *out = static_cast<uint32_t>(std::strtoul(text.c_str(), nullptr, 10));
  return Status::OK();
}

}  // namespace

ModelOptionText FormatModelOptions(const ModelOptions& o) {
  ModelOptionText out;
  if (o.dim) out.emplace_back("dim", std::to_string(*o.dim));
  if (o.optimizer) out.emplace_back("optimizer", OptimizerName(*o.optimizer));
  const std::pair<const char*, const std::optional<float>*> floats[] = {
      {"lr", &o.lr},           {"l1", &o.l1},                 {"l2", &o.l2},
      {"bias_l2", &o.bias_l2}, {"bias_scale", &o.bias_scale}, {"ftrl_beta", &o.ftrl_beta},   {"init_scale", &o.init_scale},
      {"min_rating", &o.min_rating}, {"max_rating", &o.max_rating}, {"global_mean", &o.global_mean}};
  for (const auto& [name, value] : floats)
    if (*value) out.emplace_back(name, FloatText(**value));
  if (o.num_fields) out.emplace_back("num_fields", std::to_string(*o.num_fields));
  if (o.side_features) out.emplace_back("side_features", *o.side_features ? "true" : "false");
  if (o.negatives) out.emplace_back("negatives", std::to_string(*o.negatives));
  if (o.score) out.emplace_back("score", *o.score == TwoTowerScore::kCosine ? "cosine" : "dot");
  if (o.temperature) out.emplace_back("temperature", FloatText(*o.temperature));
  if (o.logq_correction) out.emplace_back("logq_correction", *o.logq_correction ? "true" : "false");
  // two_tower: the tower shape and the item bias change the tables and the vectors.
  if (o.tower) out.emplace_back("tower", TwoTowerTowerName(*o.tower));
  if (o.item_bias) out.emplace_back("item_bias", *o.item_bias ? "true" : "false");
  if (o.instance_norm) out.emplace_back("instance_norm", *o.instance_norm ? "true" : "false");
  if (o.hidden) {
    std::string text;
    for (uint32_t w : *o.hidden) text += (text.empty() ? "" : ",") + std::to_string(w);
    out.emplace_back("hidden", text.empty() ? "none" : text);
  }
  return out;
}

Status SetModelOption(const std::string& name, const std::string& value, ModelOptions* o) {
  if (name == "dim") return ParseUintOption(name, value, &o->dim);
  if (name == "num_fields") return ParseUintOption(name, value, &o->num_fields);
  if (name == "optimizer") {
    OptimizerKind kind;
    EMBARK_RETURN_IF_ERROR(ParseOptimizerKind(value, &kind));
    o->optimizer = kind;
    return Status::OK();
  }
  if (name == "negatives") return ParseUintOption(name, value, &o->negatives);
  if (name == "side_features" || name == "logq_correction") {
    if (value != "true" && value != "false")
      return Status::InvalidArgument("model option " + name + " must be true or false, got '" + value + "'");
    (name == "side_features" ? o->side_features : o->logq_correction) = value == "true";
    return Status::OK();
  }
  if (name == "score") {
    TwoTowerScore score;
    EMBARK_RETURN_IF_ERROR(ParseTwoTowerScore(value, &score));
    o->score = score;
    return Status::OK();
  }
  if (name == "temperature") return ParseFloatOption(name, value, &o->temperature);
  if (name == "tower") {
    TwoTowerTower tower;
    EMBARK_RETURN_IF_ERROR(ParseTwoTowerTower(value, &tower));
    o->tower = tower;
    return Status::OK();
  }
  if (name == "item_bias" || name == "instance_norm") {
    if (value != "true" && value != "false")
      return Status::InvalidArgument("model option " + name + " must be true or false, got '" + value + "'");
    (name == "item_bias" ? o->item_bias : o->instance_norm) = value == "true";
    return Status::OK();
  }
  if (name == "hidden") {
    std::vector<uint32_t> hidden;
    EMBARK_RETURN_IF_ERROR(ParseHiddenLayers(value, &hidden));
    o->hidden = hidden;
    return Status::OK();
  }
  const std::pair<const char*, std::optional<float>*> floats[] = {
      {"lr", &o->lr},           {"l1", &o->l1},               {"l2", &o->l2},
      {"bias_l2", &o->bias_l2}, {"bias_scale", &o->bias_scale}, {"ftrl_beta", &o->ftrl_beta}, {"init_scale", &o->init_scale},
      {"min_rating", &o->min_rating}, {"max_rating", &o->max_rating}, {"global_mean", &o->global_mean}};
  for (const auto& [option, field] : floats)
    if (name == option) return ParseFloatOption(name, value, field);
  return Status::InvalidArgument("unknown model option '" + name + "'");
}

}  // namespace embark
