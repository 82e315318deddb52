// PublishDirSource: the ModelSource of `embark serve --watch --bundle=D` when D is a
// live-publishing directory (serving/publish_dir.h: versions v-NNNNNNNNNN, no manifest.json
// of its own) rather than one bundle.
//
// Load lists D, plans (PlanPublishedVersions) and applies each planned version in order
// through a BundleSource on that version's directory: a full bundle replaces what is served, a
// delta is applied to the version before it (its base id must match). Requests keep the old
// version until the whole plan is applied, since ServeApp swaps the result in once. A gap or a
// version that fails to open (a damaged file is named by Bundle::Open) stops the plan: when
// nothing was applied it is the reload's error (the served version stays); otherwise the
// versions before it are served and the refusal is logged as an error.
//
// Stamp is the newest version name in D, so the watcher reloads when a version appears.
//
// Thread-safety: as BundleSource (ServeApp serialises Load).
#pragma once

#include <cstdint>
#include <string>

#include "serving/serve_app.h"
#include "serving/serving_model.h"

namespace embark {

class PublishDirSource : public ModelSource {
 public:
  PublishDirSource(std::string dir, const ServingOptions& options, uint64_t default_seed)
      : dir_(std::move(dir)), options_(options), default_seed_(default_seed) {}

  Status Load(const std::shared_ptr<const ServingModel>& current, std::shared_ptr<const ServingModel>* next) override;
  std::string Stamp() override;
  std::string Describe() const override { return "publish directory " + dir_; }

  // True when `dir` is a live-publishing directory: a directory without manifest.json.
  static bool IsPublishDir(const std::string& dir);

 private:
  std::string dir_;
  ServingOptions options_;
  uint64_t default_seed_;
  uint64_t served_ = 0;  // sequence of the version last returned by Load
};

}  // namespace embark
