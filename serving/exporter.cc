#include "serving/exporter.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "models/deepfm.h"
#include "models/ffm.h"
#include "models/fm.h"
#include "models/interaction_fields.h"
#include "models/mf.h"
#include "serving/checkpoint_reader.h"
#include "serving/json.h"
#include "serving/npy.h"
#include "serving/pca.h"
#include "serving/topk_data.h"
#include "worker/input_split.h"
#include "worker/line_parser.h"

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

// Model description for the manifest, and the storage transforms applied to the tables.
std::string DescribeModel(const Checkpoint& c, std::vector<BundleTableData>* tables) {
  std::string options = "{";
  for (size_t i = 0; i < c.options.size(); ++i)
    options += (i ? ", " : "") + JsonQuote(c.options[i].first) + ": " + JsonQuote(c.options[i].second);
  options += "}";
  std::string j = "{\"name\": " + JsonQuote(c.model_name) + ", \"options\": " + options;
  if (const auto* mf = dynamic_cast<const MfModel*>(c.model.get())) {
    const MfOptions& o = mf->options();
    const uint32_t k = o.dim;
    for (BundleTableData& t : *tables) {
      if (t.name == "user" || t.name == "item") {
        // Stored as b / bias_scale so biases step faster (models/mf.h); export the real b.
        for (size_t r = 0; r < t.keys.size(); ++r) t.values[r * t.dim + k] *= o.bias_scale;
        t.columns = std::string(t.name == "user" ? "p_u" : "q_i") + "[0.." + std::to_string(k) + ") then the bias " +
                    (t.name == "user" ? "b_u" : "b_i") + " (column " + std::to_string(k) + ")";
      } else if (t.name == "global") {
        t.values[0] += o.global_mean;  // the table holds a learned offset to the configured mean
        t.columns = "mu, the global mean rating (configured mean plus the learned offset)";
      }
    }
    j += ", \"dim\": " + std::to_string(k) + ", \"bias_column\": " + std::to_string(k) +
         ", \"min_rating\": " + JsonNumber(o.min_rating) + ", \"max_rating\": " + JsonNumber(o.max_rating) +
         ", \"bias_scale_applied\": " + JsonNumber(o.bias_scale) +
         ", \"prediction\": \"clip(mu + b_u + b_i + dot(p_u, q_i), min_rating, max_rating); a missing user or item contributes 0\"";
  } else if (const auto* fm = dynamic_cast<const FmModel*>(c.model.get())) {
    const uint32_t k = fm->options().dim;
    for (BundleTableData& t : *tables) {
      if (t.name == "v") t.columns = "w (linear weight) then v[0.." + std::to_string(k) + ")";
      if (t.name == "bias") t.columns = "the intercept";
    }
    j += ", \"dim\": " + std::to_string(k) +
         ", \"prediction\": \"sigmoid(bias + sum_i w_i x_i + sum_{i<j} dot(v_i, v_j) x_i x_j)\"";
  } else if (const auto* ffm = dynamic_cast<const FfmModel*>(c.model.get())) {
    const FfmOptions& o = ffm->options();
    for (BundleTableData& t : *tables) {
      if (t.name == "v") {
        t.columns = "w (linear weight) then num_fields blocks of " + std::to_string(o.dim) +
                    ": block g (columns 1+g*dim ..) is the vector used against features of field g";
      }
      if (t.name == "bias") t.columns = "the intercept";
    }
    j += ", \"dim\": " + std::to_string(o.dim) + ", \"num_fields\": " + std::to_string(o.num_fields) +
         ", \"prediction\": \"sigmoid(bias + sum_i w_i x_i + sum_{i<j} dot(v_{i,field(j)}, v_{j,field(i)}) x_i x_j); features of fields >= num_fields are ignored\"";
  } else if (const auto* deepfm = dynamic_cast<const DeepFmModel*>(c.model.get())) {
    const DeepFmOptions& o = deepfm->options();
    std::string hidden;
    uint32_t in = o.num_fields * o.dim;
    const size_t layers = o.hidden.size();
    for (size_t l = 0; l <= layers; ++l) {
      const std::string name = "mlp" + std::to_string(l);
      const uint32_t out = l < layers ? o.hidden[l] : 1;
      for (BundleTableData& t : *tables)
        if (t.name == name) t.columns = std::to_string(out) + " x " + std::to_string(in) + " weights, row-major (row o = unit o)";
      in = out;
    }
    for (size_t l = 0; l < layers; ++l) hidden += (l ? ", " : "") + std::to_string(o.hidden[l]);
    for (BundleTableData& t : *tables) {
      if (t.name == "v") t.columns = "w (linear weight) then v[0.." + std::to_string(o.dim) + ")";
      if (t.name == "bias") t.columns = "the intercept (also the output bias of the MLP)";
      if (t.name == "mlp_bias") t.columns = "b_0, b_1, ... of the hidden layers, one after another";
    }
    j += ", \"dim\": " + std::to_string(o.dim) + ", \"num_fields\": " + std::to_string(o.num_fields) +
         ", \"hidden\": [" + hidden + "]" +
         ", \"prediction\": \"sigmoid(FM part as fm + w_out . h_L), h_0 = per-field sums of v_i x_i, h_l = relu(W_l h_{l-1} + b_l); see models/deepfm.h\"";
  } else {
    for (BundleTableData& t : *tables) {
      if (t.name == "w") t.columns = "w, the weight of the feature";
      if (t.name == "bias") t.columns = "the intercept";
    }
    j += ", \"prediction\": \"sigmoid(bias + sum_i w_i x_i)\"";
  }
  return j + "}";
}

