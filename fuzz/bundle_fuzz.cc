// Fuzz target: the serving bundle loader, as serve runs it at start and on /reload
// (serving/bundle_source.h BundleSource::Load: Bundle::Open, the .npy headers, the manifest's
// JSON, then ServingModelFromBundle building the model, its key indexes and top-K index).
// A bundle that opens is read whole (every row of every table) before the model is built.
//
// Input: a mode byte, then files, each a 1-byte name length, the name, a 2-byte content
// length and the contents, written flat into a scratch directory. Mode bit 0 rewrites the
// manifest's "files" sizes and CRC-32s to match the files given (so the fuzzer gets past
// the checksums into the arrays); bit 1 turns checksum verification off instead.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/crc32.h"
#include "fuzz/fuzz_input.h"
#include "serving/bundle.h"
#include "serving/bundle_source.h"

using namespace embark;
using embark::fuzz::FuzzInput;

namespace {

bool SafeName(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name)
    if (c == '/' || c == '\0') return false;
  return true;
}

// The manifest with "files" made to agree with the files written.
std::string FixManifest(const std::string& text, const std::vector<std::pair<std::string, std::string>>& files) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return text;
  nlohmann::json listed = nlohmann::json::object();
  for (const auto& [name, contents] : files) {
    if (name == "manifest.json") continue;
    listed[name] = {{"bytes", contents.size()}, {"crc32", Crc32(contents)}};
  }
  doc["files"] = listed;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  std::vector<std::pair<std::string, std::string>> files;
  while (in.remaining() > 0 && files.size() < 16) {
    std::string name = in.Bytes(in.Byte());
    std::string contents = in.Chunk();
    if (SafeName(name)) files.emplace_back(std::move(name), std::move(contents));
  }
  const std::string& dir = fuzz::ScratchDir();
  for (auto& [name, contents] : files) {
    if (name == "manifest.json" && (mode & 1)) contents = FixManifest(contents, files);
    fuzz::WriteFile(dir + "/" + name, contents);
  }
  BundleOpenOptions open;
  open.verify_checksums = !(mode & 2);
  std::unique_ptr<Bundle> bundle;
  if (!Bundle::Open(dir, &bundle, open).ok()) return 0;
  for (size_t t = 0; t < bundle->num_tables(); ++t) {
    const BundleTable& table = bundle->table(t);
    std::vector<float> row(table.dim());
    for (uint64_t r = 0; r < table.rows() && r < 4096; ++r) {
      table.CopyRow(r, row.data());
      FUZZ_CHECK(table.Find(table.keys()[r]) == static_cast<int64_t>(r), "a key is not found at its own row");
      (void)table.id(r);
    }
  }
  // What serve does with a full bundle (BundleSource::Load): build the model it serves.
  if (!bundle->is_delta()) {
    std::shared_ptr<const ServingModel> model;
    (void)ServingModelFromBundle(std::shared_ptr<const Bundle>(std::move(bundle)), dir, ServingOptions(), 1, &model);
  }
  return 0;
}
