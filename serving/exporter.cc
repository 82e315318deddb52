#include "serving/exporter.h"

#include <algorithm>
#include <cmath>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <memory>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/file_env.h"
#include "core/json_text.h"
#include "models/interaction_fields.h"
#include "models/model_registry.h"
#include "serving/checkpoint_reader.h"
#include "serving/npy.h"
#include "serving/pca.h"
#include "serving/topk_data.h"
#include "data/input_split.h"
#include "data/line_parser.h"

namespace embark {

namespace {

std::string Hex16(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

// A raw id found in the training data for a key, with the field it was read in.
struct RawId {
  uint16_t field = 0;
  std::string id;
};
using IdMap = std::unordered_map<uint64_t, RawId>;

// Candidate raw ids of a line: its columns (split at tab and comma, as criteo columns) and
// its finer tokens (also split at spaces and ':', as ratings, libsvm and libffm tokens), each
// without surrounding spaces or a trailing '\r'.
void Candidates(std::string_view line, std::vector<std::string_view>* out) {
  out->clear();
  auto split = [&](const char* seps) {
    size_t start = 0;
    for (size_t i = 0; i <= line.size(); ++i) {
      if (i < line.size() && std::string_view(seps).find(line[i]) == std::string_view::npos) continue;
      std::string_view t = line.substr(start, i - start);
      while (!t.empty() && (t.front() == ' ')) t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\r')) t.remove_suffix(1);
      out->push_back(t);
      start = i + 1;
    }
  };
  split("\t,");
  split("\t, :");
}

// Reads `spec` with the training parser and records, for every feature key of a table, the
// raw text that hashes to it (FeatureKey(field, text) == key). Parsing through LineParser keeps
// headers, separators and bad lines exactly as training saw them; the raw text is recovered by
// hashing the line's candidate tokens, so only ids that really produce the key are recorded
// (criteo's integer columns are bucketed before hashing and get no id).
Status BuildIdMap(const std::string& spec, DataFormat format, const Model& model, IdMap* ids) {
  std::vector<std::string> files;
  EMBARK_RETURN_IF_ERROR(ExpandInputs(spec, &files));
  std::unique_ptr<LineParser> parser = LineParser::Create(format);
  Batch batch;
  std::vector<std::string_view> tokens;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) return Status::NotFound("--ids_from: cannot read " + file);
    parser->StartFile();
    uint64_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      batch.Clear();
      BadLineReason reason;
      if (parser->Parse(line, line_no == 1, &batch, &reason) != LineParser::Outcome::kExample) continue;
      Candidates(line, &tokens);
      for (size_t f = 0; f < batch.num_features(); ++f) {
        const uint64_t key = batch.keys[f];
        const uint16_t field = batch.fields[f];
        if (model.TableOfField(field) < 0 || ids->count(key)) continue;
        for (std::string_view t : tokens) {
          if (FeatureKey(field, t) == key) {
            (*ids)[key] = RawId{field, std::string(t)};
            break;
          }
        }
      }
    }
  }
  return Status::OK();
}

// A description's number as JSON: integers as integers ("dim": 8, not 8.0).
nlohmann::ordered_json JsonOfNumber(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9007199254740992.0) return static_cast<int64_t>(v);
  if (!std::isfinite(v)) return nullptr;
  return v;
}

// The manifest's "fields" entry of a binding: a plain field number as a number, a range or
// "all" as text.
nlohmann::ordered_json JsonOfFields(const std::string& fields) {
  if (!fields.empty() && fields.size() < 6 && fields.find_first_not_of("0123456789") == std::string::npos)
    return std::stoi(fields);
  return fields;
}