std::string DescribeFeatures(const Checkpoint& c) {
  std::string j = "{\"format\": " + JsonQuote(c.format) +
                  ", \"hashing\": \"embark-feature-key-v1\""
                  ", \"key_of_raw_id\": \"HashBytes(id, FieldSalt(field)); see bundle_format.md\"";
  if (c.model_name == "mf") {
    j += ", \"fields\": [{\"field\": 0, \"meaning\": \"user\", \"table\": \"user\"}, "
         "{\"field\": 1, \"meaning\": \"item\", \"table\": \"item\"}]";
  } else {
    const std::string table = c.model_name == "lr" ? "w" : "v";
    std::string fields = "all";
    if (const auto* ffm = dynamic_cast<const FfmModel*>(c.model.get())) fields = "0.." + std::to_string(ffm->options().num_fields - 1);
    if (const auto* d = dynamic_cast<const DeepFmModel*>(c.model.get())) fields = "0.." + std::to_string(d->options().num_fields - 1);
    j += ", \"fields\": [{\"field\": " + JsonQuote(fields) + ", \"table\": " + JsonQuote(table) + "}]";
  }
  return j + "}";
}

// The user-vector table of a model and its columns [begin, end), or an error for LR.
Status ProfileColumns(const Checkpoint& c, std::string* table, uint32_t* begin, uint32_t* end) {
  if (const auto* mf = dynamic_cast<const MfModel*>(c.model.get())) {
    *table = "user";
    *begin = 0;
    *end = mf->options().dim;
  } else if (const auto* fm = dynamic_cast<const FmModel*>(c.model.get())) {
    *table = "v";
    *begin = 1;
    *end = 1 + fm->options().dim;
  } else if (const auto* ffm = dynamic_cast<const FfmModel*>(c.model.get())) {
    *table = "v";
    *begin = 1;
    *end = ffm->RowDim();
  } else if (const auto* d = dynamic_cast<const DeepFmModel*>(c.model.get())) {
    *table = "v";
    *begin = 1;
    *end = 1 + d->options().dim;
  } else {
    return Status::InvalidArgument("--user_profiles: model '" + c.model_name + "' has no embedding vectors");
  }
  return Status::OK();
}

Status WriteProfiles(const ExportOptions& opts, const Checkpoint& c, const std::vector<BundleTableData>& tables,
                     const IdMap& ids, ExportReport* report) {
  std::string table_name;
  uint32_t begin = 0, end = 0;
  EMBARK_RETURN_IF_ERROR(ProfileColumns(c, &table_name, &begin, &end));
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
  std::string summary = "{\"table\": " + JsonQuote(table_name) + ", \"columns\": [" + std::to_string(begin) + ", " +
                        std::to_string(end) + "], \"rows\": " + std::to_string(keys.size()) +
                        ", \"source_checkpoint\": " + JsonQuote(c.dir);
  if (opts.profile_field >= 0) summary += ", \"field\": " + std::to_string(opts.profile_field);
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
    std::string variances;
    for (size_t i = 0; i < pca.explained_variance.size(); ++i) variances += (i ? ", " : "") + JsonNumber(pca.explained_variance[i]);
    summary += ", \"pca_dim\": " + std::to_string(opts.pca_dim) + ", \"input_dim\": " + std::to_string(width) +
               ", \"explained_variance_ratio\": " + JsonNumber(pca.explained_variance_ratio) +
               ", \"explained_variance\": [" + variances + "]" +
               ", \"projection\": \"profile = pca_components @ (vector - pca_mean)\"";
  }
  summary += ", \"dim\": " + std::to_string(report->profile_dim) + "}\n";
  EMBARK_RETURN_IF_ERROR(WriteNpyFile(opts.user_profiles, "<f4", {keys.size(), report->profile_dim}, vectors.data(), vectors.size() * 4));
  EMBARK_RETURN_IF_ERROR(WriteNpyFile(stem + ".keys.npy", "<u8", {keys.size()}, keys.data(), keys.size() * 8));
  if (!row_ids.empty()) {
    std::ofstream f(stem + ".ids.txt", std::ios::trunc);
    for (const std::string& id : row_ids) f << id << "\n";
    if (!f) return Status::IoError("cannot write " + stem + ".ids.txt");
  }
  std::ofstream f(stem + ".json", std::ios::trunc);
  f << summary;
  if (!f) return Status::IoError("cannot write " + stem + ".json");
  return Status::OK();
}

// Seen items and the item catalogue (serving/topk_data.h) as arrays of the bundle.
Status AddTopKData(const ExportOptions& opts, const Checkpoint& c, DataFormat format, BundleSpec* spec,
                   ExportReport* report) {
  const Model& model = *c.model;
  const bool mf = dynamic_cast<const MfModel*>(&model) != nullptr;
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
  spec.model_json = DescribeModel(c, &spec.tables);
  spec.features_json = DescribeFeatures(c);
  std::string metrics = "{";
  for (size_t i = 0; i < c.metrics.size(); ++i)
    metrics += (i ? ", " : "") + JsonQuote(c.metrics[i].first) + ": " + JsonNumber(c.metrics[i].second);
  spec.metrics_json = metrics + "}";
  spec.source_json = "{\"checkpoint\": " + JsonQuote(c.dir) + ", \"epoch\": " + std::to_string(c.epoch) +
                     ", \"servers\": " + std::to_string(c.servers) + ", \"manifest_hash\": \"" + Hex16(c.manifest_hash) + "\"" +
                     (c.seed.has_value() ? ", \"seed\": " + std::to_string(*c.seed) : std::string()) + "}";

  const std::string format_name = !opts.format.empty() ? opts.format : (!c.format.empty() ? c.format : (c.model_name == "mf" ? "ratings" : "libsvm"));
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
  if (!opts.user_profiles.empty()) EMBARK_RETURN_IF_ERROR(WriteProfiles(opts, c, spec.tables, ids, report));

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
