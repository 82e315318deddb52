// Model factory: builds a Model from its name and the options a user may have set.
//
// Every option is optional: an option left unset takes the model's own default (MfOptions,
// LogisticRegressionOptions, FmOptions, FfmOptions, DeepFmOptions), so
// `CreateModel("mf", {}, &m)` gives the tuned model.
// An option set for a model it means nothing to (a rating range for "lr", a dim for "lr", an
// l1 for "mf") is an InvalidArgument rather than silently ignored, so a typo in a job file is
// caught at start-up. Callers should therefore set only the options the user actually gave.
//
// Meaning of the shared options per model:
//   dim         mf: K factors (rows are K+1 wide);  fm, deepfm: K factors (rows K+1 wide);
//               ffm: K factors per field (rows 1 + num_fields*K wide);  lr: n/a
//   optimizer   the server-side optimizer of every table (the bias tables keep l1 = l2 = 0);
//               a kind other than the model's default starts from that kind's usual lr
//               (sgd 0.01, adagrad 0.05, ftrl 0.1, adam 0.001), l1/l2 keep the model's values
//   lr          step size; FTRL alpha (deepfm's MLP layers step at lr * mlp_lr_scale)
//   l1          optimizer L1 (FTRL only; mf: n/a)
//   l2          lr/fm: optimizer L2 per push;  mf: the model's per-rating L2 on the factors
//               (MfOptions::reg), because MF regularises in its gradient (see models/mf.h);
//               ffm/deepfm: likewise the model's L2 per use of a weight (FfmOptions::reg,
//               DeepFmOptions::reg on "v"; see models/ffm.h), the optimizer's per-push l2
//               and DeepFM's mlp_l2 keep their defaults
//   bias_l2     mf only: per-rating L2 on the user and item biases
//   bias_scale  mf only: the biases' step relative to the factors' (MfOptions::bias_scale)
//   ftrl_beta   FTRL beta
//   init_scale  standard deviation of the normal init of factor rows (mf, fm, ffm, deepfm;
//               lr starts at 0; DeepFM's MLP layers use their own fan-in scales)
//   min_rating, max_rating   mf only: Predict clips to this range
//   global_mean mf only: mu before its learned offset; pass the training mean when known
//   num_fields  ffm, deepfm: fields 0..num_fields-1 are used, features of higher fields are
//               ignored (see models/ffm.h); default 10 (Frappe). `embark train` always sets
//               it, from the data when --num_fields is not given (worker/field_count.h)
//   instance_norm ffm only: scale each example's values by 1/|x| (see models/ffm.h)
//   hidden      deepfm only: hidden layer widths, e.g. {64, 32}; empty = no hidden layer
//               two_tower: hidden layer widths of each tower
//   imf, two_tower (implicit feedback, models/implicit_mf.h, models/two_tower.h):
//               dim = K (two_tower: the embedding width and the tower output width); l2 = the
//               per-use L2 of the embedding rows; negatives and side_features (imf), score,
//               temperature and logq_correction (two_tower) belong to one model each
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "models/two_tower.h"
#include "ps/table_config.h"

namespace embark {

struct ModelOptions {
  std::optional<uint32_t> dim;
  std::optional<OptimizerKind> optimizer;
  std::optional<float> lr;
  std::optional<float> l1;
  std::optional<float> l2;
  std::optional<float> bias_l2;
  std::optional<float> bias_scale;  // mf only: b = bias_scale * stored bias column (MfOptions)
  std::optional<float> ftrl_beta;
  std::optional<float> init_scale;
  std::optional<float> min_rating;
  std::optional<float> max_rating;
  std::optional<float> global_mean;
  std::optional<uint32_t> num_fields;
  std::optional<std::vector<uint32_t>> hidden;
  std::optional<uint32_t> negatives;        // imf only: in-batch negatives per positive
  std::optional<TwoTowerScore> score;       // two_tower only: dot or cosine
  std::optional<float> temperature;         // two_tower only: scores are divided by this
  std::optional<bool> logq_correction;      // two_tower only: subtract log in-batch frequency
  std::optional<bool> side_features;        // imf only: also the user-side and item-side fields
  std::optional<TwoTowerTower> tower;       // two_tower only: mlp, identity or residual towers
  std::optional<bool> item_bias;            // two_tower only: add an item bias to the score
  std::optional<bool> instance_norm;        // ffm only: scale each example's values by 1/|x|
};

// Names accepted by CreateModel, in a stable order.
std::vector<std::string> KnownModelNames();

// Builds model `name` ("mf", "lr", "fm", "ffm", "deepfm", "imf", "two_tower"). InvalidArgument for an unknown
// name (the message lists the known ones), an option the model does not use, or an out-of-range value.
Status CreateModel(const std::string& name, const ModelOptions& options,
                   std::unique_ptr<Model>* out);

// Passes over the training data the model's defaults were tuned for; 0 for an unknown name.
int SuggestedEpochs(const std::string& name);

// "64,32" -> {64, 32} for ModelOptions::hidden; "" or "none" -> no hidden layer.
// InvalidArgument for anything but comma-separated positive integers.
Status ParseHiddenLayers(const std::string& text, std::vector<uint32_t>* out);

// "sgd", "adagrad", "ftrl", "adam" (lower case) -> OptimizerKind; InvalidArgument otherwise.
Status ParseOptimizerKind(const std::string& name, OptimizerKind* out);

}  // namespace embark
