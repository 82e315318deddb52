// BundleSource: serves the bundle directory at a path (serving/bundle.h), the ModelSource of
// `embark serve --bundle=DIR`.
//
// Load opens the bundle (checksums verified), rebuilds the model with CreateModel from the
// manifest's model name and options (models/model_spec.h), and hands the tables to
// ServingModel in the model's own storage layout -- the exporter stores MF's real biases and
// mean (bias column times bias_scale, mean plus offset, see serving/exporter.h), which are
// turned back here so Model::Predict sees what the trainer's servers held. float16 bundles
// and transformed tables are converted into memory the model owns; float32 tables are used in
// place from the mapping.
//
// When the directory holds a delta bundle, it is applied to the bundle now served (its
// base_id must equal that bundle's id): ApplyDelta writes base + delta as a full bundle into a
// private temporary directory, which is opened and then deleted (the open mapping keeps the
// data alive until the version is dropped).
//
// Rows of keys the bundle lacks are initialised as the trainer's servers would (see
// serving/serving_model.h), from the manifest's source.seed when it records one, else from
// `default_seed` (the training job's --seed; 1 unless it was changed).
//
// Stamp is the inode, size and modification time of DIR/manifest.json: WriteBundle replaces a
// bundle by renaming a new directory into place, so every publication changes it.
//
// Thread-safety: Load and Stamp may be called from different threads; Load is not reentrant
// (ServeApp serialises reloads).
#pragma once

#include <string>

#include "serving/serve_app.h"
#include "serving/serving_model.h"

namespace embark {

class BundleSource : public ModelSource {
 public:
  BundleSource(std::string dir, const ServingOptions& options, uint64_t default_seed)
      : dir_(std::move(dir)), options_(options), default_seed_(default_seed) {}

  Status Load(const std::shared_ptr<const ServingModel>& current,
              std::shared_ptr<const ServingModel>* next) override;
  std::string Stamp() override;
  std::string Describe() const override { return "bundle " + dir_; }

 private:
  std::string dir_;
  ServingOptions options_;
  uint64_t default_seed_;
};

class Bundle;
// Builds a ServingModel from an open bundle (exposed for tests). `path` is reported in info().
Status ServingModelFromBundle(std::shared_ptr<const Bundle> bundle, const std::string& path,
                              const ServingOptions& options, uint64_t default_seed,
                              std::shared_ptr<const ServingModel>* out);

}  // namespace embark
