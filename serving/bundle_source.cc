#include "serving/bundle_source.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "models/interaction_fields.h"
#include "models/model_factory.h"
#include "models/model_spec.h"
#include "serving/bundle.h"
#include "serving/topk_data.h"

namespace embark {
namespace {

// Float copies of tables that could not be used in place; kept alive with the version.
struct OwnedTables {
  std::vector<std::vector<float>> values;  // per table; empty when the mapping is used
};

}  // namespace

Status ServingModelFromBundle(std::shared_ptr<const Bundle> bundle, const std::string& path,
                              const ServingOptions& options, uint64_t default_seed,
                              std::shared_ptr<const ServingModel>* out) {
  const JsonValue& manifest = bundle->manifest();
  const std::string where = path + "/manifest.json";
  ModelOptions mopts;
  for (const auto& [name, value] : manifest["model"]["options"].members()) {
    Status st = SetModelOption(name, value.AsString(), &mopts);
    if (!st.ok()) return Status::InvalidArgument(where + ": model option: " + st.message());
  }
  ServingModelParts parts;
  Status st = CreateModel(bundle->model_name(), mopts, &parts.model);
  if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  const std::vector<TableConfig> configs = parts.model->Tables();

  // Undo the exporter's storage transforms (models/model_description.h): the model trains on
  // the stored form. A bundle lists what it applied under "stored_transforms"; one written
  // before that list (format 1 of the model object) carries only MF's "bias_scale_applied",
  // and its transforms are the model's own.
  const ModelDescription description = parts.model->Describe();
  std::vector<StorageTransform> transforms;
  const JsonValue& stored = manifest["model"]["stored_transforms"];
  if (stored.is_array()) {
    for (const JsonValue& x : stored.elements()) {
      StorageTransform t;
      t.table = x["table"].AsString();
      t.column = static_cast<uint32_t>(x["column"].AsUint64());
      t.scale = static_cast<float>(x["scale"].AsDouble());
      t.offset = static_cast<float>(x["offset"].AsDouble());
      if (!x["column"].is_number() || !x["scale"].is_number() || !x["offset"].is_number() || t.scale == 0)
        return Status::InvalidArgument(where + ": model.stored_transforms: an entry needs table, column, a non-zero scale and offset");
      transforms.push_back(t);
    }
  } else if (manifest["model"]["bias_scale_applied"].is_number()) {
    transforms = description.transforms;
  }

  auto owned = std::make_shared<OwnedTables>();
  owned->values.resize(configs.size());
  parts.tables.resize(configs.size());
  for (size_t t = 0; t < configs.size(); ++t) {
    const TableConfig& c = configs[t];
    const BundleTable* table = bundle->FindTable(c.name);
    if (table == nullptr) return Status::InvalidArgument(where + ": no table '" + c.name + "' for model " + bundle->model_name());
    const uint64_t want_dim = c.dense ? c.dense_size : c.dim;
    if (table->dim() != want_dim || (c.dense && table->rows() != 1)) {
      return Status::InvalidArgument(where + ": table '" + c.name + "' is " + std::to_string(table->rows()) + " x " +
                                     std::to_string(table->dim()) + ", model " + bundle->model_name() + " needs " +
                                     (c.dense ? "1 x " : "rows x ") + std::to_string(want_dim));
    }
    ServingTableRows& rows = parts.tables[t];
    rows.keys = table->keys();
    rows.num_rows = table->rows();
    std::vector<const StorageTransform*> mine;
    for (const StorageTransform& x : transforms) {
      if (x.table != c.name) continue;
      if (x.column >= table->dim())
        return Status::InvalidArgument(where + ": model.stored_transforms: column " + std::to_string(x.column) +
                                       " of table '" + c.name + "' is out of range");
      mine.push_back(&x);
    }
    if (table->dtype() == BundleDtype::kFloat32 && mine.empty()) {
      rows.values = static_cast<const float*>(table->RowData(0));
      continue;
    }
    std::vector<float>& v = owned->values[t];
    v.resize(table->rows() * table->dim());
    for (uint64_t r = 0; r < table->rows(); ++r) table->CopyRow(r, v.data() + r * table->dim());
    for (const StorageTransform* x : mine)
      for (uint64_t r = 0; r < table->rows(); ++r) {
        float& value = v[r * table->dim() + x->column];
        value = (value - x->offset) / x->scale;
      }
    rows.values = v.data();
  }
  // Raw ids of the item-id table (field 1: MF's and imf's "item", two_tower's "item_emb").
  const int item_table = parts.model->TableOfField(kItemIdField);
  if (description.row_topk || parts.model->IsRanking()) {
    const BundleTable* items = item_table < 0 ? nullptr : bundle->FindTable(configs[item_table].name);
    if (items != nullptr && items->has_ids()) {
      parts.item_ids.reserve(items->rows());
      for (uint64_t r = 0; r < items->rows(); ++r) parts.item_ids.emplace_back(items->id(r));
    }
    EMBARK_RETURN_IF_ERROR(FindSeenItems(*bundle, &parts.seen));
    EMBARK_RETURN_IF_ERROR(FindItemCatalogue(*bundle, &parts.catalogue));
  }
  const std::string format = manifest["features"]["format"].AsString();
  if (!format.empty()) {
    DataFormat f;
    if (ParseDataFormat(format, &f).ok()) parts.data_format = f;
  }
  const JsonValue& seed = manifest["source"]["seed"];
  parts.seed = seed.is_number() ? seed.AsUint64() : default_seed;
  parts.info.bundle_path = path;
  parts.info.version = bundle->id();
  parts.info.source_checkpoint = manifest["source"]["checkpoint"].AsString();
  parts.backing = owned;
  parts.bundle = std::move(bundle);
  return ServingModel::Create(std::move(parts), options, out);
}

Status BundleSource::Load(const std::shared_ptr<const ServingModel>& current,
                          std::shared_ptr<const ServingModel>* next) {
  std::unique_ptr<Bundle> opened;
  EMBARK_RETURN_IF_ERROR(Bundle::Open(dir_, &opened));
  if (!opened->is_delta()) {
    return ServingModelFromBundle(std::shared_ptr<const Bundle>(std::move(opened)), dir_, options_, default_seed_, next);
  }
  const Bundle* base = current ? current->bundle().get() : nullptr;
  if (base == nullptr) {
    return Status::InvalidArgument(dir_ + " is a delta bundle (base " + opened->base_id() +
                                   "); serve a full bundle first, then publish deltas at its path");
  }
  if (base->id() != opened->base_id()) {
    return Status::InvalidArgument(dir_ + " is a delta against bundle " + opened->base_id() + ", but bundle " +
                                   base->id() + " is being served");
  }
  // base + delta -> a full bundle in a private directory, opened, then deleted: the mapping
  // keeps the files' data until this version is dropped.
  const char* tmp = std::getenv("TMPDIR");
  std::string scratch = std::string(tmp && *tmp ? tmp : "/tmp") + "/embark-serve-XXXXXX";
  if (mkdtemp(scratch.data()) == nullptr) return Status::IoError("cannot create a temporary directory " + scratch);
  const std::string merged = scratch + "/merged";
  std::unique_ptr<Bundle> full;
  Status st = ApplyDelta(*base, *opened, merged);
  if (st.ok()) st = Bundle::Open(merged, &full);
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  EMBARK_RETURN_IF_ERROR(st);
  return ServingModelFromBundle(std::shared_ptr<const Bundle>(std::move(full)),
                                dir_ + " (delta " + opened->id() + " on " + base->id() + ")", options_, default_seed_,
                                next);
}

std::string BundleSource::Stamp() {
  struct stat s;
  if (stat((dir_ + "/manifest.json").c_str(), &s) != 0) return "";
  return std::to_string(s.st_ino) + ":" + std::to_string(s.st_size) + ":" + std::to_string(s.st_mtim.tv_sec) + "." +
         std::to_string(s.st_mtim.tv_nsec);
}

}  // namespace embark
