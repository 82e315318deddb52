#include "serving/npy.h"

#include <cstdio>
#include <cstring>

#include "core/file_env.h"

namespace embark {
namespace {

constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes

uint64_t ItemSize(const std::string& descr) {
  if (descr == "<u8" || descr == "<i8" || descr == "<f8") return 8;
  if (descr == "<f4" || descr == "<u4" || descr == "<i4") return 4;
  if (descr == "<f2" || descr == "<u2") return 2;
  return 0;
}

// The value text after `'key': ` in the header dict, up to the matching end.
bool FindValue(const std::string& dict, const std::string& key, std::string* value) {
  const std::string needle = "'" + key + "':";
  const size_t at = dict.find(needle);
  if (at == std::string::npos) return false;
  size_t p = at + needle.size();
  while (p < dict.size() && dict[p] == ' ') ++p;
  size_t end = p;
  if (p < dict.size() && dict[p] == '(') {
    end = dict.find(')', p);
    if (end == std::string::npos) return false;
    ++end;
  } else if (p < dict.size() && dict[p] == '\'') {
    end = dict.find('\'', p + 1);
    if (end == std::string::npos) return false;
    ++end;
  } else {
    while (end < dict.size() && dict[end] != ',' && dict[end] != '}') ++end;
  }
  *value = dict.substr(p, end - p);
  return true;
}

}  // namespace

std::string NpyHeader(const std::string& descr, const std::vector<uint64_t>& shape) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += std::to_string(shape[i]) + (i + 1 < shape.size() ? ", " : "");
  if (shape.size() == 1) dict += ",";
  dict += "), }";
  const size_t fixed = 6 + 2 + 2;  // magic, version, length
  // Always 128 bytes for the arrays a bundle holds (at most 2 dimensions of < 2^64 elements:
  // the dict is under 110 characters); the pad keeps the promise of 64-byte alignment even so.
  size_t total = kNpyHeaderBytes;
  while (total < fixed + dict.size() + 1) total += 64;
  dict.append(total - fixed - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, 6);
  out.push_back('\x01');
  out.push_back('\x00');
  const uint16_t len = static_cast<uint16_t>(dict.size());
  out.push_back(static_cast<char>(len & 0xFF));
  out.push_back(static_cast<char>(len >> 8));
  return out + dict;
}

Status ParseNpyHeader(const std::string& path, const char* data, uint64_t size, std::string* descr,
                      std::vector<uint64_t>* shape, uint64_t* data_offset) {
  auto bad = [&](const std::string& why) { return Status::Corruption(path + ": not a valid .npy file: " + why); };
  if (size < 10 || std::memcmp(data, kMagic, 6) != 0) return bad("bad magic");
  if (data[6] != 1) return bad("version " + std::to_string(static_cast<int>(data[6])) + ".x (1.0 expected)");
  const uint64_t len = static_cast<unsigned char>(data[8]) | (static_cast<uint64_t>(static_cast<unsigned char>(data[9])) << 8);
  if (10 + len > size) return bad("header longer than the file");
  const std::string dict(data + 10, len);
  std::string value;
  if (!FindValue(dict, "descr", &value) || value.size() < 2) return bad("no descr");
  *descr = value.substr(1, value.size() - 2);
  if (!FindValue(dict, "fortran_order", &value) || value != "False") return bad("not C order");
  if (!FindValue(dict, "shape", &value) || value.size() < 2) return bad("no shape");
  shape->clear();
  uint64_t elements = 1;
  for (size_t p = 1; p + 1 < value.size();) {
    while (p + 1 < value.size() && (value[p] == ' ' || value[p] == ',')) ++p;
    if (p + 1 >= value.size()) break;
    uint64_t n = 0;
    if (value[p] < '0' || value[p] > '9') return bad("malformed shape " + value);
    // Every product is checked: a shape whose byte count wraps around 2^64 could otherwise
    // "match" a small file, and readers would index far past its end.
    while (p + 1 < value.size() && value[p] >= '0' && value[p] <= '9') {
      if (__builtin_mul_overflow(n, uint64_t{10}, &n) || __builtin_add_overflow(n, static_cast<uint64_t>(value[p++] - '0'), &n))
        return bad("shape " + value + " is too large");
    }
    shape->push_back(n);
    if (__builtin_mul_overflow(elements, n, &elements)) return bad("shape " + value + " is too large");
  }
  const uint64_t item = ItemSize(*descr);
  if (item == 0) return bad("unsupported dtype " + *descr);
  uint64_t data_bytes = 0;
  if (__builtin_mul_overflow(elements, item, &data_bytes)) return bad("shape " + value + " is too large for " + *descr);
  *data_offset = 10 + len;
  if (size - *data_offset != data_bytes) {
    return bad("holds " + std::to_string(size - *data_offset) + " data bytes but its shape needs " +
               std::to_string(data_bytes) + " (truncated?)");
  }
  return Status::OK();
}

Status WriteNpyFile(const std::string& path, const std::string& descr, const std::vector<uint64_t>& shape,
                    const void* array, uint64_t bytes) {
  const std::string header = NpyHeader(descr, shape);
  return WriteFileDurably(FileEnv::Default(), path,
                          {header, std::string_view(static_cast<const char*>(array), static_cast<size_t>(bytes))});
}

}  // namespace embark
