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
#include "checkpoint/checkpoint_store.h"

namespace embark {

Status ReadCheckpoint(const std::string& path, Checkpoint* out) {
  std::string dir = path;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  // `path` is one checkpoint (it has a MANIFEST) or a --checkpoint_dir (its newest complete one).
  std::string root, name;
  if (std::ifstream(dir + "/MANIFEST").good()) {
    const size_t slash = dir.rfind('/');
    root = slash == std::string::npos ? "." : dir.substr(0, slash);
    name = slash == std::string::npos ? dir : dir.substr(slash + 1);
  } else {
    root = dir;
    uint64_t best[3] = {0, 0, 0};
    for (const std::string& n : CheckpointStore(root).Complete()) {
      uint64_t key[3];
      if (CheckpointStore::OrderKey(n, key) && (name.empty() || std::lexicographical_compare(best, best + 3, key, key + 3))) {
        name = n;
        std::copy(key, key + 3, best);
      }
    }
    if (name.empty()) {
      return Status::NotFound(path + " is neither a complete checkpoint (no MANIFEST) nor a --checkpoint_dir holding one (epoch-N/MANIFEST)");
    }
  }
  const CheckpointStore store(root);
  std::vector<std::string> chain;
  std::vector<Manifest> manifests;
  EMBARK_RETURN_IF_ERROR(store.Chain(name, &chain, &manifests));
  const Manifest& last = manifests.back();
  dir = store.PathOf(name);
  const std::string manifest_path = dir + "/MANIFEST";
  Checkpoint& c = *out;
  c = Checkpoint();
  c.dir = dir;
  {
    std::ifstream in(manifest_path);
    std::stringstream text;
    text << in.rdbuf();
    c.manifest_hash = HashBytes(text.str());
  }
  c.model_name = last.model;
  c.epoch = last.epochs_done;
  c.servers = last.servers;
  c.format = last.format;
  c.seed = last.seed;
  ModelOptions options;
  for (const auto& [opt, value] : last.options) {
    Status st = SetModelOption(opt, value, &options);
    if (!st.ok()) return Status::Corruption(manifest_path + ": option " + opt + ": " + st.message());
    c.options.emplace_back(opt, value);
  }
  for (const auto& [metric, value] : last.metrics)
    c.metrics.emplace_back(metric, value == "null" ? NAN : std::strtod(value.c_str(), nullptr));
  for (const Manifest& m : manifests)
    if (m.model != c.model_name) return Status::Corruption(manifest_path + ": its chain mixes models " + m.model + " and " + c.model_name);
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

  // Rows of a delta override those of its base: every sparse row is tagged with the position of
  // its checkpoint in the chain, and after sorting the last one of each key wins. Within one
  // checkpoint a key held by two shards is corruption.
  std::vector<std::vector<uint32_t>> row_source(configs.size());
  for (size_t link = 0; link < chain.size(); ++link) {
    std::vector<std::vector<bool>> seen_here(configs.size());
    for (size_t t = 0; t < configs.size(); ++t) seen_here[t].assign(seen_block[t].size(), false);
    for (const ManifestFile& f : manifests[link].FilesOf("shard")) {
      const std::string shard_path = store.PathOf(chain[link]) + "/" + f.name;
      EMBARK_RETURN_IF_ERROR(ReadShardFile(shard_path, names, row_floats, [&](const ShardRow& r) -> Status {
        const TableConfig& cfg = configs[r.table];
        CheckpointTable& table = c.tables[r.table];
        if (cfg.dense) {
          if (r.key >= seen_block[r.table].size()) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " is out of range");
          const uint64_t offset = r.key * block_width[r.table];
          if (offset >= cfg.dense_size) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " is out of range");
          const uint64_t length = std::min<uint64_t>(block_width[r.table], cfg.dense_size - offset);
          if (r.floats < length) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " is too short");
          if (seen_here[r.table][r.key]) return Status::Corruption("checkpoint shard " + shard_path + ": dense block " + std::to_string(r.key) + " of table " + cfg.name + " appears twice");
          seen_here[r.table][r.key] = true;
          seen_block[r.table][r.key] = true;
          std::memcpy(table.values.data() + offset, r.row, length * sizeof(float));
          return Status::OK();
        }
        if (r.floats < cfg.dim) return Status::Corruption("checkpoint shard " + shard_path + ": a row of table " + cfg.name + " is too short");
        table.keys.push_back(r.key);
        row_source[r.table].push_back(static_cast<uint32_t>(link));
        table.values.insert(table.values.end(), r.row, r.row + cfg.dim);
        return Status::OK();
      }, &f.checksum));
    }
  }
  for (size_t t = 0; t < configs.size(); ++t) {
    for (size_t b = 0; b < seen_block[t].size(); ++b)
      if (!seen_block[t][b]) return Status::Corruption(dir + ": no shard holds block " + std::to_string(b) + " of dense table " + configs[t].name);
    CheckpointTable& table = c.tables[t];
    if (configs[t].dense) continue;
    // Sort rows by (key, link) through a permutation (rows are moved once); keep the last link.
    std::vector<uint32_t> order(table.keys.size());
    std::iota(order.begin(), order.end(), 0u);
    const std::vector<uint32_t>& src = row_source[t];
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return table.keys[a] != table.keys[b] ? table.keys[a] < table.keys[b] : src[a] < src[b];
    });
    std::vector<uint64_t> keys;
    std::vector<float> values;
    keys.reserve(order.size());
    values.reserve(table.values.size());
    const size_t w = table.width;
    for (size_t i = 0; i < order.size(); ++i) {
      const uint32_t r = order[i];
      if (i + 1 < order.size() && table.keys[order[i + 1]] == table.keys[r]) {
        if (src[order[i + 1]] == src[r])
          return Status::Corruption(store.PathOf(chain[src[r]]) + ": key " + std::to_string(table.keys[r]) + " of table " + configs[t].name + " is held by two shards");
        continue;  // a later checkpoint of the chain has this row
      }
      keys.push_back(table.keys[r]);
      values.insert(values.end(), table.values.data() + size_t{r} * w, table.values.data() + size_t{r} * w + w);
    }
    table.keys = std::move(keys);
    table.values = std::move(values);
  }
  return Status::OK();
}

}  // namespace embark
