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
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>

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

}  // namespace embark
