// Bundle: a trained model exported for serving -- a directory of memory-mappable arrays plus a
// manifest.json, in the open format documented in serving/bundle_format.md (read that for
// the bytes; this header is the C++ API over them).
//
//   DIR/manifest.json        format version, kind (full or delta), dtype, model and its
//                            options, fields and hashing, training metrics, source checkpoint,
//                            the tables, and the size and CRC-32 of every other file
//   DIR/TABLE.keys.npy       sorted u64 keys (a standard .npy file, 128-byte header, so the
//                            array starts 64-byte aligned and numpy.load / np.memmap read it)
//   DIR/TABLE.values.npy     rows x dim, row-major, float32 or float16 (weights only)
//   DIR/TABLE.ids.txt        optional: the raw id of row i on line i ("" when unknown)
//   DIR/TABLE.deleted.npy    delta bundles only: keys removed since the base bundle
//   DIR/NAME.npy             optional one-dimensional arrays besides the tables (the manifest's
//                            "arrays"): serving data such as the items each user has seen and
//                            the item catalogue (serving/topk_data.h)
//
// Writing: fill a BundleSpec (tables with sorted keys and float32 rows) and call WriteBundle,
// which converts to the chosen dtype, checksums every file and publishes the directory with a
// rename (a reader never sees a half-written bundle under the final name).
//
// Reading: Bundle::Open maps every file read-only, checks the format version, every file's
// size and CRC-32 against the manifest (a bad or unknown file is refused, naming it), and the
// .npy headers; then BundleTable::Find / Lookup are a binary search over the mapped keys with
// no allocation, returning a pointer into the mapping.
//
// Delta bundles hold only the rows that changed since a base bundle (new keys and keys whose
// stored values differ) plus the keys that disappeared; MakeDelta builds one, ApplyDelta writes
// base + delta as a new full bundle (bit-identical to a full export of the newer checkpoint).
//
// Thread-safety: WriteBundle, MakeDelta, ApplyDelta are reentrant (distinct directories). An
// open Bundle is immutable: any number of threads may call its const methods concurrently.
// The Bundle must outlive every pointer obtained from it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "serving/json.h"

namespace embark {

// The manifest's "format_version" this code writes and the only one it reads.
constexpr uint32_t kBundleFormatVersion = 1;

enum class BundleDtype : uint8_t { kFloat32 = 0, kFloat16 = 1 };
// "float32" / "float16".
const char* BundleDtypeName(BundleDtype dtype);
Status ParseBundleDtype(const std::string& name, BundleDtype* out);

// IEEE 754 binary16 <-> binary32; FloatToHalf rounds to nearest even, overflows to +-inf and
// keeps NaN a NaN.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

// ---------------------------------------------------------------------------------------
// Writing

// One table to write. Rows are given in float32 and converted to BundleSpec::dtype on write.
struct BundleTableData {
  std::string name;               // file-name safe: [A-Za-z0-9_-]+
  uint32_t dim = 0;               // values per row (>= 1)
  bool dense = false;             // a dense vector exported as one row with key 0
  std::string columns;            // human-readable column layout, copied into the manifest
  std::vector<uint64_t> keys;     // strictly ascending
  std::vector<float> values;      // keys.size() * dim, row-major
  std::vector<uint64_t> deleted;  // delta bundles only: keys gone since the base, ascending
  std::vector<std::string> ids;   // optional: raw id of each key (same order); "" = unknown
};

// One extra array to write (NAME.npy): a flat vector of uint64, uint16 or float32 elements.
// Arrays are not diffed: a delta bundle carries the arrays it was given whole; base + delta
// takes the delta's arrays and keeps the base's arrays of other names. WriteBundle writes them
// in name order.
struct BundleArrayData {
  std::string name;   // file-name safe: [A-Za-z0-9_-]+
  std::string descr;  // "<u8", "<u2" or "<f4"
  uint64_t length = 0;
  std::string bytes;  // length elements, little-endian

  static BundleArrayData Of(const std::string& name, const std::vector<uint64_t>& v);
  static BundleArrayData Of(const std::string& name, const std::vector<uint16_t>& v);
  static BundleArrayData Of(const std::string& name, const std::vector<float>& v);
};

struct BundleSpec {
  BundleDtype dtype = BundleDtype::kFloat32;
  std::string base_id;            // non-empty: this is a delta against bundle `base_id`
  // JSON objects (as text) copied verbatim into manifest.json under "model", "features",
  // "training_metrics" and "source"; an empty string writes {}.
  std::string model_json;
  std::string features_json;
  std::string metrics_json;
  std::string source_json;
  std::vector<BundleTableData> tables;
  std::vector<BundleArrayData> arrays;
};

// Writes `spec` as the bundle directory `dir`: files go to a temporary sibling directory which
// is then renamed to `dir`. An existing bundle at `dir` (a directory holding manifest.json) is
// replaced: it is moved aside, the new one renamed in, the old one removed; any other existing
// `dir` is an error. Checks the spec (sorted unique keys, value counts, names) first and
// returns InvalidArgument naming the table. *bundle_id (optional) receives the new bundle's id.
Status WriteBundle(const std::string& dir, const BundleSpec& spec, std::string* bundle_id = nullptr);

// ---------------------------------------------------------------------------------------
// Reading

class Bundle;

// One table of an open bundle. Pointers point into read-only mappings owned by the Bundle.
class BundleTable {
 public:
  const std::string& name() const { return name_; }
  uint32_t dim() const { return dim_; }
  bool dense() const { return dense_; }
  uint64_t rows() const { return rows_; }
  BundleDtype dtype() const { return dtype_; }
  // The manifest's column description of this table (e.g. "p_u[0..K) then b_u").
  const std::string& columns() const { return columns_; }

