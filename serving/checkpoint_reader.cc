#include "serving/checkpoint_reader.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

#include "core/hash.h"
#include "ps/checkpoint_shard.h"
#include "ps/optimizer.h"
#include "ps/placement.h"

namespace embark {
namespace {

bool HasManifest(const std::string& dir) { return std::ifstream(dir + "/MANIFEST").good(); }

// The newest epoch-N under `root` with a MANIFEST, or "".
std::string LatestCheckpointDir(const std::string& root) {
  DIR* d = opendir(root.c_str());
  if (d == nullptr) return "";
  int best = 0;
  while (dirent* e = readdir(d)) {
    int epoch = 0;
    char tail = 0;
    if (std::sscanf(e->d_name, "epoch-%d%c", &epoch, &tail) != 1 || epoch <= best) continue;
    if (HasManifest(root + "/" + e->d_name)) best = epoch;
  }
  closedir(d);
  return best > 0 ? root + "/epoch-" + std::to_string(best) : "";
}

// The u64 checksum WriteShardFile stores in a shard's last 8 bytes.
bool ShardTrailer(const std::string& path, uint64_t* checksum) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f || f.tellg() < 8) return false;
  f.seekg(-8, std::ios::end);
  return static_cast<bool>(f.read(reinterpret_cast<char*>(checksum), 8));
}

}  // namespace

