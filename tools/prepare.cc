#include "tools/prepare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/json_text.h"
#include "core/hash.h"
#include "data/csv_featurizer.h"
#include "data/csv_splitter.h"

namespace embark {
namespace {

constexpr int kUserField = 0;
constexpr int kItemField = 1;
constexpr int kFirstUserSideField = 2, kLastUserSideField = 31;
constexpr int kFirstItemSideField = 32, kLastItemSideField = 63;
// Shared-vocabulary fields (models/interaction_fields.h): columns in them describe the item and
// are written after the item id; a `history` directive may write them before it, for the user.
constexpr int kFirstSharedField = 64, kLastSharedField = 95;
const char kConvention[] =
    "field convention: 0 user id, 1 item id, 2..31 user side, 32..63 item side, 64..95 shared (item columns, user history)";

// Collects a row's features as text; the strings are reused from row to row.
class CollectSink final : public FeatureSink {
 public:
  struct Feature {
    uint16_t field;
    std::string token;
    float value;
  };
  void Clear() { size_ = 0; }
  void Add(uint16_t field, std::string_view token, float value) override {
    if (size_ == features_.size()) features_.emplace_back();
    Feature& f = features_[size_++];
    f.field = field;
    f.token.assign(token.data(), token.size());
    f.value = value;
  }
  size_t size() const { return size_; }
  const Feature& operator[](size_t i) const { return features_[i]; }
  // The token of the (first) feature in `field`, or null.
  const std::string* TokenOf(int field) const {
    for (size_t i = 0; i < size_; ++i) {
      if (features_[i].field == field) return &features_[i].token;
    }
    return nullptr;
  }
  // " F:token:value" for every feature in [lo, hi], in the order they were added.
  std::string SideText(int lo, int hi) const {
    std::string out;
    char value[32];
    for (size_t i = 0; i < size_; ++i) {
      const Feature& f = features_[i];
      if (f.field < lo || f.field > hi) continue;
      out += ' ';
      out += std::to_string(f.field);
      out += ':';
      out += f.token;
      out += ':';
      if (f.value == 1.0f) {
        out += '1';
      } else {
        std::snprintf(value, sizeof(value), "%.9g", static_cast<double>(f.value));
        out += value;
      }
    }
    return out;
  }

 private:
  std::vector<Feature> features_;
  size_t size_ = 0;
};

std::string Excerpt(std::string_view line) {
  constexpr size_t kMax = 80;
  return line.size() <= kMax ? std::string(line) : std::string(line.substr(0, kMax)) + "...";
}

// Reads the rows of one CSV file. For each data row: split (bad_quote), header check, column
// count; then `pre(cells, line_no)` may consume the row (duplicates, cancellations); then the
// featurizer; `on_row` gets the rows that passed. Bad lines are errors or counted per reason.
template <class Pre, class OnRow>
Status ForEachRow(const std::string& path, const CsvSchema& schema, BadLinePolicy bad_lines,
                  PrepareFileCounts* counts, Pre pre, OnRow on_row) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  CsvSplitter splitter(schema.delimiter(), schema.quote());
  CsvFeaturizer featurizer(schema);
  CollectSink sink;
  std::vector<std::string_view> cells;
  std::string line;
  uint64_t line_no = 0;
  auto bad = [&](BadLineReason reason) -> Status {
    if (bad_lines == BadLinePolicy::kFail) {
      return Status::Corruption(path + ":" + std::to_string(line_no) + ": " +
                                BadLineReasonName(reason) + ": " + Excerpt(line));
    }
    ++counts->bad_lines[reason];
    return Status::OK();
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(schema.delimiter() == '\t' ? " " : " \t") == std::string::npos) continue;
    if (!splitter.Split(line, &cells)) {
      ++counts->rows;
      EMBARK_RETURN_IF_ERROR(bad(BadLineReason::kBadQuote));
      continue;
    }
    if (line_no == 1 && schema.header()) {
      if (featurizer.IsHeader(cells)) continue;
      return Status::Corruption(path + ":1: header_mismatch: the header does not name the columns of " +
                                schema.source() + ": " + Excerpt(line));
    }
    ++counts->rows;
    if (static_cast<int>(cells.size()) != schema.num_columns()) {
      EMBARK_RETURN_IF_ERROR(bad(BadLineReason::kWrongFieldCount));
      continue;
    }
    bool consumed = false;
    EMBARK_RETURN_IF_ERROR(pre(featurizer, line, cells, line_no, &consumed));
    if (consumed) continue;
    sink.Clear();
    CsvRowInfo info;
    BadLineReason reason = BadLineReason::kWrongFieldCount;
    const CsvFeaturizer::Result r = featurizer.Featurize(cells, &sink, &info, &reason);
    if (r == CsvFeaturizer::Result::kSkip) {
      ++counts->missing[schema.columns()[info.skipped_column].name];
      continue;
    }
    if (r == CsvFeaturizer::Result::kBad) {
      EMBARK_RETURN_IF_ERROR(bad(reason));
      continue;
    }
    EMBARK_RETURN_IF_ERROR(on_row(sink, info, line_no));
  }
  if (in.bad()) return Status::IoError("error reading " + path);
  return Status::OK();
}

