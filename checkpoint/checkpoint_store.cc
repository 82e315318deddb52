#include "checkpoint/checkpoint_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/crc32.h"
#include "core/hash.h"

namespace embark {

std::vector<ManifestFile> Manifest::FilesOf(const std::string& role) const {
  std::vector<ManifestFile> out;
  for (const ManifestFile& f : files)
    if (f.role == role) out.push_back(f);
  return out;
}

std::string FormatManifest(const Manifest& m) {
  std::ostringstream o;
  o << "model " << m.model << "\nepoch " << m.epochs_done << "\n";
  if (m.in_epoch > 0) o << "in_epoch " << m.in_epoch << "\n";
  o << "step " << m.step << "\nkind " << (m.delta ? "delta" : "full") << "\n";
  if (m.delta) o << "base " << m.base << "\n";
  o << "servers " << m.servers << "\nworkers " << m.workers << "\n";
  if (!m.format.empty()) o << "format " << m.format << "\n";
  if (m.seed.has_value()) o << "seed " << *m.seed << "\n";
  for (const auto& [name, value] : m.options) o << "option " << name << " " << value << "\n";
  for (const auto& [name, value] : m.metrics) o << "metric " << name << " " << value << "\n";
  for (const ManifestFile& f : m.files) o << f.role << " " << f.name << " " << f.checksum << "\n";
  std::string text = o.str();
  return text + "crc32 " + std::to_string(Crc32(text)) + "\n";
}

namespace {
// The next token of `l` as a whole non-negative number that fits T, and nothing after it on the
// line. `l >> unsigned` would take "-1" as 2^64 - 1 and `l >> int` a negative epoch; "3x" or a
// second number would pass as "3".
template <typename T>
bool ReadCount(std::istringstream& l, T* out) {
  std::string token;
  if (!(l >> token)) return false;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || end != token.data() + token.size()) return false;
  if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
  *out = static_cast<T>(v);
  return (l >> std::ws).eof();
}
}  // namespace

Status ParseManifest(const std::string& path, const std::string& text, Manifest* m) {
  *m = Manifest();
  // The last line checksums every byte before it: "crc32 C" (zlib CRC-32), or in MANIFESTs
  // written before it "checksum C" (HashBytes, FNV-1a).
  const size_t line_start = text.size() < 2 ? 0 : text.rfind('\n', text.size() - 2) + 1;
  const std::string_view tail(text.data() + line_start, text.size() - line_start);
  const bool crc = tail.rfind("crc32 ", 0) == 0;
  const bool fnv = tail.rfind("checksum ", 0) == 0;
  const size_t last = line_start;
  if ((!crc && !fnv) || text.empty() || text.back() != '\n')
    return Status::Corruption(path + ": truncated (no checksum line)");
  const std::string_view body(text.data(), last);
  const uint64_t want = std::strtoull(text.c_str() + last + (crc ? 6 : 9), nullptr, 10);
  if (want != (crc ? uint64_t{Crc32(body)} : HashBytes(body)))
    return Status::Corruption(path + ": checksum mismatch (truncated or modified file)");
  std::istringstream in(text.substr(0, last));
  std::string line, kind;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream l(line);
    std::string key;
    l >> key;
    bool ok = true;
    if (key == "model") ok = static_cast<bool>(l >> m->model);
    else if (key == "epoch") ok = ReadCount(l, &m->epochs_done);
    else if (key == "in_epoch") ok = ReadCount(l, &m->in_epoch);
    else if (key == "step") ok = ReadCount(l, &m->step);
    else if (key == "kind") ok = static_cast<bool>(l >> kind) && (kind == "full" || kind == "delta");
    else if (key == "base") ok = static_cast<bool>(l >> m->base);
    else if (key == "servers") ok = ReadCount(l, &m->servers);
    else if (key == "workers") ok = ReadCount(l, &m->workers);
    else if (key == "format") ok = static_cast<bool>(l >> m->format);
    else if (key == "seed") {
      uint64_t seed = 0;
      ok = ReadCount(l, &seed);
      m->seed = seed;
    }
    else if (key == "option" || key == "metric") {
      std::string name, value;
      ok = static_cast<bool>(l >> name >> value);
      (key == "option" ? m->options : m->metrics).emplace_back(name, value);
    }
    else if (key == "shard" || key == "position" || key == "state") {
      ManifestFile f;
      f.role = key;
      ok = static_cast<bool>(l >> f.name) && ReadCount(l, &f.checksum) && f.name.find('/') == std::string::npos;
      m->files.push_back(f);
    } else {
      ok = false;
    }
    if (!ok) return Status::Corruption(path + ":" + std::to_string(n) + ": malformed line '" + line + "'");
  }
  m->delta = kind == "delta";
  if (m->model.empty() || kind.empty() || m->servers < 1 || static_cast<int>(m->FilesOf("shard").size()) != m->servers)
    return Status::Corruption(path + ": incomplete manifest (model, kind or one shard per server missing)");
  if (m->delta && m->base.empty()) return Status::Corruption(path + ": a delta checkpoint without a base");
  return Status::OK();
}