// The manifest's "model" object, and the model's storage transforms applied to the tables so
// the bundle holds the real parameters (models/model_description.h).
nlohmann::ordered_json DescribeModel(const Checkpoint& c, const ModelDescription& d,
                                     std::vector<BundleTableData>* tables) {
  nlohmann::ordered_json j;
  j["name"] = c.model_name;
  nlohmann::ordered_json options = nlohmann::ordered_json::object();
  for (const auto& [name, value] : c.options) options[name] = value;
  j["options"] = options;
  j["task"] = ModelTaskName(d.task);
  for (const ModelAttribute& a : d.attributes) {
    if (a.list) {
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (double v : a.values) list.push_back(JsonOfNumber(v));
      j[a.name] = list;
    } else {
      j[a.name] = a.values.empty() ? nlohmann::ordered_json() : JsonOfNumber(a.values[0]);
    }
  }
  j["prediction"] = d.prediction;
  nlohmann::ordered_json transforms = nlohmann::ordered_json::array();
  for (const StorageTransform& x : d.transforms) {
    for (BundleTableData& t : *tables) {
      if (t.name != x.table || x.column >= t.dim) continue;
      const size_t rows = t.dense ? 1 : t.keys.size();
      for (size_t r = 0; r < rows && r * t.dim + x.column < t.values.size(); ++r) {
        float& v = t.values[r * t.dim + x.column];
        v = v * x.scale + x.offset;
      }
    }
    transforms.push_back({{"table", x.table}, {"column", x.column}, {"scale", JsonOfNumber(x.scale)},
                          {"offset", JsonOfNumber(x.offset)}});
  }
  // Written whenever the model has transforms, so a reader knows exactly what to undo;
  // bundles from before it carry only MF's "bias_scale_applied" (serving/bundle_source.cc).
  if (!d.transforms.empty()) j["stored_transforms"] = transforms;
  for (BundleTableData& t : *tables)
    for (const TableDescription& td : d.tables)
      if (td.name == t.name) t.columns = td.columns;
  return j;
}

nlohmann::ordered_json DescribeFeatures(const Checkpoint& c, const ModelDescription& d) {
  nlohmann::ordered_json j;
  j["format"] = c.format;
  j["hashing"] = "embark-feature-key-v1";
  j["key_of_raw_id"] = "HashBytes(id, FieldSalt(field)); see bundle_format.md";
  nlohmann::ordered_json fields = nlohmann::ordered_json::array();
  for (const FieldBinding& f : d.fields) {
    nlohmann::ordered_json e;
    e["field"] = JsonOfFields(f.fields);
    if (!f.meaning.empty()) e["meaning"] = f.meaning;
    e["table"] = f.table;
    fields.push_back(e);
  }
  j["fields"] = fields;
  return j;
}

// The table and columns [begin, end) of the model's embedding vectors, or an error for a model
// without them (LR).
Status ProfileColumns(const Checkpoint& c, const ModelDescription& d, std::string* table, uint32_t* begin,
                      uint32_t* end) {
  if (!d.embedding) return Status::InvalidArgument("--user_profiles: model '" + c.model_name + "' has no embedding vectors");
  *table = d.embedding->table;
  *begin = d.embedding->begin;
  *end = d.embedding->end;
  return Status::OK();
}