// A 128-bit fingerprint of a row (or of its key columns): two independent 64-bit hashes, so
// telling two different rows apart never hinges on one 64-bit collision.
struct Fingerprint {
  uint64_t a, b;
  bool operator==(const Fingerprint& o) const { return a == o.a && b == o.b; }
};
struct FingerprintHash {
  size_t operator()(const Fingerprint& f) const { return static_cast<size_t>(f.a); }
};

Fingerprint RowFingerprint(const std::string& line, const std::vector<std::string_view>& cells,
                           const std::vector<int>& key_columns) {
  if (key_columns.empty()) return {HashBytes(line, 1), HashBytes(line, 2)};
  Fingerprint f{0x1234, 0x5678};
  for (int k : key_columns) {
    const std::string_view cell = TrimCell(cells[k]);
    // The length goes in too, so ("ab","c") and ("a","bc") differ.
    f.a = HashCombine(HashBytes(cell, f.a), cell.size());
    f.b = HashCombine(HashBytes(cell, f.b ^ 0x9e3779b97f4a7c15ULL), cell.size());
  }
  return f;
}

// One purchase or cancellation of a (user, item) pair.
struct Event {
  uint32_t user, item;
  int64_t time;
  uint64_t line;
  double quantity;  // > 0; for a cancellation the quantity cancelled
  bool cancel;
};

// A user or an item: its id token and the side features taken from the interaction file.
struct Entity {
  std::string token;
  std::string side;          // " F:tok:val ..." from its earliest purchase row
  int64_t side_time = 0;
  uint64_t side_line = 0;
  bool has_side = false;
  uint64_t interactions = 0;
};

