#include "serving/topk_data.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "models/interaction_fields.h"
#include "data/data_reader.h"

namespace embark {
namespace {

// Calls on_batch for every batch of `files` read in order by one reader; bad lines fail with
// "PATH:LINE: reason" (DataReader's message).
Status ReadExamples(const std::string& files, DataFormat format, const std::function<Status(const Batch&)>& on_batch) {
  DataReaderOptions ropts;
  ropts.format = format;
  ropts.files = files;
  ropts.batch_size = 4096;
  ropts.bad_lines = BadLinePolicy::kFail;
  DataReader reader(ropts);
  EMBARK_RETURN_IF_ERROR(reader.Open());
  EMBARK_RETURN_IF_ERROR(reader.StartEpoch(0));
  Batch batch;
  for (;;) {
    bool end = false;
    EMBARK_RETURN_IF_ERROR(reader.Next(&batch, &end));
    if (end) return Status::OK();
    EMBARK_RETURN_IF_ERROR(on_batch(batch));
  }
}

// The key of the first feature of `field` in example e, or false.
bool KeyOfField(const Batch& b, size_t e, uint16_t field, uint64_t* key) {
  for (uint32_t f = b.offsets[e]; f < b.offsets[e + 1]; ++f) {
    if (b.fields[f] == field) {
      *key = b.keys[f];
      return true;
    }
  }
  return false;
}

template <typename T>
Status GetArray(const Bundle& bundle, const std::string& name, const char* descr, const T** data, uint64_t* length) {
  const BundleArray* a = nullptr;
  EMBARK_RETURN_IF_ERROR(bundle.FindArray(name, descr, &a));
  *data = a ? static_cast<const T*>(a->data) : nullptr;
  *length = a ? a->length : 0;
  return Status::OK();
}

// Offsets [0 .. rows] ascending from 0 to `length`; keys [0 .. rows) strictly ascending.
Status CheckCsr(const Bundle& bundle, const std::string& what, const uint64_t* keys, uint64_t rows,
                const uint64_t* offsets, uint64_t num_offsets, uint64_t length) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(bundle.dir() + ": " + what + " arrays are inconsistent: " + why);
  };
  if (num_offsets != rows + 1) return bad(std::to_string(num_offsets) + " offsets for " + std::to_string(rows) + " rows");
  if (offsets[0] != 0 || offsets[rows] != length) return bad("the offsets do not run from 0 to " + std::to_string(length));
  for (uint64_t r = 0; r < rows; ++r) {
    if (offsets[r] > offsets[r + 1]) return bad("offsets descend at row " + std::to_string(r));
    if (r > 0 && keys[r - 1] >= keys[r]) return bad("keys not strictly ascending at row " + std::to_string(r));
  }
  return Status::OK();
}

}  // namespace

SeenItemsView ViewOf(const SeenItems& seen) {
  SeenItemsView v;
  v.users = seen.users.data();
  v.offsets = seen.offsets.data();
  v.items = seen.items.data();
  v.num_users = seen.users.size();
  return v;
}

ItemCatalogueView ViewOf(const ItemCatalogue& c) {
  ItemCatalogueView v;
  v.items = c.items.data();
  v.offsets = c.offsets.data();
  v.feature_keys = c.feature_keys.data();
  v.feature_fields = c.feature_fields.data();
  v.feature_values = c.feature_values.data();
  v.num_items = c.items.size();
  return v;
}

Status ReadSeenItems(const std::string& files, DataFormat format, SeenItems* out) {
  std::unordered_map<uint64_t, std::vector<uint64_t>> by_user;
  EMBARK_RETURN_IF_ERROR(ReadExamples(files, format, [&](const Batch& b) {
    for (size_t e = 0; e < b.size(); ++e) {
      uint64_t user, item;
      if (KeyOfField(b, e, kUserIdField, &user) && KeyOfField(b, e, kItemIdField, &item)) by_user[user].push_back(item);
    }
    return Status::OK();
  }));
  *out = SeenItems();
  out->users.reserve(by_user.size());
  for (const auto& [user, items] : by_user) out->users.push_back(user);
  std::sort(out->users.begin(), out->users.end());
  out->offsets.push_back(0);
  for (uint64_t user : out->users) {
    std::vector<uint64_t>& items = by_user[user];
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    out->items.insert(out->items.end(), items.begin(), items.end());
    out->offsets.push_back(out->items.size());
  }
  return Status::OK();
}

