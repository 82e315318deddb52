#include "serving/bundle.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/hash.h"
#include "core/json_text.h"
#include "core/crc32.h"
#include "core/file_env.h"
#include "serving/npy.h"

namespace embark {

namespace {

constexpr char kFormatName[] = "embark-bundle";
constexpr char kManifest[] = "manifest.json";

const char* DtypeDescr(BundleDtype d) { return d == BundleDtype::kFloat32 ? "<f4" : "<f2"; }

std::string Hex16(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

bool IsFileNameSafe(const std::string& name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Removes a bundle-like directory: its plain files, then the directory (bundles have no
// subdirectories; anything else makes rmdir fail, which is reported).
Status RemoveFlatDirectory(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Status::OK() : Status::IoError("cannot open " + dir + ": " + std::strerror(errno));
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::remove((dir + "/" + name).c_str());
  }
  closedir(d);
  if (rmdir(dir.c_str()) != 0) return Status::IoError("cannot remove " + dir + ": " + std::strerror(errno));
  return Status::OK();
}

// One written data file: its name in the bundle, size and CRC-32.
struct FileRecord {
  std::string name;
  uint64_t bytes = 0;
  uint32_t crc = 0;
};

// Writes header + payload to dir/name and records size and checksum of exactly those bytes.
Status WriteDataFile(const std::string& dir, const std::string& name, const std::string& header,
                     const void* payload, uint64_t payload_bytes, std::vector<FileRecord>* files) {
  const std::string path = dir + "/" + name;
  // Synced here; the directory is published whole by a durable rename (WriteBundle).
  EMBARK_RETURN_IF_ERROR(WriteSyncedFile(
      FileEnv::Default(), path,
      {header, std::string_view(static_cast<const char*>(payload), static_cast<size_t>(payload_bytes))}));
  FileRecord r;
  r.name = name;
  r.bytes = header.size() + payload_bytes;
  r.crc = Crc32(Crc32(0, header.data(), header.size()), payload, payload_bytes);
  files->push_back(r);
  return Status::OK();
}

Status WriteNpyData(const std::string& dir, const std::string& name, const char* descr,
                    const std::vector<uint64_t>& shape, const void* data, uint64_t bytes,
                    std::vector<FileRecord>* files) {
  return WriteDataFile(dir, name, NpyHeader(descr, shape), data, bytes, files);
}

// The bundle id: a hash of the kind, the base and every data file's name, size and checksum.
std::string ComputeBundleId(const std::string& base_id, const std::vector<FileRecord>& files) {
  std::string text = base_id.empty() ? "full\n" : "delta " + base_id + "\n";
  for (const FileRecord& f : files) text += f.name + " " + std::to_string(f.bytes) + " " + std::to_string(f.crc) + "\n";
  return Hex16(HashBytes(text));
}

// Bytes per element of an extra array's dtype, 0 for a dtype arrays may not use.
size_t ArrayElementBytes(const std::string& descr) {
  if (descr == "<u8") return 8;
  if (descr == "<u2") return 2;
  if (descr == "<f4") return 4;
  return 0;
}

Status CheckSpec(const BundleSpec& spec) {
  std::vector<std::string> array_names;
  for (const BundleArrayData& a : spec.arrays) {
    auto bad = [&](const std::string& why) { return Status::InvalidArgument("bundle array '" + a.name + "': " + why); };
    if (!IsFileNameSafe(a.name)) return bad("names may use only letters, digits, '_' and '-'");
    if (std::find(array_names.begin(), array_names.end(), a.name) != array_names.end()) return bad("appears twice");
    array_names.push_back(a.name);
    const size_t size = ArrayElementBytes(a.descr);
    if (size == 0) return bad("dtype '" + a.descr + "' is not <u8, <u2 or <f4");
    if (a.bytes.size() != a.length * size) return bad(std::to_string(a.bytes.size()) + " bytes for " + std::to_string(a.length) + " elements");
  }
  std::vector<std::string> seen;
  for (const BundleTableData& t : spec.tables) {
    auto bad = [&](const std::string& why) { return Status::InvalidArgument("bundle table '" + t.name + "': " + why); };
    if (!IsFileNameSafe(t.name)) return bad("names may use only letters, digits, '_' and '-'");
    if (std::find(seen.begin(), seen.end(), t.name) != seen.end()) return bad("appears twice");
    seen.push_back(t.name);
    if (t.dim == 0) return bad("dim is 0");
    if (t.values.size() != t.keys.size() * t.dim) {
      return bad(std::to_string(t.values.size()) + " values for " + std::to_string(t.keys.size()) + " rows of " +
                 std::to_string(t.dim));
    }
    for (size_t i = 1; i < t.keys.size(); ++i)
      if (t.keys[i - 1] >= t.keys[i]) return bad("keys are not strictly ascending at row " + std::to_string(i));
    for (size_t i = 1; i < t.deleted.size(); ++i)
      if (t.deleted[i - 1] >= t.deleted[i]) return bad("deleted keys are not strictly ascending");
    if (!t.deleted.empty() && spec.base_id.empty()) return bad("deleted keys in a bundle that is not a delta");
    if (!t.ids.empty() && t.ids.size() != t.keys.size()) return bad("ids and keys differ in number");
    for (const std::string& id : t.ids)
      if (id.find_first_of("\n\r") != std::string::npos) return bad("an id contains a line break");
  }
  const std::pair<const char*, const std::string*> objects[] = {{"model", &spec.model_json},
                                                                {"features", &spec.features_json},
                                                                {"training_metrics", &spec.metrics_json},
                                                                {"source", &spec.source_json}};
  for (const auto& [key, text] : objects) {
    if (text->empty()) continue;
    JsonValue v;
    Status st = JsonValue::Parse(*text, std::string("the bundle's ") + key + " metadata", &v);
    if (!st.ok()) return st;
    if (!v.is_object()) return Status::InvalidArgument(std::string("the bundle's ") + key + " metadata is not a JSON object");
  }
  return Status::OK();
}

}  // namespace

const char* BundleDtypeName(BundleDtype dtype) { return dtype == BundleDtype::kFloat32 ? "float32" : "float16"; }

Status ParseBundleDtype(const std::string& name, BundleDtype* out) {
  if (name == "float32") {
    *out = BundleDtype::kFloat32;
  } else if (name == "float16") {
    *out = BundleDtype::kFloat16;
  } else {
    return Status::InvalidArgument("unknown dtype '" + name + "' (float32 or float16)");
  }
  return Status::OK();
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7FFFFFFF;
  if (abs > 0x7F800000) return static_cast<uint16_t>(sign | 0x7E00);  // NaN stays NaN
  if (abs >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to >= 65520: inf
  if (abs < 0x38800000) {
    // Subnormal half (or zero): value = m * 2^-24; round abs / 2^-24 to nearest even.
    if (abs < 0x33000000) return sign;  // below half of the smallest subnormal: +-0
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7FFFFF) | 0x800000;
    const uint32_t shift = 126 - exp;  // 14 + (112 - exp) ... bits dropped from the 24-bit mantissa
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits.
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is correct
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t x;
  if (exp == 0x1F) {
    x = sign | 0x7F800000 | (mant << 13);
  } else if (exp != 0) {
    x = sign | ((exp + 112) << 23) | (mant << 13);
  } else {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    std::memcpy(&x, &v, 4);
    x |= sign;
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// ------------------------------------------------------------------------------------------
// Writer

namespace {

// The manifest as text: a member a line, and the tables, arrays and files one a line, so a
// person (or grep) reads it as easily as a JSON parser does.
std::string ManifestText(const nlohmann::ordered_json& m) {
  std::string out = "{\n";
  size_t n = 0;
  for (auto it = m.begin(); it != m.end(); ++it, ++n) {
    out += "  " + JsonText(nlohmann::ordered_json(it.key())) + ": ";
    const nlohmann::ordered_json& v = it.value();
    const bool listed = it.key() == "tables" || it.key() == "arrays" || it.key() == "files";
    if (listed && v.is_array() && !v.empty()) {
      out += "[\n";
      for (size_t i = 0; i < v.size(); ++i) out += "    " + JsonText(v[i]) + (i + 1 < v.size() ? ",\n" : "\n");
      out += "  ]";
    } else if (listed && v.is_object() && !v.empty()) {
      out += "{\n";
      size_t i = 0;
      for (auto e = v.begin(); e != v.end(); ++e, ++i)
        out += "    " + JsonText(nlohmann::ordered_json(e.key())) + ": " + JsonText(e.value()) + (i + 1 < v.size() ? ",\n" : "\n");
      out += "  }";
    } else {
      out += JsonText(v);
    }
    out += n + 1 < m.size() ? ",\n" : "\n";
  }
  return out + "}\n";
}

}  // namespace

Status WriteBundle(const std::string& dir, const BundleSpec& spec, std::string* bundle_id) {
  EMBARK_RETURN_IF_ERROR(CheckSpec(spec));
  if (dir.empty()) return Status::InvalidArgument("no bundle directory given");
  if (FileExists(dir) && !(IsDirectory(dir) && FileExists(dir + "/" + kManifest))) {
    return Status::InvalidArgument(dir + " exists and is not a bundle; refusing to replace it");
  }
  const std::string tmp = dir + ".tmp-" + std::to_string(getpid());
  if (FileExists(tmp)) EMBARK_RETURN_IF_ERROR(RemoveFlatDirectory(tmp));  // left by a crashed run
  if (mkdir(tmp.c_str(), 0755) != 0) return Status::IoError("cannot create " + tmp + ": " + std::strerror(errno));
  // On any failure below the temporary directory goes, so a failed export leaves nothing.
  struct RemoveUnlessPublished {
    const std::string& path;
    bool published = false;
    ~RemoveUnlessPublished() {
      if (!published) (void)RemoveFlatDirectory(path);
    }
  } cleanup{tmp};

  const bool delta = !spec.base_id.empty();
  std::vector<FileRecord> files;
  nlohmann::ordered_json tables_json = nlohmann::ordered_json::array();
  std::vector<uint16_t> half;
  for (const BundleTableData& t : spec.tables) {
    const uint64_t rows = t.keys.size();
    const std::string keys_file = t.name + ".keys.npy";
    const std::string values_file = t.name + ".values.npy";
    EMBARK_RETURN_IF_ERROR(WriteNpyData(tmp, keys_file, "<u8", {rows}, t.keys.data(), rows * 8, &files));
    if (spec.dtype == BundleDtype::kFloat32) {
      EMBARK_RETURN_IF_ERROR(WriteNpyData(tmp, values_file, "<f4", {rows, t.dim}, t.values.data(), t.values.size() * 4, &files));
    } else {
      half.resize(t.values.size());
      for (size_t i = 0; i < t.values.size(); ++i) half[i] = FloatToHalf(t.values[i]);
      EMBARK_RETURN_IF_ERROR(WriteNpyData(tmp, values_file, "<f2", {rows, t.dim}, half.data(), half.size() * 2, &files));
    }
    nlohmann::ordered_json entry = {{"name", t.name}, {"dense", t.dense},       {"rows", rows},
                                    {"dim", t.dim},   {"columns", t.columns}, {"keys", keys_file},
                                    {"values", values_file}};
    if (!t.ids.empty()) {
      std::string text;
      for (const std::string& id : t.ids) text += id + "\n";
      const std::string ids_file = t.name + ".ids.txt";
      EMBARK_RETURN_IF_ERROR(WriteDataFile(tmp, ids_file, "", text.data(), text.size(), &files));
      entry["ids"] = ids_file;
    }
    if (delta) {
      const std::string deleted_file = t.name + ".deleted.npy";
      EMBARK_RETURN_IF_ERROR(
          WriteNpyData(tmp, deleted_file, "<u8", {t.deleted.size()}, t.deleted.data(), t.deleted.size() * 8, &files));
      entry["deleted"] = deleted_file;
      entry["deleted_rows"] = t.deleted.size();
    }
    tables_json.push_back(entry);
  }
  // Extra arrays as NAME.npy; table files are NAME.keys.npy etc., so names cannot collide.
  nlohmann::ordered_json arrays_json = nlohmann::ordered_json::object();
  std::vector<const BundleArrayData*> arrays;  // in name order, so the bundle id does not depend on the order given
  for (const BundleArrayData& a : spec.arrays) arrays.push_back(&a);
  std::sort(arrays.begin(), arrays.end(), [](const BundleArrayData* x, const BundleArrayData* y) { return x->name < y->name; });
  for (const BundleArrayData* ap : arrays) {
    const BundleArrayData& a = *ap;
    const std::string file = a.name + ".npy";
    EMBARK_RETURN_IF_ERROR(WriteNpyData(tmp, file, a.descr.c_str(), {a.length}, a.bytes.data(), a.bytes.size(), &files));
    arrays_json[a.name] = {{"file", file}, {"dtype", a.descr}, {"length", a.length}};
  }
  const std::string id = ComputeBundleId(spec.base_id, files);
  // The metadata objects were checked to parse (CheckSpec).
  auto object = [](const std::string& text) {
    return text.empty() ? nlohmann::ordered_json::object() : nlohmann::ordered_json::parse(text);
  };
  nlohmann::ordered_json m;
  m["format"] = kFormatName;
  m["format_version"] = kBundleFormatVersion;
  m["kind"] = delta ? "delta" : "full";
  m["bundle_id"] = id;
  if (delta) m["base_bundle_id"] = spec.base_id;
  m["dtype"] = BundleDtypeName(spec.dtype);
  m["byte_order"] = "little";
  m["model"] = object(spec.model_json);
  m["features"] = object(spec.features_json);
  m["training_metrics"] = object(spec.metrics_json);
  m["source"] = object(spec.source_json);
  m["tables"] = tables_json;
  if (!arrays_json.empty()) m["arrays"] = arrays_json;
  m["checksum"] = "crc32";
  nlohmann::ordered_json files_json = nlohmann::ordered_json::object();
  for (const FileRecord& f : files) files_json[f.name] = {{"bytes", f.bytes}, {"crc32", f.crc}};
  m["files"] = files_json;
  const std::string text = ManifestText(m);
  EMBARK_RETURN_IF_ERROR(WriteSyncedFile(FileEnv::Default(), tmp + "/" + kManifest, {text}));
  // Publish: a bundle already at `dir` is moved aside first (rename cannot replace a
  // non-empty directory), so `dir` is missing only between two renames.
  std::string old;
  if (FileExists(dir)) {
    old = dir + ".old-" + std::to_string(getpid());
    if (FileExists(old)) EMBARK_RETURN_IF_ERROR(RemoveFlatDirectory(old));
    EMBARK_RETURN_IF_ERROR(RenameDurably(FileEnv::Default(), dir, old));
  }
  EMBARK_RETURN_IF_ERROR(RenameDurably(FileEnv::Default(), tmp, dir));
  cleanup.published = true;
  if (!old.empty()) EMBARK_RETURN_IF_ERROR(RemoveFlatDirectory(old));
  if (bundle_id != nullptr) *bundle_id = id;
  return Status::OK();
}

// ------------------------------------------------------------------------------------------
// Reader

// A read-only mapping of one whole file.
class Bundle::Mapping {
 public:
  Mapping(void* data, size_t size) : data_(data), size_(size) {}
  ~Mapping() {
    if (data_ != nullptr) munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

 private:
  void* data_;
  size_t size_;
};

Bundle::~Bundle() = default;

Status Bundle::MapFile(const std::string& name, uint64_t* size, const char** data) {
  const std::string path = dir_ + "/" + name;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound("bundle file " + path + " is missing or unreadable: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Status::IoError("cannot stat " + path);
  }
  *size = static_cast<uint64_t>(st.st_size);
  static const char kEmpty[1] = {0};
  *data = kEmpty;
  if (*size > 0) {
    void* p = mmap(nullptr, *size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      close(fd);
      return Status::IoError("cannot map " + path + ": " + std::strerror(errno));
    }
    mappings_.push_back(std::make_unique<Mapping>(p, *size));
    *data = static_cast<const char*>(p);
  }
  close(fd);
  return Status::OK();
}

Status Bundle::Open(const std::string& dir, std::unique_ptr<Bundle>* out, const BundleOpenOptions& options) {
  std::unique_ptr<Bundle> b(new Bundle());
  EMBARK_RETURN_IF_ERROR(b->Load(dir, options));
  *out = std::move(b);
  return Status::OK();
}

Status Bundle::Load(const std::string& dir, const BundleOpenOptions& options) {
  dir_ = dir;
  const std::string manifest_path = dir + "/" + kManifest;
  std::ifstream in(manifest_path, std::ios::binary);
  if (!in) return Status::NotFound("bundle manifest " + manifest_path + " is missing or unreadable");
  std::stringstream ss;
  ss << in.rdbuf();
  EMBARK_RETURN_IF_ERROR(JsonValue::Parse(ss.str(), manifest_path, &manifest_));
  auto bad = [&](const std::string& why) { return Status::Corruption(manifest_path + ": " + why); };
  if (manifest_["format"].AsString() != kFormatName) return bad("not an embark bundle (\"format\" is not \"embark-bundle\")");
  const JsonValue& version = manifest_["format_version"];
  if (!version.is_number() || version.AsUint64() != kBundleFormatVersion) {
    return bad("format_version " + (version.is_number() ? version.AsString() : std::string("missing")) +
               " is not supported (this build reads version " + std::to_string(kBundleFormatVersion) + ")");
  }
  const std::string kind = manifest_["kind"].AsString();
  if (kind != "full" && kind != "delta") return bad("unknown kind '" + kind + "'");
  if (manifest_["byte_order"].AsString() != "little") return bad("byte_order is not \"little\"");
  id_ = manifest_["bundle_id"].AsString();
  if (kind == "delta") {
    base_id_ = manifest_["base_bundle_id"].AsString();
    if (base_id_.empty()) return bad("a delta without base_bundle_id");
  }
  EMBARK_RETURN_IF_ERROR(ParseBundleDtype(manifest_["dtype"].AsString(), &dtype_));
  model_name_ = manifest_["model"]["name"].AsString();
  if (manifest_["checksum"].AsString() != "crc32") return bad("unknown checksum \"" + manifest_["checksum"].AsString() + "\"");

  // Every data file: size and checksum first, so nothing below reads a damaged byte.
  struct Mapped {
    const char* data = nullptr;
    uint64_t size = 0;
  };
  std::vector<std::pair<std::string, Mapped>> mapped;
  const JsonValue& files = manifest_["files"];
  if (!files.is_object()) return bad("no \"files\" object");
  for (const auto& [name, info] : files.members()) {
    if (name.find('/') != std::string::npos || name == "." || name == "..") return bad("file name '" + name + "' leaves the bundle");
    Mapped m;
    EMBARK_RETURN_IF_ERROR(MapFile(name, &m.size, &m.data));
    const std::string path = dir + "/" + name;
    if (m.size != info["bytes"].AsUint64()) {
      return Status::Corruption("bundle file " + path + " has " + std::to_string(m.size) + " bytes, the manifest says " +
                                info["bytes"].AsString() + " (truncated or replaced)");
    }
    if (options.verify_checksums) {
      const uint32_t crc = Crc32(0, m.data, m.size);
      if (crc != info["crc32"].AsUint64()) {
        return Status::Corruption("bundle file " + path + ": CRC-32 " + std::to_string(crc) + " differs from the manifest's " +
                                  info["crc32"].AsString() + " (the file is damaged or was modified)");
      }
    }
    mapped.emplace_back(name, m);
  }
  auto find_file = [&](const std::string& name, Mapped* out) -> Status {
    for (const auto& [n, m] : mapped) {
      if (n == name) {
        *out = m;
        return Status::OK();
      }
    }
    return bad("file '" + name + "' is used by a table but not listed (with its checksum) in \"files\"");
  };
  // A .npy array of `descr` with `shape`; sets *data to its first element.
  auto open_array = [&](const std::string& name, const std::string& descr, const std::vector<uint64_t>& shape,
                        const void** data) -> Status {
    Mapped m;
    EMBARK_RETURN_IF_ERROR(find_file(name, &m));
    std::string got_descr;
    std::vector<uint64_t> got_shape;
    uint64_t offset = 0;
    EMBARK_RETURN_IF_ERROR(ParseNpyHeader(dir + "/" + name, m.data, m.size, &got_descr, &got_shape, &offset));
    if (got_descr != descr || got_shape != shape) {
      std::string want;
      for (uint64_t s : shape) want += (want.empty() ? "" : "x") + std::to_string(s);
      return Status::Corruption("bundle file " + dir + "/" + name + ": dtype or shape differs from the manifest (want " +
                                descr + " " + want + ")");
    }
    *data = m.data + offset;
    return Status::OK();
  };

  const JsonValue& tables = manifest_["tables"];
  if (!tables.is_array()) return bad("no \"tables\" array");
  for (const JsonValue& tj : tables.elements()) {
    auto t = std::make_unique<BundleTable>();
    t->name_ = tj["name"].AsString();
    t->columns_ = tj["columns"].AsString();
    t->dim_ = static_cast<uint32_t>(tj["dim"].AsUint64());
    t->dense_ = tj["dense"].AsBool();
    t->rows_ = tj["rows"].AsUint64();
    t->dtype_ = dtype_;
    if (t->name_.empty() || t->dim_ == 0 || !tj["rows"].is_number()) return bad("a table without name, dim or rows");
    const void* p = nullptr;
    EMBARK_RETURN_IF_ERROR(open_array(tj["keys"].AsString(), "<u8", {t->rows_}, &p));
    t->keys_ = static_cast<const uint64_t*>(p);
    EMBARK_RETURN_IF_ERROR(open_array(tj["values"].AsString(), DtypeDescr(dtype_), {t->rows_, t->dim_}, &t->values_));
    // Find() relies on the order; checking it is one pass over the keys.
    for (uint64_t i = 1; i < t->rows_; ++i)
      if (t->keys_[i - 1] >= t->keys_[i])
        return Status::Corruption("bundle file " + dir + "/" + tj["keys"].AsString() + ": keys not strictly ascending at row " + std::to_string(i));
    if (tj.Has("deleted")) {
      t->num_deleted_ = tj["deleted_rows"].AsUint64();
      EMBARK_RETURN_IF_ERROR(open_array(tj["deleted"].AsString(), "<u8", {t->num_deleted_}, &p));
      t->deleted_ = static_cast<const uint64_t*>(p);
    } else if (kind == "delta") {
      return bad("table '" + t->name_ + "' of a delta has no \"deleted\" file");
    }
    if (tj.Has("ids")) {
      Mapped m;
      EMBARK_RETURN_IF_ERROR(find_file(tj["ids"].AsString(), &m));
      t->ids_ = m.data;
      t->id_offsets_.reserve(t->rows_ + 1);
      t->id_offsets_.push_back(0);
      for (uint64_t i = 0; i < m.size; ++i)
        if (m.data[i] == '\n') t->id_offsets_.push_back(i + 1);
      if (t->id_offsets_.size() != t->rows_ + 1 || (m.size > 0 && m.data[m.size - 1] != '\n')) {
        return Status::Corruption("bundle file " + dir + "/" + tj["ids"].AsString() + ": " +
                                  std::to_string(t->id_offsets_.size() - 1) + " lines for " + std::to_string(t->rows_) + " rows");
      }
    }
    if (FindTable(t->name_) != nullptr) return bad("table '" + t->name_ + "' appears twice");
    tables_.push_back(std::move(t));
  }
  const JsonValue& arrays = manifest_["arrays"];
  if (manifest_.Has("arrays") && !arrays.is_object()) return bad("\"arrays\" is not an object");
  if (arrays.is_object()) {
    for (const auto& [name, aj] : arrays.members()) {
      BundleArray a;
      a.name = name;
      a.descr = aj["dtype"].AsString();
      a.length = aj["length"].AsUint64();
      if (ArrayElementBytes(a.descr) == 0 || !aj["length"].is_number())
        return bad("array '" + name + "' has no length or an unknown dtype '" + a.descr + "'");
      EMBARK_RETURN_IF_ERROR(open_array(aj["file"].AsString(), a.descr, {a.length}, &a.data));
      arrays_.push_back(std::move(a));
    }
  }
  return Status::OK();
}

Status Bundle::FindArray(const std::string& name, const std::string& descr, const BundleArray** out) const {
  *out = nullptr;
  for (const BundleArray& a : arrays_) {
    if (a.name != name) continue;
    if (a.descr != descr)
      return Status::Corruption(dir_ + "/manifest.json: array '" + name + "' is " + a.descr + ", expected " + descr);
    *out = &a;
  }
  return Status::OK();
}

namespace {
template <typename T>
BundleArrayData ArrayOf(const std::string& name, const char* descr, const std::vector<T>& v) {
  BundleArrayData a;
  a.name = name;
  a.descr = descr;
  a.length = v.size();
  a.bytes.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  return a;
}
}  // namespace

BundleArrayData BundleArrayData::Of(const std::string& name, const std::vector<uint64_t>& v) { return ArrayOf(name, "<u8", v); }
BundleArrayData BundleArrayData::Of(const std::string& name, const std::vector<uint16_t>& v) { return ArrayOf(name, "<u2", v); }
BundleArrayData BundleArrayData::Of(const std::string& name, const std::vector<float>& v) { return ArrayOf(name, "<f4", v); }

const BundleTable* Bundle::FindTable(const std::string& name) const {
  for (const auto& t : tables_)
    if (t->name() == name) return t.get();
  return nullptr;
}

int64_t BundleTable::Find(uint64_t key) const {
  const uint64_t* end = keys_ + rows_;
  const uint64_t* it = std::lower_bound(keys_, end, key);
  return (it != end && *it == key) ? static_cast<int64_t>(it - keys_) : -1;
}

const float* BundleTable::Lookup(uint64_t key) const {
  if (dtype_ != BundleDtype::kFloat32) return nullptr;
  const int64_t row = Find(key);
  return row < 0 ? nullptr : static_cast<const float*>(RowData(static_cast<uint64_t>(row)));
}

void BundleTable::CopyRow(uint64_t row, float* out) const {
  if (dtype_ == BundleDtype::kFloat32) {
    std::memcpy(out, RowData(row), size_t{dim_} * sizeof(float));
  } else {
    const uint16_t* h = static_cast<const uint16_t*>(RowData(row));
    for (uint32_t j = 0; j < dim_; ++j) out[j] = HalfToFloat(h[j]);
  }
}

bool BundleTable::LookupInto(uint64_t key, float* out) const {
  const int64_t row = Find(key);
  if (row < 0) return false;
  CopyRow(static_cast<uint64_t>(row), out);
  return true;
}

std::string_view BundleTable::id(uint64_t row) const {
  if (id_offsets_.empty() || row >= rows_) return {};
  return std::string_view(ids_ + id_offsets_[row], id_offsets_[row + 1] - id_offsets_[row] - 1);
}

// ------------------------------------------------------------------------------------------
// Deltas

namespace {

Status CheckSameLayout(const std::string& what, const Bundle& base, const std::vector<std::pair<std::string, uint32_t>>& tables) {
  if (tables.size() != base.num_tables()) {
    return Status::InvalidArgument(what + " has " + std::to_string(tables.size()) + " tables but the base bundle " +
                                   base.dir() + " has " + std::to_string(base.num_tables()) + " (another model?)");
  }
  for (size_t t = 0; t < tables.size(); ++t) {
    if (tables[t].first != base.table(t).name() || tables[t].second != base.table(t).dim()) {
      return Status::InvalidArgument(what + ": table " + std::to_string(t) + " is '" + tables[t].first + "' of dim " +
                                     std::to_string(tables[t].second) + " but the base bundle has '" + base.table(t).name() +
                                     "' of dim " + std::to_string(base.table(t).dim()) + " (another model or --dim?)");
    }
  }
  return Status::OK();
}

std::string MetadataText(const JsonValue& v) { return v.is_object() ? v.Serialize() : std::string(); }

}  // namespace

Status MakeDelta(const Bundle& base, const BundleSpec& full, BundleSpec* delta) {
  if (base.is_delta()) return Status::InvalidArgument("the base bundle " + base.dir() + " is itself a delta; apply it first");
  if (full.dtype != base.dtype()) {
    return Status::InvalidArgument(std::string("the base bundle ") + base.dir() + " is " + BundleDtypeName(base.dtype()) +
                                   "; a delta must use the same --dtype");
  }
  std::vector<std::pair<std::string, uint32_t>> layout;
  for (const BundleTableData& t : full.tables) layout.emplace_back(t.name, t.dim);
  EMBARK_RETURN_IF_ERROR(CheckSameLayout("the new export", base, layout));
  *delta = BundleSpec();
  delta->dtype = full.dtype;
  delta->base_id = base.id();
  delta->model_json = full.model_json;
  delta->features_json = full.features_json;
  delta->metrics_json = full.metrics_json;
  delta->source_json = full.source_json;
  delta->arrays = full.arrays;  // not diffed: small next to the tables, and replaced whole
  std::vector<uint16_t> half;
  for (size_t t = 0; t < full.tables.size(); ++t) {
    const BundleTableData& in = full.tables[t];
    const BundleTable& old = base.table(t);
    BundleTableData out;
    out.name = in.name;
    out.dim = in.dim;
    out.dense = in.dense;
    out.columns = in.columns;
    const size_t dim = in.dim;
    half.resize(dim);
    uint64_t b = 0;  // merge position in the base's keys
    for (size_t i = 0; i < in.keys.size(); ++i) {
      const uint64_t key = in.keys[i];
      const float* row = in.values.data() + i * dim;
      while (b < old.rows() && old.keys()[b] < key) out.deleted.push_back(old.keys()[b++]);
      bool changed = true;
      if (b < old.rows() && old.keys()[b] == key) {
        // Compared as stored: a float16 row changes only when its half-precision bits do.
        if (base.dtype() == BundleDtype::kFloat32) {
          changed = std::memcmp(row, old.RowData(b), dim * 4) != 0;
        } else {
          for (size_t j = 0; j < dim; ++j) half[j] = FloatToHalf(row[j]);
          changed = std::memcmp(half.data(), old.RowData(b), dim * 2) != 0;
        }
        ++b;
      }
      if (!changed) continue;
      out.keys.push_back(key);
      out.values.insert(out.values.end(), row, row + dim);
      if (!in.ids.empty()) out.ids.push_back(in.ids[i]);
    }
    while (b < old.rows()) out.deleted.push_back(old.keys()[b++]);
    delta->tables.push_back(std::move(out));
  }
  return Status::OK();
}

Status ApplyDelta(const Bundle& base, const Bundle& delta, const std::string& out_dir) {
  if (base.is_delta()) return Status::InvalidArgument("the base bundle " + base.dir() + " is itself a delta");
  if (!delta.is_delta()) return Status::InvalidArgument(delta.dir() + " is a full bundle, not a delta");
  if (delta.base_id() != base.id()) {
    return Status::InvalidArgument("the delta " + delta.dir() + " was made against bundle " + delta.base_id() + ", but " +
                                   base.dir() + " is bundle " + base.id());
  }
  if (delta.dtype() != base.dtype()) return Status::InvalidArgument("the delta " + delta.dir() + " and its base differ in dtype");
  std::vector<std::pair<std::string, uint32_t>> layout;
  for (size_t t = 0; t < delta.num_tables(); ++t) layout.emplace_back(delta.table(t).name(), delta.table(t).dim());
  EMBARK_RETURN_IF_ERROR(CheckSameLayout("the delta " + delta.dir(), base, layout));

  BundleSpec spec;
  spec.dtype = base.dtype();
  spec.model_json = MetadataText(delta.manifest()["model"]);
  spec.features_json = MetadataText(delta.manifest()["features"]);
  spec.metrics_json = MetadataText(delta.manifest()["training_metrics"]);
  spec.source_json = MetadataText(delta.manifest()["source"]);
  // Arrays: the delta's replace the base's of the same name; the base's others are kept (a
  // delta exported without --seen_from keeps the seen items being served).
  std::vector<BundleArray> arrays = delta.arrays();
  for (const BundleArray& a : base.arrays()) {
    bool replaced = false;
    for (const BundleArray& d : delta.arrays()) replaced = replaced || d.name == a.name;
    if (!replaced) arrays.push_back(a);
  }
  for (const BundleArray& a : arrays) {
    BundleArrayData out;
    out.name = a.name;
    out.descr = a.descr;
    out.length = a.length;
    out.bytes.assign(static_cast<const char*>(a.data), a.length * ArrayElementBytes(a.descr));
    spec.arrays.push_back(std::move(out));
  }
  for (size_t t = 0; t < base.num_tables(); ++t) {
    const BundleTable& a = base.table(t);
    const BundleTable& d = delta.table(t);
    BundleTableData out;
    out.name = d.name();
    out.dim = d.dim();
    out.dense = d.dense();
    out.columns = d.columns();
    const bool ids = a.has_ids() || d.has_ids();
    const size_t dim = d.dim();
    uint64_t i = 0, j = 0, x = 0;  // positions in base rows, delta rows, delta deleted keys
    auto emit = [&](const BundleTable& from, uint64_t row, std::string_view id) {
      out.keys.push_back(from.keys()[row]);
      out.values.resize(out.values.size() + dim);
      from.CopyRow(row, out.values.data() + out.values.size() - dim);
      if (ids) out.ids.emplace_back(id);
    };
    while (i < a.rows() || j < d.rows()) {
      const bool take_delta = j < d.rows() && (i >= a.rows() || d.keys()[j] <= a.keys()[i]);
      if (take_delta) {
        const bool replaces = i < a.rows() && a.keys()[i] == d.keys()[j];
        // A changed row keeps the base's id when the delta was exported without ids.
        const std::string_view id = !d.id(j).empty() || !replaces ? d.id(j) : a.id(i);
        emit(d, j++, id);
        if (replaces) ++i;
        continue;
      }
      const uint64_t key = a.keys()[i];
      while (x < d.num_deleted() && d.deleted_keys()[x] < key) ++x;
      if (x < d.num_deleted() && d.deleted_keys()[x] == key) {
        ++i;
        continue;
      }
      emit(a, i, a.id(i));
      ++i;
    }
    spec.tables.push_back(std::move(out));
  }
  return WriteBundle(out_dir, spec);
}

}  // namespace embark