class Registry {
 public:
  uint32_t Find(const std::string& token) {
    auto [it, inserted] = index_.try_emplace(token, static_cast<uint32_t>(entities_.size()));
    if (inserted) {
      entities_.emplace_back();
      entities_.back().token = token;
    }
    return it->second;
  }
  // The index of `token`, or -1 (nothing is inserted).
  int64_t Lookup(const std::string& token) const {
    auto it = index_.find(token);
    return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
  }
  Entity& operator[](uint32_t i) { return entities_[i]; }
  size_t size() const { return entities_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<Entity> entities_;
};

// Side features from a user or item file: id token -> " F:tok:val ...", plus the file order.
struct SideFile {
  std::unordered_map<std::string, std::string> side;
  std::vector<std::string> order;
};

Status ReadSideFile(const std::string& path, const std::string& schema_path, PrepareSchemaKind kind,
                    BadLinePolicy bad_lines, PrepareFileCounts* counts, SideFile* out) {
  CsvSchema schema;
  EMBARK_RETURN_IF_ERROR(CsvSchema::Load(schema_path, &schema));
  EMBARK_RETURN_IF_ERROR(ValidatePrepareSchema(schema, kind));
  const int id_field = kind == PrepareSchemaKind::kUsers ? kUserField : kItemField;
  const int lo = kind == PrepareSchemaKind::kUsers ? kFirstUserSideField : kFirstItemSideField;
  const int hi = kind == PrepareSchemaKind::kUsers ? kLastUserSideField : kLastSharedField;
  auto no_pre = [](CsvFeaturizer&, const std::string&, const std::vector<std::string_view>&, uint64_t,
                   bool*) { return Status::OK(); };
  return ForEachRow(path, schema, bad_lines, counts, no_pre,
                    [&](const CollectSink& sink, const CsvRowInfo&, uint64_t) {
                      const std::string* id = sink.TokenOf(id_field);
                      auto [it, inserted] = out->side.try_emplace(*id, sink.SideText(lo, hi));
                      if (inserted) {
                        out->order.push_back(*id);
                      } else {
                        ++counts->duplicate_ids;
                      }
                      return Status::OK();
                    });
}

nlohmann::ordered_json JsonCounts(const PrepareFileCounts& c) {
  nlohmann::ordered_json j;
  j["rows"] = c.rows;
  nlohmann::ordered_json bad = nlohmann::ordered_json::object();
  for (const auto& [reason, n] : c.bad_lines) bad[BadLineReasonName(reason)] = n;
  j["bad_lines"] = bad;
  nlohmann::ordered_json missing = nlohmann::ordered_json::object();
  for (const auto& [col, n] : c.missing) missing[col] = n;
  j["missing_dropped"] = missing;
  j["duplicate_ids"] = c.duplicate_ids;
  return j;
}

std::string MissingText(const PrepareFileCounts& c) {
  std::string out;
  for (const auto& [col, n] : c.missing) out += (out.empty() ? "" : " ") + col + "=" + std::to_string(n);
  return out.empty() ? "none" : out;
}

// Appends to *out the tokens of `field` in side text " F:tok:val ...".
void TokensOfField(const std::string& side, int field, std::vector<std::string>* out) {
  const std::string prefix = std::to_string(field) + ":";
  size_t p = 0;
  while (p < side.size()) {
    while (p < side.size() && side[p] == ' ') ++p;
    size_t end = side.find(' ', p);
    if (end == std::string::npos) end = side.size();
    if (side.compare(p, prefix.size(), prefix) == 0) {
      const size_t colon = side.rfind(':', end - 1);
      if (colon != std::string::npos && colon >= p + prefix.size())
        out->push_back(side.substr(p + prefix.size(), colon - p - prefix.size()));
    }
    p = end;
  }
}

}  // namespace

Status ValidatePrepareSchema(const CsvSchema& schema, PrepareSchemaKind kind) {
  int lo = kFirstUserSideField, hi = kLastSharedField;
  const char* range = "2..95";
  bool need_user = true, need_item = true;
  if (kind == PrepareSchemaKind::kUsers) {
    hi = kLastUserSideField;
    range = "2..31, the user-side range";
    need_item = false;
  } else if (kind == PrepareSchemaKind::kItems) {
    lo = kFirstItemSideField;
    range = "32..95, the item-side and shared range";
    need_user = false;
  }
  bool has_user = false, has_item = false;
  for (int i = 0; i < schema.num_columns(); ++i) {
    const ColumnSpec& c = schema.columns()[i];
    if (!c.IsFeature()) continue;
    const bool id = (c.field == kUserField && need_user) || (c.field == kItemField && need_item);
    if (id) {
      const char* what = c.field == kUserField ? "user id" : "item id";
      if (c.role != ColumnRole::kCategorical)
        return Status::InvalidArgument(schema.Where(i) + "column " + c.name + ": field " + std::to_string(c.field) +
                                       " (the " + what + ") must be categorical, not " + ColumnRoleName(c.role));
      if (c.missing == MissingPolicy::kId)
        return Status::InvalidArgument(schema.Where(i) + "column " + c.name + ": the " + what +
                                       " column needs 'missing drop' or 'missing fail' (a missing id would make one "
                                       "fake " + (c.field == kUserField ? "user" : "item") + " of all rows without one)");
      (c.field == kUserField ? has_user : has_item) = true;
      continue;
    }
    if (c.field < lo || c.field > hi)
      return Status::InvalidArgument(schema.Where(i) + "column " + c.name + ": field " + std::to_string(c.field) +
                                     " is outside " + range + " (" + kConvention + ")");
  }
  for (const HistorySpec& h : schema.histories()) {
    const std::string where = schema.source() + ":" + std::to_string(h.schema_line) + ": ";
    if (kind != PrepareSchemaKind::kInteractions)
      return Status::InvalidArgument(where + "history belongs in the interaction file's schema");
    if (h.field < kFirstUserSideField || h.field > kLastSharedField ||
        (h.field > kLastUserSideField && h.field < kFirstSharedField))
      return Status::InvalidArgument(where + "history field " + std::to_string(h.field) +
                                     " is outside 2..31 (user side) and 64..95 (shared) (" + kConvention + ")");
    if (h.from_field != kItemField && (h.from_field < kFirstItemSideField || h.from_field > kLastSharedField))
      return Status::InvalidArgument(where + "history from " + std::to_string(h.from_field) +
                                     " must be 1 (item ids) or an item-side or shared field 32..95");
  }
  if (need_user && !has_user)
    return Status::InvalidArgument(schema.source() + ": no categorical column in field 0, the user id (" + kConvention + ")");
  if (need_item && !has_item)
    return Status::InvalidArgument(schema.source() + ": no categorical column in field 1, the item id (" + kConvention + ")");
  return Status::OK();
}