Status WriteProfiles(const ExportOptions& opts, const Checkpoint& c, const ModelDescription& d,
                     const std::vector<BundleTableData>& tables, const IdMap& ids, ExportReport* report) {
  std::string table_name;
  uint32_t begin = 0, end = 0;
  EMBARK_RETURN_IF_ERROR(ProfileColumns(c, d, &table_name, &begin, &end));
  if (opts.profile_field >= 0 && opts.ids_from.empty())
    return Status::InvalidArgument("--profile_field needs --ids_from (the field of a key is known only from the data)");
  const BundleTableData* table = nullptr;
  for (const BundleTableData& t : tables)
    if (t.name == table_name) table = &t;
  if (table == nullptr) return Status::Internal("no table " + table_name);
  const uint32_t width = end - begin;
  std::vector<uint64_t> keys;
  std::vector<float> vectors;
  std::vector<std::string> row_ids;
  for (size_t r = 0; r < table->keys.size(); ++r) {
    const auto it = ids.find(table->keys[r]);
    if (opts.profile_field >= 0 && (it == ids.end() || it->second.field != opts.profile_field)) continue;
    keys.push_back(table->keys[r]);
    const float* row = table->values.data() + r * table->dim;
    vectors.insert(vectors.end(), row + begin, row + end);
    if (!opts.ids_from.empty()) row_ids.push_back(it == ids.end() ? std::string() : it->second.id);
  }
  const std::string stem = ProfileStem(opts.user_profiles);
  nlohmann::ordered_json summary;
  summary["table"] = table_name;
  summary["columns"] = {begin, end};
  summary["rows"] = keys.size();
  summary["source_checkpoint"] = c.dir;
  if (opts.profile_field >= 0) summary["field"] = opts.profile_field;
  report->profile_rows = keys.size();
  report->profile_dim = width;
  if (opts.pca_dim > 0) {
    PcaResult pca;
    EMBARK_RETURN_IF_ERROR(FitPca(vectors.data(), keys.size(), width, opts.pca_dim, &pca));
    std::vector<float> projected;
    ProjectPca(pca, vectors.data(), keys.size(), &projected);
    vectors.swap(projected);
    report->profile_dim = opts.pca_dim;
    report->explained_variance_ratio = pca.explained_variance_ratio;
    EMBARK_RETURN_IF_ERROR(WriteNpyFile(stem + ".pca_components.npy", "<f4", {pca.dims, pca.input_dim},
                                        pca.components.data(), pca.components.size() * 4));
    EMBARK_RETURN_IF_ERROR(WriteNpyFile(stem + ".pca_mean.npy", "<f4", {pca.input_dim}, pca.mean.data(), pca.mean.size() * 4));
    summary["pca_dim"] = opts.pca_dim;
    summary["input_dim"] = width;
    summary["explained_variance_ratio"] = pca.explained_variance_ratio;
    summary["explained_variance"] = pca.explained_variance;
    summary["projection"] = "profile = pca_components @ (vector - pca_mean)";
  }
  summary["dim"] = report->profile_dim;
  EMBARK_RETURN_IF_ERROR(WriteNpyFile(opts.user_profiles, "<f4", {keys.size(), report->profile_dim}, vectors.data(), vectors.size() * 4));
  EMBARK_RETURN_IF_ERROR(WriteNpyFile(stem + ".keys.npy", "<u8", {keys.size()}, keys.data(), keys.size() * 8));
  if (!row_ids.empty()) {
    std::string text;
    for (const std::string& id : row_ids) text += id + "\n";
    EMBARK_RETURN_IF_ERROR(WriteFileDurably(FileEnv::Default(), stem + ".ids.txt", text));
  }
  return WriteFileDurably(FileEnv::Default(), stem + ".json", JsonText(summary) + "\n");
}

// Seen items and the item catalogue (serving/topk_data.h) as arrays of the bundle.
Status AddTopKData(const ExportOptions& opts, const Checkpoint& c, DataFormat format, BundleSpec* spec,
                   ExportReport* report) {
  const Model& model = *c.model;
  const bool mf = model.Describe().row_topk.has_value();  // ranks its item table by rows (MF)
  if (!mf && !model.IsRanking() && (!opts.seen_from.empty() || !opts.items.empty()))
    return Status::InvalidArgument("--seen_from and --items apply to the models with top-K (mf, imf, two_tower), not " + c.model_name);
  if (mf && !opts.items.empty()) return Status::InvalidArgument("--items applies to the ranking models (imf, two_tower); mf ranks its item table");
  if (!opts.seen_from.empty()) {
    SeenItems seen;
    EMBARK_RETURN_IF_ERROR(ReadSeenItems(opts.seen_from, format, &seen));
    AddSeenItemsArrays(seen, spec);
    report->seen_users = seen.users.size();
    report->seen_pairs = seen.items.size();
  }
  if (!model.IsRanking()) return Status::OK();
  // Does the item-id table hold anything but item ids? Then top-K needs the item features.
  const int item_table = model.TableOfField(kItemIdField);
  bool needs_features = false;
  for (uint32_t f = 0; f <= 0xffff && !needs_features; ++f)
    needs_features = f != kItemIdField && item_table >= 0 && model.TableOfField(static_cast<uint16_t>(f)) == item_table;
  ItemCatalogue catalogue;
  if (!opts.items.empty()) {
    EMBARK_RETURN_IF_ERROR(AddToCatalogue(opts.items, DataFormat::kLibffm, true, &catalogue));
  } else if (needs_features) {
    if (!opts.seen_from.empty()) EMBARK_RETURN_IF_ERROR(AddToCatalogue(opts.seen_from, format, false, &catalogue));
    if (!opts.ids_from.empty()) EMBARK_RETURN_IF_ERROR(AddToCatalogue(opts.ids_from, format, false, &catalogue));
  }
  if (catalogue.items.empty()) return Status::OK();
  SortCatalogue(&catalogue);
  AddCatalogueArrays(catalogue, spec);
  report->catalogue_items = catalogue.items.size();
  return Status::OK();
}

