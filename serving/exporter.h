// Exporter: `embark export` -- turns a training checkpoint into a serving bundle
// (serving/bundle.h, format in serving/bundle_format.md), optionally as a delta against an
// earlier bundle, with an optional raw-id map and user profiles (embeddings + PCA).
//
// What it does, in order: reads the checkpoint (serving/checkpoint_reader.h), asks the model
// to describe itself (Model::Describe, models/model_description.h) and applies its storage
// transforms so the bundle holds the model's real parameters (MF: the bias column times
// bias_scale, the global offset plus the configured mean), writes that description, the
// fields, hashing and metrics into the manifest, optionally re-reads training files to map
// keys back to raw ids, and writes the bundle atomically. It knows no model by name.
//
// User profiles: the model's embedding columns (ModelDescription::embedding) -- MF and imf:
// the user factors p_u; two_tower: the user-side embeddings; FM and DeepFM: the factor
// columns of table "v"; FFM: its field-aware factors; LR has none -- with their keys (and ids
// when known), optionally projected by PCA.
//
// Top-K data: --seen_from stores the items each user interacted with in those files, which
// /topk leaves out. Ranking models get an item catalogue (items with their item-side
// features): the --items file, or else -- for models whose item-id table also holds item
// features (two_tower) -- every item of the --seen_from and --ids_from files with the features
// of its first occurrence.
//
// Thread-safety: RunExport is reentrant for distinct outputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/bundle.h"

namespace embark {

struct ExportOptions {
  std::string checkpoint;        // epoch-N directory, or a --checkpoint_dir (newest complete)
  std::string out;               // bundle directory to write
  BundleDtype dtype = BundleDtype::kFloat32;
  std::string base;              // non-empty: write a delta against this bundle
  std::string ids_from;          // training files (ExpandInputs syntax) to read raw ids from
  std::string format;            // their format; default: the checkpoint's
  std::string user_profiles;     // non-empty: write the user vectors to this .npy path
  uint32_t pca_dim = 0;          // > 0: project the user vectors to this many dimensions
  int profile_field = -1;        // >= 0: only keys of this field (needs ids_from)
  // Top-K data (serving/topk_data.h), for mf, imf and two_tower bundles:
  std::string seen_from;         // interaction files (in `format`): the items each user has seen
  std::string items;             // ranking models: the item catalogue (libffm, one item a line)
};

struct ExportTableReport {
  std::string name;
  uint64_t rows = 0;             // rows written (a delta: changed rows)
  uint64_t deleted = 0;          // a delta: keys removed
  uint64_t with_ids = 0;         // rows whose raw id was found
};

struct ExportReport {
  std::string checkpoint_dir;    // the epoch-N directory read
  std::string bundle_id;
  bool delta = false;
  std::vector<ExportTableReport> tables;
  uint64_t seen_users = 0;        // users with seen items (--seen_from)
  uint64_t seen_pairs = 0;        // their (user, item) pairs
  uint64_t catalogue_items = 0;   // items of the stored catalogue (0: none stored)
  uint64_t profile_rows = 0;
  uint32_t profile_dim = 0;
  double explained_variance_ratio = 0;  // with pca_dim
};

Status RunExport(const ExportOptions& options, ExportReport* report);

// The files written for --user_profiles=PATH: PATH itself and siblings named from its stem
// (PATH without ".npy"): STEM.keys.npy, STEM.ids.txt, STEM.pca_components.npy,
// STEM.pca_mean.npy, STEM.json.
std::string ProfileStem(const std::string& path);

}  // namespace embark