  // Keys in ascending order, rows() of them.
  const uint64_t* keys() const { return keys_; }
  // Row index of `key`, or -1 when the table does not hold it. Binary search, no allocation.
  int64_t Find(uint64_t key) const;
  // Row `row` (< rows()) in the stored dtype: const float* for float32 bundles, const uint16_t*
  // (IEEE half) for float16. dim() values.
  const void* RowData(uint64_t row) const {
    return static_cast<const char*>(values_) + row * dim_ * (dtype_ == BundleDtype::kFloat32 ? 4 : 2);
  }
  // float32 bundles: the row of `key`, or nullptr when absent. Always nullptr for float16
  // bundles (use LookupInto).
  const float* Lookup(uint64_t key) const;
  // Any dtype: copies row `row` as float32 into out[0..dim()).
  void CopyRow(uint64_t row, float* out) const;
  // Any dtype: copies the row of `key` into out[0..dim()); false when absent.
  bool LookupInto(uint64_t key, float* out) const;

  // Delta bundles: keys removed since the base, ascending (0 of them in a full bundle).
  const uint64_t* deleted_keys() const { return deleted_; }
  uint64_t num_deleted() const { return num_deleted_; }

  // Raw ids (when the bundle was exported with --ids_from): the id of row `row`, empty when
  // unknown or when the bundle has no id map.
  bool has_ids() const { return !id_offsets_.empty(); }
  std::string_view id(uint64_t row) const;

 private:
  friend class Bundle;
  std::string name_;
  std::string columns_;
  uint32_t dim_ = 0;
  bool dense_ = false;
  uint64_t rows_ = 0;
  BundleDtype dtype_ = BundleDtype::kFloat32;
  const uint64_t* keys_ = nullptr;
  const void* values_ = nullptr;
  const uint64_t* deleted_ = nullptr;
  uint64_t num_deleted_ = 0;
  const char* ids_ = nullptr;             // the mapped ids file
  std::vector<uint64_t> id_offsets_;      // rows()+1 line starts (each line ends with '\n')
};

// One extra array of an open bundle: `length` elements of `descr` at `data` (in the mapping).
struct BundleArray {
  std::string name;
  std::string descr;  // "<u8", "<u2" or "<f4"
  uint64_t length = 0;
  const void* data = nullptr;
};

struct BundleOpenOptions {
  // Checks every file's CRC-32 against the manifest (reads every byte once). Off: only sizes
  // and headers are checked, for very large bundles whose files are trusted.
  bool verify_checksums = true;
};

class Bundle {
 public:
  // Opens the bundle directory `dir`. Refuses (naming the file and the reason): a missing or
  // unparseable manifest.json, a format or format_version this code does not know, a file
  // whose size or CRC-32 differs from the manifest, a malformed .npy header or an array
  // whose shape disagrees with the manifest, keys that are not strictly ascending.
  static Status Open(const std::string& dir, std::unique_ptr<Bundle>* out,
                     const BundleOpenOptions& options = {});
  ~Bundle();
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;

  const std::string& dir() const { return dir_; }
  // 16 hex digits derived from the data files' names and checksums (and the base id of a
  // delta): equal ids mean equal contents.
  const std::string& id() const { return id_; }
  bool is_delta() const { return !base_id_.empty(); }
  const std::string& base_id() const { return base_id_; }
  BundleDtype dtype() const { return dtype_; }
  // The manifest's model.name (a registered model: `embark models`).
  const std::string& model_name() const { return model_name_; }
  // The whole manifest, for the model options, serving constants, fields and metrics.
  const JsonValue& manifest() const { return manifest_; }

  size_t num_tables() const { return tables_.size(); }
  const BundleTable& table(size_t i) const { return *tables_[i]; }
  // The table called `name`, or nullptr.
  const BundleTable* FindTable(const std::string& name) const;

  // The extra arrays (manifest "arrays"), in manifest order.
  const std::vector<BundleArray>& arrays() const { return arrays_; }
  // The array called `name` if the bundle has it with element type `descr`; nullptr when it
  // has no such array; an array of that name but another type is Corruption.
  Status FindArray(const std::string& name, const std::string& descr, const BundleArray** out) const;

 private:
  class Mapping;
  Bundle() = default;
  Status Load(const std::string& dir, const BundleOpenOptions& options);
  Status MapFile(const std::string& name, uint64_t* size, const char** data);

  std::string dir_;
  std::string id_;
  std::string base_id_;
  std::string model_name_;
  BundleDtype dtype_ = BundleDtype::kFloat32;
  JsonValue manifest_;
  std::vector<std::unique_ptr<BundleTable>> tables_;
  std::vector<BundleArray> arrays_;
  std::vector<std::unique_ptr<Mapping>> mappings_;
};

// ---------------------------------------------------------------------------------------
// Deltas

// Fills *delta (a BundleSpec with delta->base_id = base.id()) with what changed from `base`
// to `full`: per table the rows of `full` whose key is new or whose values, stored in base's
// dtype, differ bit-wise from base's row, and in `deleted` the keys of base missing from
// `full`. The metadata JSON of `full` is carried over. InvalidArgument when the two do not
// describe the same model layout (table names, dims, dtype) or `base` is itself a delta.
Status MakeDelta(const Bundle& base, const BundleSpec& full, BundleSpec* delta);

// Writes base + delta as a new full bundle at `out_dir` (see WriteBundle): rows of the delta
// replace or add, deleted keys go; metadata comes from the delta. Refuses a delta whose
// base_id is not base.id().
Status ApplyDelta(const Bundle& base, const Bundle& delta, const std::string& out_dir);

}  // namespace embark