// The format a checkpoint without one (written before checkpoints recorded it) was read in.
std::string DefaultFormat(const std::string& model) {
  const ModelInfo* info = FindModel(model);
  return info == nullptr ? "libsvm" : info->default_format();
}

}  // namespace

std::string ProfileStem(const std::string& path) {
  const std::string ext = ".npy";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    return path.substr(0, path.size() - ext.size());
  return path;
}

Status RunExport(const ExportOptions& opts, ExportReport* report) {
  if (opts.checkpoint.empty()) return Status::InvalidArgument("export: --checkpoint=DIR is required");
  if (opts.out.empty()) return Status::InvalidArgument("export: --out=BUNDLE is required");
  if (opts.pca_dim > 0 && opts.user_profiles.empty()) return Status::InvalidArgument("export: --pca_dim needs --user_profiles");
  *report = ExportReport();
  Checkpoint c;
  EMBARK_RETURN_IF_ERROR(ReadCheckpoint(opts.checkpoint, &c));
  report->checkpoint_dir = c.dir;

  BundleSpec spec;
  spec.dtype = opts.dtype;
  for (CheckpointTable& t : c.tables) {
    BundleTableData d;
    d.name = t.config.name;
    d.dim = t.width;
    d.dense = t.config.dense;
    d.keys = std::move(t.keys);
    d.values = std::move(t.values);
    spec.tables.push_back(std::move(d));
  }
  const ModelDescription description = c.model->Describe();
  spec.model_json = JsonText(DescribeModel(c, description, &spec.tables));
  spec.features_json = JsonText(DescribeFeatures(c, description));
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  for (const auto& [name, value] : c.metrics) metrics[name] = value;  // NaN: null
  spec.metrics_json = JsonText(metrics);
  nlohmann::ordered_json source;
  source["checkpoint"] = c.dir;
  source["epoch"] = c.epoch;
  source["servers"] = c.servers;
  source["manifest_hash"] = Hex16(c.manifest_hash);
  if (c.seed.has_value()) source["seed"] = *c.seed;
  spec.source_json = JsonText(source);

  const std::string format_name = !opts.format.empty() ? opts.format : (!c.format.empty() ? c.format : DefaultFormat(c.model_name));
  DataFormat format = DataFormat::kLibsvm;
  if (!opts.ids_from.empty() || !opts.seen_from.empty()) EMBARK_RETURN_IF_ERROR(ParseDataFormat(format_name, &format));
  EMBARK_RETURN_IF_ERROR(AddTopKData(opts, c, format, &spec, report));

  IdMap ids;
  if (!opts.ids_from.empty()) {
    EMBARK_RETURN_IF_ERROR(BuildIdMap(opts.ids_from, format, *c.model, &ids));
    for (BundleTableData& t : spec.tables) {
      if (t.dense) continue;
      t.ids.resize(t.keys.size());
      for (size_t r = 0; r < t.keys.size(); ++r) {
        const auto it = ids.find(t.keys[r]);
        if (it != ids.end()) t.ids[r] = it->second.id;
      }
    }
  }
  if (!opts.user_profiles.empty()) EMBARK_RETURN_IF_ERROR(WriteProfiles(opts, c, description, spec.tables, ids, report));

  const BundleSpec* to_write = &spec;
  BundleSpec delta;
  if (!opts.base.empty()) {
    std::unique_ptr<Bundle> base;
    EMBARK_RETURN_IF_ERROR(Bundle::Open(opts.base, &base));
    EMBARK_RETURN_IF_ERROR(MakeDelta(*base, spec, &delta));
    to_write = &delta;
    report->delta = true;
  }
  for (const BundleTableData& t : to_write->tables) {
    ExportTableReport r;
    r.name = t.name;
    r.rows = t.keys.size();
    r.deleted = t.deleted.size();
    for (const std::string& id : t.ids) r.with_ids += id.empty() ? 0 : 1;
    report->tables.push_back(r);
  }
  return WriteBundle(opts.out, *to_write, &report->bundle_id);
}

}  // namespace embark
