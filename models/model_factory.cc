#include "models/model_factory.h"

#include <cmath>
#include <cstdlib>

#include "models/deepfm.h"
#include "models/ffm.h"
#include "models/fm.h"
#include "models/implicit_mf.h"
#include "models/logistic_regression.h"
#include "models/mf.h"
#include "models/model_registry.h"

namespace embark {
namespace {

constexpr uint32_t kMaxDim = 4096;  // rows are pulled per example; wider is surely a typo

Status Unused(const std::string& model, const char* option) {
  return Status::InvalidArgument("model '" + model + "' has no option '" + option + "'");
}

// Checks the options every model validates the same way.
Status CheckCommon(const std::string& model, const ModelOptions& o) {
  if (o.dim && (*o.dim == 0 || *o.dim > kMaxDim)) {
    return Status::InvalidArgument(model + ": dim " + std::to_string(*o.dim) +
                                   " outside [1, " + std::to_string(kMaxDim) + "]");
  }
  if (o.lr && !(*o.lr > 0 && std::isfinite(*o.lr))) {
    return Status::InvalidArgument(model + ": lr must be a positive number");
  }
  const std::pair<const char*, const std::optional<float>*> non_negative[] = {
      {"l1", &o.l1}, {"l2", &o.l2}, {"bias_l2", &o.bias_l2}, {"bias_scale", &o.bias_scale}, {"ftrl_beta", &o.ftrl_beta},
      {"init_scale", &o.init_scale}};
  for (const auto& [option, value] : non_negative) {
    if (*value && !(**value >= 0 && std::isfinite(**value))) {
      return Status::InvalidArgument(model + ": " + option + " must be >= 0");
    }
  }
  return Status::OK();
}

// Applies the optimizer options to `config` (the model's default).
void ApplyOptimizer(const ModelOptions& o, OptimizerConfig* config) {
  if (o.optimizer && *o.optimizer != config->kind) {
    // A model's tuned step size belongs to its default optimizer (an FTRL alpha is not a good
    // AdaGrad step), so a different kind starts from that kind's usual step size; l1/l2 keep
    // the model's defaults. An explicit lr below still wins.
    config->kind = *o.optimizer;
    switch (*o.optimizer) {
      case OptimizerKind::kSgd: config->lr = 0.01f; break;
      case OptimizerKind::kAdaGrad: config->lr = 0.05f; break;
      case OptimizerKind::kRowAdaGrad: config->lr = 0.05f; break;
      case OptimizerKind::kFtrl: config->lr = 0.1f; break;
      case OptimizerKind::kAdam: config->lr = 0.001f; break;
    }
  }
  if (o.lr) config->lr = *o.lr;
  if (o.l1) config->l1 = *o.l1;
  if (o.l2) config->l2 = *o.l2;
  if (o.ftrl_beta) config->ftrl_beta = *o.ftrl_beta;
}

// For the models that regularise in their gradient (ffm, deepfm, imf, two_tower): --l2 is the
// model's per-use penalty, written to *reg; the optimizer keeps its own (default) per-push l2.
void ApplyOptimizerWithModelL2(const ModelOptions& o, OptimizerConfig* config, float* reg) {
  ModelOptions optimizer_options = o;
  optimizer_options.l2.reset();
  ApplyOptimizer(optimizer_options, config);
  if (o.l2) *reg = *o.l2;
}

Status RejectRatingOptions(const std::string& model, const ModelOptions& o) {
  if (o.min_rating) return Unused(model, "min_rating");
  if (o.max_rating) return Unused(model, "max_rating");
  if (o.global_mean) return Unused(model, "global_mean");
  if (o.bias_l2) return Unused(model, "bias_l2");
  if (o.bias_scale) return Unused(model, "bias_scale");
  return Status::OK();
}

// num_fields and hidden mean something only to the field-aware models.
Status RejectFieldOptions(const std::string& model, const ModelOptions& o) {
  if (o.num_fields) return Unused(model, "num_fields");
  if (o.hidden) return Unused(model, "hidden");
  return Status::OK();
}

Status CreateMf(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectFieldOptions("mf", o));
  if (o.l1) return Unused("mf", "l1");
  MfOptions mf;
  if (o.dim) mf.dim = *o.dim;
  ApplyOptimizer(o, &mf.optimizer);
  mf.optimizer.l1 = 0;
  mf.optimizer.l2 = 0;
  if (o.l2) mf.reg = *o.l2;
  if (o.bias_l2) mf.bias_reg = *o.bias_l2;
  if (o.bias_scale) mf.bias_scale = *o.bias_scale;
  if (o.init_scale) mf.init_stddev = *o.init_scale;
  if (o.min_rating) mf.min_rating = *o.min_rating;
  if (o.max_rating) mf.max_rating = *o.max_rating;
  if (o.global_mean) mf.global_mean = *o.global_mean;
  EMBARK_RETURN_IF_ERROR(MfModel::Validate(mf));
  *out = std::make_unique<MfModel>(mf);
  return Status::OK();
}

Status CreateLr(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectRatingOptions("lr", o));
  EMBARK_RETURN_IF_ERROR(RejectFieldOptions("lr", o));
  if (o.dim) return Unused("lr", "dim");
  if (o.init_scale) return Unused("lr", "init_scale");
  LogisticRegressionOptions lr;
  ApplyOptimizer(o, &lr.optimizer);
  *out = std::make_unique<LogisticRegressionModel>(lr);
  return Status::OK();
}