std::string CheckpointStore::Name(int epochs_done, int in_epoch, uint64_t step) {
  if (in_epoch == 0) return "epoch-" + std::to_string(epochs_done);
  return "epoch-" + std::to_string(in_epoch) + "-step-" + std::to_string(step);
}

bool CheckpointStore::OrderKey(const std::string& name, uint64_t key[3]) {
  unsigned long long e = 0, s = 0;
  int used = 0;
  if (std::sscanf(name.c_str(), "epoch-%llu-step-%llu%n", &e, &s, &used) == 2 && used == static_cast<int>(name.size())) {
    key[0] = e, key[1] = 0, key[2] = s;  // inside epoch e: before the end of epoch e
    return true;
  }
  if (std::sscanf(name.c_str(), "epoch-%llu%n", &e, &used) == 1 && used == static_cast<int>(name.size())) {
    key[0] = e, key[1] = 1, key[2] = 0;
    return true;
  }
  return false;
}

Status CheckpointStore::Prepare(const std::string& name) const {
  Status st = CreateDirDurably(env_, dir_);
  if (!st.ok()) return Status::IoError("--checkpoint_dir: " + st.message());
  const std::string path = PathOf(name);
  EMBARK_RETURN_IF_ERROR(CreateDirDurably(env_, path));
  // Durably gone before new files arrive: an old MANIFEST coming back after a crash would
  // vouch for files half replaced by this checkpoint.
  return RemoveFileDurably(env_, path + "/MANIFEST");
}

Status CheckpointStore::WriteManifest(const std::string& name, const Manifest& m) const {
  return WriteFileDurably(env_, PathOf(name) + "/MANIFEST", FormatManifest(m));
}

Status CheckpointStore::ReadManifest(const std::string& name, Manifest* m) const {
  const std::string path = PathOf(name) + "/MANIFEST";
  std::ifstream f(path);
  if (!f) return Status::NotFound(path + ": missing (checkpoint " + name + " is incomplete or was removed)");
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseManifest(path, ss.str(), m);
}

std::vector<std::string> CheckpointStore::Complete() const {
  std::vector<std::pair<std::vector<uint64_t>, std::string>> found;
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return {};
  while (dirent* e = readdir(d)) {
    uint64_t key[3];
    if (!OrderKey(e->d_name, key)) continue;
    struct stat st;
    if (stat((PathOf(e->d_name) + "/MANIFEST").c_str(), &st) != 0) continue;
    found.push_back({{key[0], key[1], key[2]}, e->d_name});
  }
  closedir(d);
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

Status CheckpointStore::Chain(const std::string& name, std::vector<std::string>* names, std::vector<Manifest>* manifests) const {
  names->clear();
  manifests->clear();
  std::string at = name;
  for (;;) {
    // A base must be older than the delta naming it, so a chain cannot loop back on itself.
    if (std::find(names->begin(), names->end(), at) != names->end())
      return Status::Corruption(PathOf(name) + "/MANIFEST: its delta chain loops back to " + PathOf(at));
    Manifest m;
    Status st = ReadManifest(at, &m);
    if (!st.ok()) {
      if (at == name) return st;
      return Status::Corruption(st.message() + "; checkpoint " + name + " is a delta that needs it");
    }
    names->insert(names->begin(), at);
    const bool delta = m.delta;
    const std::string base = m.base;
    manifests->insert(manifests->begin(), std::move(m));
    if (!delta) return Status::OK();
    at = base;
  }
}

void CheckpointStore::Prune(int keep, const std::string& also_keep) const {
  const std::vector<std::string> complete = Complete();
  if (static_cast<int>(complete.size()) <= keep) return;
  std::set<std::string> needed;
  auto need = [&](const std::string& name) {
    std::vector<std::string> names;
    std::vector<Manifest> manifests;
    needed.insert(name);
    if (Chain(name, &names, &manifests).ok()) needed.insert(names.begin(), names.end());
  };
  for (size_t i = complete.size() - static_cast<size_t>(keep); i < complete.size(); ++i) need(complete[i]);
  if (!also_keep.empty() && std::find(complete.begin(), complete.end(), also_keep) != complete.end()) need(also_keep);
  for (const std::string& name : complete) {
    if (needed.count(name)) continue;
    Manifest m;
    const bool readable = ReadManifest(name, &m).ok();
    const std::string path = PathOf(name);
    // The files go only once the MANIFEST's removal is durable; if that fails, keep them all.
    if (!RemoveFileDurably(env_, path + "/MANIFEST").ok()) continue;
    if (readable)
      for (const ManifestFile& f : m.files) (void)env_->RemoveFile(path + "/" + f.name);
    (void)env_->RemoveDir(path);
  }
}

}  // namespace embark