Status ReadCheckpoint(const std::string& path, Checkpoint* out) {
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!HasManifest(dir)) {
    const std::string latest = LatestCheckpointDir(dir);
    if (latest.empty()) {
      return Status::NotFound(path + " is neither a complete checkpoint (no MANIFEST) nor a --checkpoint_dir holding one (epoch-N/MANIFEST)");
    }
    dir = latest;
  }
  Checkpoint& c = *out;
  c = Checkpoint();
  c.dir = dir;
  const std::string manifest_path = dir + "/MANIFEST";
  std::ifstream in(manifest_path);
  std::stringstream text;
  text << in.rdbuf();
  c.manifest_hash = HashBytes(text.str());
  std::vector<std::pair<std::string, uint64_t>> shards;
  ModelOptions options;
  std::istringstream lines(text.str());
  int line_no = 0;
  for (std::string line; std::getline(lines, line);) {
    ++line_no;
    std::istringstream words(line);
    std::string word;
    words >> word;
    auto bad = [&](const std::string& why) {
      return Status::Corruption(manifest_path + ":" + std::to_string(line_no) + ": " + why);
    };
    if (word == "model") {
      words >> c.model_name;
    } else if (word == "epoch") {
      words >> c.epoch;
    } else if (word == "servers") {
      words >> c.servers;
    } else if (word == "format") {
      words >> c.format;
    } else if (word == "shard") {
      std::string file;
      uint64_t checksum = 0;
      if (!(words >> file >> checksum)) return bad("malformed shard line '" + line + "'");
      shards.emplace_back(file, checksum);
    } else if (word == "option") {
      std::string name, value;
      if (!(words >> name >> value)) return bad("malformed option line '" + line + "'");
      Status st = SetModelOption(name, value, &options);
      if (!st.ok()) return bad(st.message());
      c.options.emplace_back(name, value);
    } else if (word == "metric") {
      std::string name, value;
      if (!(words >> name >> value)) return bad("malformed metric line '" + line + "'");
      c.metrics.emplace_back(name, value == "null" ? NAN : std::strtod(value.c_str(), nullptr));
    }
  }
  if (c.model_name.empty()) return Status::Corruption(manifest_path + ": no 'model' line");
  if (shards.empty()) return Status::Corruption(manifest_path + ": no 'shard' lines");
  {
    Status st = CreateModel(c.model_name, options, &c.model);
    if (!st.ok()) return Status::Corruption(manifest_path + ": cannot rebuild the model: " + st.message());
  }

  // Shard rows are [weights | optimizer state]; the widths below are those the servers wrote
  // (Server::CheckpointRowFloats), so ReadShardFile refuses a checkpoint of another layout.
  const std::vector<TableConfig> configs = c.model->Tables();
  std::vector<std::string> names;
  std::vector<uint32_t> row_floats;
  std::vector<uint32_t> block_width(configs.size(), 0);
  c.tables.resize(configs.size());
  for (size_t t = 0; t < configs.size(); ++t) {
    const TableConfig& cfg = configs[t];
    const auto optimizer = Optimizer::Create(cfg.optimizer);
    uint32_t width = cfg.dim;
    if (cfg.dense) {
      block_width[t] = static_cast<uint32_t>(std::min<uint64_t>(std::max<uint64_t>(cfg.dense_size, 1), kDenseBlockFloats));
      width = block_width[t];
    }
    names.push_back(cfg.name);
    row_floats.push_back(width + static_cast<uint32_t>(optimizer->StateFloats(static_cast<int>(width))));
    c.tables[t].config = cfg;
    c.tables[t].width = cfg.dense ? static_cast<uint32_t>(cfg.dense_size) : cfg.dim;
    if (cfg.dense) {
      c.tables[t].keys = {0};
      c.tables[t].values.assign(cfg.dense_size, 0.0f);
    }
  }
  // Dense blocks seen, to find a missing one.
  std::vector<std::vector<bool>> seen_block(configs.size());
  for (size_t t = 0; t < configs.size(); ++t)
    if (configs[t].dense) seen_block[t].assign((configs[t].dense_size + block_width[t] - 1) / block_width[t], false);

  for (const auto& [file, checksum] : shards) {
    const std::string shard_path = dir + "/" + file;
    uint64_t trailer = 0;
    if (!ShardTrailer(shard_path, &trailer)) return Status::NotFound("checkpoint shard " + shard_path + " is missing or truncated");
    if (trailer != checksum) {
      return Status::Corruption("checkpoint shard " + shard_path + " has checksum " + std::to_string(trailer) + " but " +
                                manifest_path + " lists " + std::to_string(checksum) + " (a shard of another checkpoint?)");
    }
    EMBARK_RETURN_IF_ERROR(ReadShardFile(shard_path, names, row_floats, [&](const ShardRow& r) -> Status {
      const TableConfig& cfg = configs[r.table];
      CheckpointTable& table = c.tables[r.table];
      if (cfg.dense) {
        const uint64_t offset = r.key * block_width[r.table];
        if (offset >= cfg.dense_size) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " is out of range");
        const uint64_t length = std::min<uint64_t>(block_width[r.table], cfg.dense_size - offset);
        if (r.floats < length) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " is too short");
        if (seen_block[r.table][r.key]) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " appears twice");
        seen_block[r.table][r.key] = true;
        std::memcpy(table.values.data() + offset, r.row, length * sizeof(float));
        return Status::OK();
      }
      if (r.floats < cfg.dim) return Status::Corruption("checkpoint shard " + shard_path + ": a row of table " + cfg.name + " is too short");
      table.keys.push_back(r.key);
      table.values.insert(table.values.end(), r.row, r.row + cfg.dim);
      return Status::OK();
    }));
  }
  for (size_t t = 0; t < configs.size(); ++t) {
    for (size_t b = 0; b < seen_block[t].size(); ++b)
      if (!seen_block[t][b]) return Status::Corruption(dir + ": no shard holds block " + std::to_string(b) + " of dense table " + configs[t].name);
    CheckpointTable& table = c.tables[t];
    if (configs[t].dense || std::is_sorted(table.keys.begin(), table.keys.end())) {
      for (size_t i = 1; i < table.keys.size(); ++i)
        if (table.keys[i - 1] == table.keys[i]) return Status::Corruption(dir + ": key " + std::to_string(table.keys[i]) + " of table " + configs[t].name + " is held by two shards");
      continue;
    }
    // Sort rows by key through a permutation (rows are moved once).
    std::vector<uint32_t> order(table.keys.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return table.keys[a] < table.keys[b]; });
    std::vector<uint64_t> keys(order.size());
    std::vector<float> values(table.values.size());
    const size_t w = table.width;
    for (size_t i = 0; i < order.size(); ++i) {
      keys[i] = table.keys[order[i]];
      std::memcpy(values.data() + i * w, table.values.data() + size_t{order[i]} * w, w * sizeof(float));
      if (i > 0 && keys[i - 1] == keys[i]) return Status::Corruption(dir + ": key " + std::to_string(keys[i]) + " of table " + configs[t].name + " is held by two shards");
    }
    table.keys = std::move(keys);
    table.values = std::move(values);
  }
  return Status::OK();
}

}  // namespace embark