Status CreateFm(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectRatingOptions("fm", o));
  EMBARK_RETURN_IF_ERROR(RejectFieldOptions("fm", o));
  FmOptions fm;
  if (o.dim) fm.dim = *o.dim;
  if (o.init_scale) fm.init_stddev = *o.init_scale;
  ApplyOptimizer(o, &fm.optimizer);
  EMBARK_RETURN_IF_ERROR(FmModel::Validate(fm));
  *out = std::make_unique<FmModel>(fm);
  return Status::OK();
}

Status CreateFfm(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectRatingOptions("ffm", o));
  if (o.hidden) return Unused("ffm", "hidden");
  FfmOptions ffm;
  if (o.dim) ffm.dim = *o.dim;
  if (o.num_fields) ffm.num_fields = *o.num_fields;
  if (o.init_scale) ffm.init_stddev = *o.init_scale;
  if (o.instance_norm) ffm.instance_norm = *o.instance_norm;
  // As for MF, --l2 is the model's own per-use penalty (FfmOptions::reg, see models/ffm.h);
  // the optimizer's small per-push l2 keeps its default.
  ApplyOptimizerWithModelL2(o, &ffm.optimizer, &ffm.reg);
  // The optimizer's per-push l2 was tuned on raw values; on normalised ones (gradients ~|x|
  // times smaller) it is that much stronger and only hurt (Frappe: test logloss 0.258 vs 0.225).
  if (ffm.instance_norm) ffm.optimizer.l2 = 0;
  EMBARK_RETURN_IF_ERROR(FfmModel::Validate(ffm));
  *out = std::make_unique<FfmModel>(ffm);
  return Status::OK();
}

Status CreateDeepFm(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectRatingOptions("deepfm", o));
  DeepFmOptions deepfm;
  if (o.dim) deepfm.dim = *o.dim;
  if (o.num_fields) deepfm.num_fields = *o.num_fields;
  if (o.hidden) deepfm.hidden = *o.hidden;
  if (o.init_scale) deepfm.init_stddev = *o.init_scale;
  // --l2 is the per-use penalty on "v" (DeepFmOptions::reg), as for FFM.
  ApplyOptimizerWithModelL2(o, &deepfm.optimizer, &deepfm.reg);
  EMBARK_RETURN_IF_ERROR(DeepFmModel::Validate(deepfm));
  *out = std::make_unique<DeepFmModel>(deepfm);
  return Status::OK();
}

// Options of the implicit-feedback models mean nothing to the others.
Status RejectRankingOptions(const std::string& model, const ModelOptions& o) {
  if (o.negatives && model != "imf") return Unused(model, "negatives");
  if (o.side_features && model != "imf") return Unused(model, "side_features");
  if (model == "two_tower") return Status::OK();
  if (o.score) return Unused(model, "score");
  if (o.temperature) return Unused(model, "temperature");
  if (o.logq_correction) return Unused(model, "logq_correction");
  if (o.tower) return Unused(model, "tower");
  if (o.item_bias) return Unused(model, "item_bias");
  return Status::OK();
}

Status CreateImplicitMf(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectRatingOptions("imf", o));
  EMBARK_RETURN_IF_ERROR(RejectFieldOptions("imf", o));
  if (o.l1) return Unused("imf", "l1");
  ImplicitMfOptions imf;
  if (o.dim) imf.dim = *o.dim;
  if (o.negatives) imf.negatives = *o.negatives;
  if (o.side_features) imf.side_features = *o.side_features;
  if (o.init_scale) imf.init_stddev = *o.init_scale;
  // --l2 is the model's per-use penalty (as for mf); the optimizer's l2 stays 0.
  ApplyOptimizerWithModelL2(o, &imf.optimizer, &imf.reg);
  EMBARK_RETURN_IF_ERROR(ImplicitMfModel::Validate(imf));
  *out = std::make_unique<ImplicitMfModel>(imf);
  return Status::OK();
}

Status CreateTwoTower(const ModelOptions& o, std::unique_ptr<Model>* out) {
  EMBARK_RETURN_IF_ERROR(RejectRatingOptions("two_tower", o));
  if (o.num_fields) return Unused("two_tower", "num_fields");
  if (o.l1) return Unused("two_tower", "l1");
  TwoTowerOptions tt;
  if (o.dim) tt.dim = tt.out_dim = *o.dim;
  if (o.hidden) tt.hidden = *o.hidden;
  if (o.init_scale) tt.init_stddev = *o.init_scale;
  if (o.score) tt.score = *o.score;
  if (o.temperature) tt.temperature = *o.temperature;
  if (o.logq_correction) tt.logq_correction = *o.logq_correction;
  if (o.tower) tt.tower = *o.tower;
  if (o.item_bias) tt.item_bias = *o.item_bias;
  ApplyOptimizerWithModelL2(o, &tt.optimizer, &tt.reg);
  EMBARK_RETURN_IF_ERROR(TwoTowerModel::Validate(tt));
  *out = std::make_unique<TwoTowerModel>(tt);
  return Status::OK();
}

}  // namespace

