// Interaction fields: which libffm fields describe the user and which the item in the
// implicit-feedback input contract shared by the ranking models (imf, two_tower), their
// evaluation, and `embark gen --kind=implicit`:
//
//   1 0:<user id>:1 [user-side features] 1:<item id>:1 [item-side features]
//
// field 0 = the user id, field 1 = the item id, fields 2..31 = user-side features (profile,
// tags, history tokens), fields 32..63 = item-side features (category, tags, description
// tokens); other fields are ignored. The ratings format puts the user in field 0 and the item
// in field 1, so it reads as interactions without side features.
//
// Shared-vocabulary fields 64..95 belong to the side of their POSITION in the line: before the
// example's first item-id feature (field 1) they are the user's, after it (or in a catalogue
// line, which starts with the item id) the item's. Why: a feature's key is a hash of its field
// and token, so the same word has the same key -- hence the same embedding row, in a model that
// keeps both sides' shared fields in one table -- only when both sides use the same field. That
// lets a user's purchase history (the description words of the items bought, written before
// the item id by `embark prepare`'s `history` directive) match the candidate items' words
// directly (`1 0:u:1 64:bag:1 64:red:1 1:i:1 64:bag:1 64:pink:1`).
//
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>

#include "data/batch.h"

namespace embark {

constexpr uint16_t kUserIdField = 0;
constexpr uint16_t kItemIdField = 1;
constexpr uint16_t kFirstUserSideField = 2;
constexpr uint16_t kLastUserSideField = 31;
constexpr uint16_t kFirstItemSideField = 32;
constexpr uint16_t kLastItemSideField = 63;

inline bool IsUserField(uint16_t field) {
  return field == kUserIdField || (field >= kFirstUserSideField && field <= kLastUserSideField);
}
inline bool IsItemField(uint16_t field) {
  return field == kItemIdField || (field >= kFirstItemSideField && field <= kLastItemSideField);
}

constexpr uint16_t kFirstSharedField = 64;
constexpr uint16_t kLastSharedField = 95;
inline bool IsSharedField(uint16_t field) { return field >= kFirstSharedField && field <= kLastSharedField; }

enum class InteractionSide { kNone, kUser, kItem };

// The index (into batch.fields) of example e's first item-id feature, or offsets[e + 1] if it
// has none: the boundary between the sides for shared fields.
inline uint32_t ItemIdPosition(const Batch& batch, size_t e) {
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f)
    if (batch.fields[f] == kItemIdField) return f;
  return batch.offsets[e + 1];
}

// The side of feature occurrence f (of field `field`) in an example whose item id is at
// item_id_position (see ItemIdPosition).
inline InteractionSide SideOf(uint16_t field, uint32_t f, uint32_t item_id_position) {
  if (IsUserField(field)) return InteractionSide::kUser;
  if (IsItemField(field)) return InteractionSide::kItem;
  if (IsSharedField(field)) return f < item_id_position ? InteractionSide::kUser : InteractionSide::kItem;
  return InteractionSide::kNone;
}

}  // namespace embark