Status RunPrepare(const PrepareOptions& o, PrepareReport* report) {
  *report = PrepareReport();
  if (o.schema.empty() || o.input.empty() || o.out.empty())
    return Status::InvalidArgument("prepare needs --schema, --input and --out");
  if (o.items.empty() != o.item_schema.empty())
    return Status::InvalidArgument("prepare: --items and --item_schema go together");
  if (o.users.empty() != o.user_schema.empty())
    return Status::InvalidArgument("prepare: --users and --user_schema go together");
  if (!(o.test_fraction >= 0 && o.test_fraction < 1))
    return Status::InvalidArgument("prepare: --test_fraction must be in [0, 1)");
  if (o.min_user_interactions < 1)
    return Status::InvalidArgument("prepare: --min_user_interactions must be at least 1");

  CsvSchema schema;
  EMBARK_RETURN_IF_ERROR(CsvSchema::Load(o.schema, &schema));
  EMBARK_RETURN_IF_ERROR(ValidatePrepareSchema(schema, PrepareSchemaKind::kInteractions));
  SideFile item_file, user_file;
  if (!o.items.empty())
    EMBARK_RETURN_IF_ERROR(ReadSideFile(o.items, o.item_schema, PrepareSchemaKind::kItems, o.bad_lines,
                                        &report->item_file, &item_file));
  if (!o.users.empty())
    EMBARK_RETURN_IF_ERROR(ReadSideFile(o.users, o.user_schema, PrepareSchemaKind::kUsers, o.bad_lines,
                                        &report->user_file, &user_file));

  // Pass over the interaction file: steps 1-5 of prepare.h.
  Registry users, items;
  std::vector<Event> events;
  std::unordered_map<Fingerprint, uint64_t, FingerprintHash> seen_rows;
  const bool dedup = schema.duplicates_line() != 0 && schema.duplicate_policy() != DuplicatePolicy::kKeep;
  const bool count_dups = schema.duplicates_line() != 0;
  const bool has_time = schema.timestamp_column() >= 0;
  CollectSink cancel_sink;

  auto pre = [&](CsvFeaturizer& featurizer, const std::string& line, const std::vector<std::string_view>& cells,
                 uint64_t line_no, bool* consumed) -> Status {
    if (count_dups) {
      auto [it, inserted] = seen_rows.try_emplace(RowFingerprint(line, cells, schema.duplicate_key_columns()), line_no);
      if (!inserted) {
        ++report->duplicates;
        if (schema.duplicate_policy() == DuplicatePolicy::kFail)
          return Status::Corruption(o.input + ":" + std::to_string(line_no) + ": duplicate of line " +
                                    std::to_string(it->second) + " (" + schema.source() + " says duplicates fail)");
        if (dedup) {
          *consumed = true;
          return Status::OK();
        }
      }
    }
    if (!featurizer.IsCancelled(cells)) return Status::OK();
    ++report->cancelled;
    *consumed = true;
    if (schema.cancel_policy() == CancelPolicy::kFail)
      return Status::Corruption(o.input + ":" + std::to_string(line_no) + ": cancelled: a cancellation (" +
                                schema.source() + " says policy fail): " + Excerpt(line));
    if (schema.cancel_policy() != CancelPolicy::kNet) return Status::OK();
    cancel_sink.Clear();
    CsvRowInfo info;
    BadLineReason reason;
    if (featurizer.Featurize(cells, &cancel_sink, &info, &reason) != CsvFeaturizer::Result::kOk) {
      ++report->unmatched_cancellations;  // no user, item or quantity to net against
      return Status::OK();
    }
    Event e;
    e.user = users.Find(*cancel_sink.TokenOf(kUserField));
    e.item = items.Find(*cancel_sink.TokenOf(kItemField));
    e.time = has_time ? info.timestamp : static_cast<int64_t>(line_no);
    e.line = line_no;
    e.quantity = std::fabs(info.quantity);
    e.cancel = true;
    events.push_back(e);
    return Status::OK();
  };
  auto on_row = [&](const CollectSink& sink, const CsvRowInfo& info, uint64_t line_no) -> Status {
    if (schema.has_label() && info.label == 0.0f) {
      ++report->negative_label;
      return Status::OK();
    }
    if (!(info.quantity > 0)) {
      ++report->non_positive_quantity;
      return Status::OK();
    }
    ++report->purchases;
    Event e;
    e.user = users.Find(*sink.TokenOf(kUserField));
    e.item = items.Find(*sink.TokenOf(kItemField));
    e.time = has_time ? info.timestamp : static_cast<int64_t>(line_no);
    e.line = line_no;
    e.quantity = info.quantity;
    e.cancel = false;
    events.push_back(e);
    // Side features from the earliest purchase row (time, then file order).
    for (auto [entity, lo, hi] : {std::make_tuple(&users[e.user], kFirstUserSideField, kLastUserSideField),
                                  std::make_tuple(&items[e.item], kFirstItemSideField, kLastSharedField)}) {
      if (!entity->has_side || std::make_pair(e.time, e.line) < std::make_pair(entity->side_time, entity->side_line)) {
        entity->side = sink.SideText(lo, hi);
        entity->side_time = e.time;
        entity->side_line = e.line;
        entity->has_side = true;
      }
    }
    return Status::OK();
  };
  EMBARK_RETURN_IF_ERROR(ForEachRow(o.input, schema, o.bad_lines, &report->interaction_file, pre, on_row));
  for (int i = 0; i < schema.num_columns(); ++i) {
    const ColumnSpec& c = schema.columns()[i];
    if (c.IsFeature() && (c.field == kUserField || c.field == kItemField)) {
      auto it = report->interaction_file.missing.find(c.name);
      if (it != report->interaction_file.missing.end()) report->missing_ids += it->second;
    }
  }

  // Merge events into (user, item) pairs, netting cancellations against earlier purchases.
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::make_tuple(a.user, a.item, a.time, a.cancel, a.line) <
           std::make_tuple(b.user, b.item, b.time, b.cancel, b.line);
  });
  struct Pair {
    uint32_t user, item;
    int64_t time;
  };
  std::vector<Pair> pairs;
  std::vector<std::pair<int64_t, double>> open;  // the pair's purchases: time, quantity left
  for (size_t b = 0; b < events.size();) {
    size_t e = b;
    while (e < events.size() && events[e].user == events[b].user && events[e].item == events[b].item) ++e;
    open.clear();
    uint64_t purchases = 0;
    for (size_t i = b; i < e; ++i) {
      const Event& ev = events[i];
      if (!ev.cancel) {
        open.emplace_back(ev.time, ev.quantity);
        ++purchases;
        continue;
      }
      double left = ev.quantity;
      bool matched = false;
      for (size_t j = open.size(); j-- > 0 && left > 0;) {
        const double take = std::min(open[j].second, left);
        if (take <= 0) continue;
        open[j].second -= take;
        left -= take;
        matched = true;
      }
      ++(matched ? report->netted : report->unmatched_cancellations);
    }
    if (purchases > 0) {
      report->repeat_purchases += purchases - 1;
      int64_t first = 0;
      bool any = false;
      for (const auto& [t, q] : open) {
        if (q > 0 && (!any || t < first)) {
          first = t;
          any = true;
        }
      }
      if (any) {
        pairs.push_back({events[b].user, events[b].item, first});
        ++users[events[b].user].interactions;
      } else {
        ++report->pairs_netted_out;
      }
    }
    b = e;
  }

  // Users below --min_user_interactions leave with all their pairs.
  for (size_t u = 0; u < users.size(); ++u) {
    const uint64_t n = users[static_cast<uint32_t>(u)].interactions;
    if (n > 0 && n < static_cast<uint64_t>(o.min_user_interactions)) {
      ++report->users_below_min;
      report->interactions_below_min += n;
    }
  }
  pairs.erase(std::remove_if(pairs.begin(), pairs.end(),
                             [&](const Pair& p) {
                               return users[p.user].interactions < static_cast<uint64_t>(o.min_user_interactions);
                             }),
              pairs.end());
  // Per user (first-seen order), pairs by time then item id; the last ones go to test.
  std::sort(pairs.begin(), pairs.end(), [&](const Pair& a, const Pair& b) {
    if (a.user != b.user) return a.user < b.user;
    if (a.time != b.time) return a.time < b.time;
    return items[a.item].token < items[b.item].token;
  });

  std::ofstream train(o.out + ".train.libffm", std::ios::binary), test(o.out + ".test.libffm", std::ios::binary);
  if (!train || !test) return Status::IoError("cannot write " + o.out + ".train.libffm / .test.libffm");
  std::vector<bool> item_used(items.size(), false);
  std::vector<bool> user_lacks_file_row(users.size(), false), item_lacks_file_row(items.size(), false);
  auto user_side = [&](uint32_t u) -> const std::string& {
    if (!o.users.empty()) {
      auto it = user_file.side.find(users[u].token);
      if (it != user_file.side.end()) return it->second;
      user_lacks_file_row[u] = true;
    }
    return users[u].side;
  };
  auto item_side = [&](uint32_t i) -> const std::string& {
    if (!o.items.empty()) {
      auto it = item_file.side.find(items[i].token);
      if (it != item_file.side.end()) return it->second;
      item_lacks_file_row[i] = true;
    }
    return items[i].side;
  };
  // History tokens per item and history directive: the item id, or its tokens of the `from` field.
  const std::vector<HistorySpec>& histories = schema.histories();
  std::vector<std::vector<std::vector<std::string>>> history_tokens(histories.size());
  for (size_t h = 0; h < histories.size(); ++h) {
    history_tokens[h].resize(items.size());
    for (uint32_t i = 0; i < items.size(); ++i) {
      if (histories[h].from_field == kItemField) {
        history_tokens[h][i].push_back(items[i].token);
      } else {
        TokensOfField(item_side(i), histories[h].from_field, &history_tokens[h][i]);
      }
    }
  }
  // The history text of a line: per directive, the distinct tokens of the user's training pairs
  // [train_begin, train_end) except `self`, latest first, at most max_items of them. Test lines
  // pass self = train_end, so no held-out pair is ever anybody's history.
  std::unordered_set<std::string> seen;
  auto history_text = [&](size_t train_begin, size_t train_end, size_t self) {
    std::string out;
    for (size_t h = 0; h < histories.size(); ++h) {
      seen.clear();
      int taken = 0;
      for (size_t j = train_end; j-- > train_begin && taken < histories[h].max_items;) {
        if (j == self) continue;
        ++taken;
        for (const std::string& token : history_tokens[h][pairs[j].item]) {
          if (!seen.insert(token).second) continue;
          out += ' ' + std::to_string(histories[h].field) + ':' + token + ":1";
        }
      }
    }
    return out;
  };
  std::string line;
  for (size_t b = 0; b < pairs.size();) {
    size_t e = b;
    while (e < pairs.size() && pairs[e].user == pairs[b].user) ++e;
    const size_t n = e - b;
    size_t n_test = 0;
    if (n >= 2 && o.test_fraction > 0) {
      n_test = static_cast<size_t>(std::llround(static_cast<double>(n) * o.test_fraction));
      n_test = std::min(std::max<size_t>(n_test, 1), n - 1);
    }
    const uint32_t u = pairs[b].user;
    const std::string& us = user_side(u);
    for (size_t i = b; i < e; ++i) {
      const uint32_t it = pairs[i].item;
      item_used[it] = true;
      const bool to_test = i >= e - n_test;
      const std::string history = histories.empty() ? std::string() : history_text(b, e - n_test, to_test ? e - n_test : i);
      line = "1 0:" + users[u].token + ":1" + us + history + " 1:" + items[it].token + ":1" + item_side(it) + "\n";
      (to_test ? test : train) << line;
      ++(to_test ? report->test : report->train);
    }
    ++report->users;
    b = e;
  }
  report->interactions = report->train + report->test;
  for (size_t u = 0; u < users.size(); ++u) report->users_without_side_file_row += user_lacks_file_row[u];

  std::ofstream items_out(o.out + ".items.libffm", std::ios::binary);
  if (!items_out) return Status::IoError("cannot write " + o.out + ".items.libffm");
  for (uint32_t i = 0; i < items.size(); ++i) {
    if (!item_used[i]) continue;
    items_out << "1 1:" << items[i].token << ":1" << item_side(i) << "\n";
    ++report->items_with_interactions;
    ++report->items;
  }
  for (size_t i = 0; i < items.size(); ++i) report->items_without_side_file_row += item_lacks_file_row[i];
  // Items of the item file that no interaction mentions: candidates too.
  for (const std::string& token : item_file.order) {
    const int64_t i = items.Lookup(token);
    if (i >= 0 && item_used[i]) continue;
    items_out << "1 1:" << token << ":1" << item_file.side.at(token) << "\n";
    ++report->items;
  }
  train.close();
  test.close();
  items_out.close();
  if (!train || !test || !items_out) return Status::IoError("error writing the output files of " + o.out);
  std::ofstream json(o.out + ".report.json", std::ios::binary);
  json << report->ToJson() << "\n";
  json.close();
  if (!json) return Status::IoError("cannot write " + o.out + ".report.json");
  return Status::OK();
}