// The registry (models/model_registry.h): one line a model.
const std::vector<ModelInfo>& RegisteredModels() {
  static const std::vector<ModelInfo> kModels = {
      // name, task, formats (default first), epochs, batch, sync_every, local_sync,
      // all_cores_local, field_aware, rating_range, create
      {"mf", ModelTask::kRegression, {"ratings"}, MfOptions().suggested_epochs, 64, 256, true, true, false, true, CreateMf},
      {"lr", ModelTask::kClassification, {"libsvm", "libffm", "criteo", "csv"}, LogisticRegressionOptions().suggested_epochs,
       256, 16, false, false, false, false, CreateLr},
      {"fm", ModelTask::kClassification, {"libsvm", "libffm", "criteo", "csv"}, FmOptions().suggested_epochs, 256, 16,
       false, false, false, false, CreateFm},
      {"ffm", ModelTask::kClassification, {"libsvm", "libffm", "criteo", "csv"}, FfmOptions().suggested_epochs, 256, 16,
       false, false, true, false, CreateFfm},
      {"deepfm", ModelTask::kClassification, {"libsvm", "libffm", "criteo", "csv"}, DeepFmOptions().suggested_epochs,
       256, 16, false, false, true, false, CreateDeepFm},
      {"imf", ModelTask::kRanking, {"libffm", "ratings"}, ImplicitMfOptions().suggested_epochs, 256, 256, true, false,
       false, false, CreateImplicitMf},
      {"two_tower", ModelTask::kRanking, {"libffm", "ratings"}, TwoTowerOptions().suggested_epochs, 256, 16, false,
       false, false, false, CreateTwoTower},
  };
  return kModels;
}

bool ModelInfo::Reads(const std::string& format) const {
  for (const std::string& f : formats)
    if (f == format) return true;
  return false;
}

const ModelInfo* FindModel(const std::string& name) {
  for (const ModelInfo& m : RegisteredModels())
    if (name == m.name) return &m;
  return nullptr;
}

std::string KnownModelList() {
  std::string known;
  for (const ModelInfo& m : RegisteredModels()) known += (known.empty() ? "" : ", ") + std::string(m.name);
  return known;
}

std::vector<std::string> KnownModelNames() {
  std::vector<std::string> names;
  for (const ModelInfo& m : RegisteredModels()) names.push_back(m.name);
  return names;
}

Status CreateModel(const std::string& name, const ModelOptions& options,
                   std::unique_ptr<Model>* out) {
  const ModelInfo* info = FindModel(name);
  if (info == nullptr) return Status::InvalidArgument("unknown model '" + name + "' (known: " + KnownModelList() + ")");
  EMBARK_RETURN_IF_ERROR(CheckCommon(name, options));
  EMBARK_RETURN_IF_ERROR(RejectRankingOptions(name, options));
  if (options.instance_norm && name != "ffm") return Unused(name, "instance_norm");
  return info->create(options, out);
}

int SuggestedEpochs(const std::string& name) {
  const ModelInfo* info = FindModel(name);
  return info == nullptr ? 0 : info->suggested_epochs;
}

Status ParseHiddenLayers(const std::string& text, std::vector<uint32_t>* out) {
  out->clear();
  if (text.empty() || text == "none") return Status::OK();
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    // Digits only: strtoul alone would accept "-1", "+3" and " 7".
    bool digits = !item.empty() && item.size() <= 9;
    for (char c : item) digits = digits && c >= '0' && c <= '9';
    const unsigned long width = digits ? std::strtoul(item.c_str(), nullptr, 10) : 0;
    if (width == 0) {
      out->clear();
      return Status::InvalidArgument("hidden layers '" + text + "': '" + item +
                                     "' is not a positive integer (want e.g. 64,32 or none)");
    }
    out->push_back(static_cast<uint32_t>(width));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::OK();
}

Status ParseOptimizerKind(const std::string& name, OptimizerKind* out) {
  if (name == "sgd") {
    *out = OptimizerKind::kSgd;
  } else if (name == "adagrad") {
    *out = OptimizerKind::kAdaGrad;
  } else if (name == "rowadagrad") {
    *out = OptimizerKind::kRowAdaGrad;
  } else if (name == "ftrl") {
    *out = OptimizerKind::kFtrl;
  } else if (name == "adam") {
    *out = OptimizerKind::kAdam;
  } else {
    return Status::InvalidArgument("unknown optimizer '" + name +
                                   "' (known: sgd, adagrad, rowadagrad, ftrl, adam)");
  }
  return Status::OK();
}

}  // namespace embark
