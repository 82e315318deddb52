// Top-K data: what /topk needs besides the model's weights, read from interaction files by
// `embark export` and stored in the bundle as extra arrays (serving/bundle_format.md):
//
//   SeenItems      the items each user interacted with (--seen_from): /topk leaves them out
//                  unless the request says "include_seen". Arrays seen_users (user keys,
//                  ascending), seen_offsets (users + 1 offsets), seen_items (item keys,
//                  ascending and unique within each user): a CSR matrix users x items.
//   ItemCatalogue  the items to rank, each with its item-side features (field 1, the item id,
//                  and fields 32..63, models/interaction_fields.h), as the ranking models'
//                  item towers need them. Arrays catalogue_items (item keys, ascending),
//                  catalogue_offsets (items + 1), catalogue_feature_keys / _fields / _values:
//                  the features of item i are entries catalogue_offsets[i] .. [i+1].
//
// Keys are the feature keys of the training data (FeatureKey(field, raw id)): the user id is
// field 0, the item id field 1, for every format the ranking and MF models read.
//
// Why in the bundle rather than read by the server from the training files: a bundle is
// self-contained (copied, checksummed, swapped as one), and serving never parses logs.
//
// Thread-safety: the structs are plain values; the functions are reentrant. A view points into
// its source (a SeenItems / ItemCatalogue, or an open Bundle) and is valid while that lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/bundle.h"
#include "data/line_parser.h"

namespace embark {

struct SeenItems {
  std::vector<uint64_t> users;    // ascending
  std::vector<uint64_t> offsets;  // users.size() + 1
  std::vector<uint64_t> items;    // per user ascending, unique
};

struct SeenItemsView {
  const uint64_t* users = nullptr;
  const uint64_t* offsets = nullptr;
  const uint64_t* items = nullptr;
  size_t num_users = 0;
  bool empty() const { return num_users == 0; }
};
SeenItemsView ViewOf(const SeenItems& seen);

struct ItemCatalogue {
  std::vector<uint64_t> items;           // item-id keys, ascending
  std::vector<uint64_t> offsets;         // items.size() + 1
  std::vector<uint64_t> feature_keys;    // item-side features, the item id included
  std::vector<uint16_t> feature_fields;
  std::vector<float> feature_values;
};

struct ItemCatalogueView {
  const uint64_t* items = nullptr;
  const uint64_t* offsets = nullptr;
  const uint64_t* feature_keys = nullptr;
  const uint16_t* feature_fields = nullptr;
  const float* feature_values = nullptr;
  size_t num_items = 0;
  bool empty() const { return num_items == 0; }
};
ItemCatalogueView ViewOf(const ItemCatalogue& catalogue);

// Reads interaction files (comma-separated files, globs, directories) in `format`: every
// example with a user id (field 0) and an item id (field 1) marks the item seen by the user.
// A bad line is an error naming the file and line.
Status ReadSeenItems(const std::string& files, DataFormat format, SeenItems* out);

// Adds the items of interaction files to *catalogue with the item-side features of their first
// occurrence (an item already in it is left as it is). `require_item`: a line without an item
// id is an error naming the file and line (a catalogue file), else it is passed over.
Status AddToCatalogue(const std::string& files, DataFormat format, bool require_item, ItemCatalogue* catalogue);
// Sorts the catalogue by item key (AddToCatalogue appends in file order).
void SortCatalogue(ItemCatalogue* catalogue);

// Appends the arrays of `seen` / `catalogue` to spec->arrays.
void AddSeenItemsArrays(const SeenItems& seen, BundleSpec* spec);
void AddCatalogueArrays(const ItemCatalogue& catalogue, BundleSpec* spec);

// The seen items / catalogue stored in `bundle` (empty views when it has none). Corruption,
// naming the bundle, when the arrays are inconsistent (offsets not ascending or not ending at
// the length, keys not ascending, a missing array of the set).
Status FindSeenItems(const Bundle& bundle, SeenItemsView* out);
Status FindItemCatalogue(const Bundle& bundle, ItemCatalogueView* out);

}  // namespace embark