Status AddToCatalogue(const std::string& files, DataFormat format, bool require_item, ItemCatalogue* c) {
  if (c->offsets.empty()) c->offsets.push_back(0);
  std::unordered_set<uint64_t> known(c->items.begin(), c->items.end());
  uint64_t example = 0;
  return ReadExamples(files, format, [&](const Batch& b) {
    for (size_t e = 0; e < b.size(); ++e) {
      ++example;
      uint64_t item;
      if (!KeyOfField(b, e, kItemIdField, &item)) {
        if (!require_item) continue;
        return Status::InvalidArgument(files + ": item " + std::to_string(example) +
                                       " (non-blank line) has no item id (a feature of field 1)");
      }
      if (!known.insert(item).second) continue;
      c->items.push_back(item);
      for (uint32_t f = b.offsets[e]; f < b.offsets[e + 1]; ++f) {
        if (!IsItemField(b.fields[f])) continue;
        c->feature_keys.push_back(b.keys[f]);
        c->feature_fields.push_back(b.fields[f]);
        c->feature_values.push_back(b.values[f]);
      }
      c->offsets.push_back(c->feature_keys.size());
    }
    return Status::OK();
  });
}

void SortCatalogue(ItemCatalogue* c) {
  const size_t n = c->items.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return c->items[a] < c->items[b]; });
  ItemCatalogue sorted;
  sorted.offsets.push_back(0);
  for (size_t i : order) {
    sorted.items.push_back(c->items[i]);
    for (uint64_t f = c->offsets[i]; f < c->offsets[i + 1]; ++f) {
      sorted.feature_keys.push_back(c->feature_keys[f]);
      sorted.feature_fields.push_back(c->feature_fields[f]);
      sorted.feature_values.push_back(c->feature_values[f]);
    }
    sorted.offsets.push_back(sorted.feature_keys.size());
  }
  *c = std::move(sorted);
}

void AddSeenItemsArrays(const SeenItems& seen, BundleSpec* spec) {
  spec->arrays.push_back(BundleArrayData::Of("seen_users", seen.users));
  spec->arrays.push_back(BundleArrayData::Of("seen_offsets", seen.offsets));
  spec->arrays.push_back(BundleArrayData::Of("seen_items", seen.items));
}

void AddCatalogueArrays(const ItemCatalogue& c, BundleSpec* spec) {
  spec->arrays.push_back(BundleArrayData::Of("catalogue_items", c.items));
  spec->arrays.push_back(BundleArrayData::Of("catalogue_offsets", c.offsets));
  spec->arrays.push_back(BundleArrayData::Of("catalogue_feature_keys", c.feature_keys));
  spec->arrays.push_back(BundleArrayData::Of("catalogue_feature_fields", c.feature_fields));
  spec->arrays.push_back(BundleArrayData::Of("catalogue_feature_values", c.feature_values));
}

Status FindSeenItems(const Bundle& bundle, SeenItemsView* out) {
  *out = SeenItemsView();
  uint64_t n_users = 0, n_offsets = 0, n_items = 0;
  const uint64_t *users, *offsets, *items;
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "seen_users", "<u8", &users, &n_users));
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "seen_offsets", "<u8", &offsets, &n_offsets));
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "seen_items", "<u8", &items, &n_items));
  if (users == nullptr && offsets == nullptr && items == nullptr) return Status::OK();
  if (users == nullptr || offsets == nullptr || items == nullptr)
    return Status::Corruption(bundle.dir() + ": seen items need the arrays seen_users, seen_offsets and seen_items");
  EMBARK_RETURN_IF_ERROR(CheckCsr(bundle, "seen items", users, n_users, offsets, n_offsets, n_items));
  out->users = users;
  out->offsets = offsets;
  out->items = items;
  out->num_users = n_users;
  return Status::OK();
}

Status FindItemCatalogue(const Bundle& bundle, ItemCatalogueView* out) {
  *out = ItemCatalogueView();
  uint64_t n_items = 0, n_offsets = 0, n_keys = 0, n_fields = 0, n_values = 0;
  const uint64_t *items, *offsets, *keys;
  const uint16_t* fields;
  const float* values;
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "catalogue_items", "<u8", &items, &n_items));
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "catalogue_offsets", "<u8", &offsets, &n_offsets));
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "catalogue_feature_keys", "<u8", &keys, &n_keys));
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "catalogue_feature_fields", "<u2", &fields, &n_fields));
  EMBARK_RETURN_IF_ERROR(GetArray(bundle, "catalogue_feature_values", "<f4", &values, &n_values));
  const int present = (items != nullptr) + (offsets != nullptr) + (keys != nullptr) + (fields != nullptr) + (values != nullptr);
  if (present == 0) return Status::OK();
  if (present != 5) return Status::Corruption(bundle.dir() + ": the item catalogue needs all five catalogue_* arrays");
  if (n_fields != n_keys || n_values != n_keys)
    return Status::Corruption(bundle.dir() + ": the catalogue's feature keys, fields and values differ in length");
  EMBARK_RETURN_IF_ERROR(CheckCsr(bundle, "item catalogue", items, n_items, offsets, n_offsets, n_keys));
  out->items = items;
  out->offsets = offsets;
  out->feature_keys = keys;
  out->feature_fields = fields;
  out->feature_values = values;
  out->num_items = n_items;
  return Status::OK();
}

}  // namespace embark