std::string PrepareReport::ToJson() const {
  nlohmann::ordered_json j;
  j["interaction_file"] = JsonCounts(interaction_file);
  j["item_file"] = JsonCounts(item_file);
  j["user_file"] = JsonCounts(user_file);
  j["rows_read"] = interaction_file.rows;
  j["duplicates"] = duplicates;
  j["cancelled"] = cancelled;
  j["netted"] = netted;
  j["unmatched_cancellations"] = unmatched_cancellations;
  j["missing_ids"] = missing_ids;
  j["negative_label"] = negative_label;
  j["non_positive_quantity"] = non_positive_quantity;
  j["purchases"] = purchases;
  j["repeat_purchases"] = repeat_purchases;
  j["pairs_netted_out"] = pairs_netted_out;
  j["users_below_min"] = users_below_min;
  j["interactions_below_min"] = interactions_below_min;
  j["users"] = users;
  j["items"] = items;
  j["items_with_interactions"] = items_with_interactions;
  j["users_without_side_file_row"] = users_without_side_file_row;
  j["items_without_side_file_row"] = items_without_side_file_row;
  j["interactions"] = interactions;
  j["train"] = train;
  j["test"] = test;
  return JsonText(j);
}

std::string PrepareReport::ToText() const {
  std::ostringstream o;
  o << "rows read:               " << interaction_file.rows << "\n"
    << "bad lines skipped:       " << FormatBadLineCounts(interaction_file.bad_lines) << "\n"
    << "duplicates:              " << duplicates << "\n"
    << "cancelled rows:          " << cancelled << " (netted " << netted << ", unmatched " << unmatched_cancellations << ")\n"
    << "missing values dropped:  " << MissingText(interaction_file) << " (missing ids " << missing_ids << ")\n"
    << "label 0 rows:            " << negative_label << "\n"
    << "quantity <= 0 rows:      " << non_positive_quantity << "\n"
    << "interaction rows kept:   " << purchases << " (" << repeat_purchases << " repeats of a pair merged, "
    << pairs_netted_out << " pairs netted to <= 0)\n"
    << "users below minimum:     " << users_below_min << " (" << interactions_below_min << " interactions)\n";
  if (item_file.rows > 0 || !item_file.bad_lines.empty()) {
    o << "item file rows:          " << item_file.rows << " (bad " << FormatBadLineCounts(item_file.bad_lines)
      << ", missing " << MissingText(item_file) << ", repeated ids " << item_file.duplicate_ids << ")\n";
  }
  if (user_file.rows > 0 || !user_file.bad_lines.empty()) {
    o << "user file rows:          " << user_file.rows << " (bad " << FormatBadLineCounts(user_file.bad_lines)
      << ", missing " << MissingText(user_file) << ", repeated ids " << user_file.duplicate_ids << ")\n";
  }
  o << "users:                   " << users;
  if (user_file.rows > 0) o << " (" << users_without_side_file_row << " not in the user file)";
  o << "\nitems:                   " << items << " (" << items_with_interactions << " with interactions";
  if (item_file.rows > 0) o << ", " << items_without_side_file_row << " not in the item file";
  o << ")\n"
    << "interactions:            " << interactions << " (train " << train << ", test " << test << ")\n";
  return o.str();
}

}  // namespace embark
