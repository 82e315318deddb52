#include "tools/kv_check.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "core/hash.h"
#include "ps/row_init.h"
#include "worker/kv_client.h"

namespace embark {

namespace {

enum : uint32_t { kInit = 0, kExact = 1, kDense = 2 };
constexpr uint64_t kDenseSize = 40000;

std::vector<uint64_t> CheckKeys(int n, uint64_t seed) {
  std::vector<uint64_t> keys;
  for (int i = 0; i < n / 2; ++i) keys.push_back(i);  // sequential ids
  std::mt19937_64 rng(seed);
  while (static_cast<int>(keys.size()) < n - 2) keys.push_back(rng());
  keys.push_back(0);
  keys.push_back(~uint64_t{0});
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::shuffle(keys.begin(), keys.end(), rng);  // unsorted input exercises Prepare's sort
  return keys;
}

// The integer gradient worker w pushes for key k, column j, in round r.
float Grad(uint64_t key, int j, int w, int r) { return static_cast<float>(static_cast<int>((Mix64(key) + j + w + r) % 5) - 2); }

Status Mismatch(const char* table, uint64_t key, int col, float got, float want) {
  std::ostringstream m;
  m << "kvcheck: table " << table << " key " << key << " column " << col << ": pulled " << got << ", expected " << want;
  return Status::Internal(m.str());
}

Status RunCheckWorker(const KvCheckOptions& opts, const std::vector<TableConfig>& tables, WorkerContext& ctx) {
  KVClient& kv = *ctx.kv;
  const std::vector<uint64_t> keys = CheckKeys(opts.keys, opts.seed);
  const int W = ctx.num_workers;

  // 1. Initial values are a function of (seed, table, key) only.
  PreparedKeys init_keys;
  kv.Prepare(kInit, keys.data(), keys.size(), &init_keys);
  const uint32_t dim_init = kv.RowWidth(kInit);
  std::vector<float> rows(init_keys.size() * dim_init);
  EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Pull(init_keys, rows.data())));
  std::vector<float> want(dim_init);
  uint64_t digest = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint32_t u = init_keys.index_of_input[i];
    InitRowWeights(opts.seed, kInit, keys[i], tables[kInit].init, dim_init, want.data());
    for (uint32_t j = 0; j < dim_init; ++j) {
      const float got = rows[size_t{u} * dim_init + j];
      if (got != want[j]) return Mismatch("init", keys[i], j, got, want[j]);
      uint32_t bits;
      std::memcpy(&bits, &got, 4);
      digest = HashCombine(digest, HashCombine(keys[i], bits));
    }
  }
  if (ctx.worker_index == 0 && !opts.digest_out.empty()) {
    std::ofstream f(opts.digest_out);
    f << std::hex << digest << "\n";
    if (!f) return Status::IoError("cannot write " + opts.digest_out);
  }

  // 2. Concurrent integer pushes from every worker, two requests in flight, duplicates inside
  //    each request (every key appears twice: its gradient must be the sum of both).
  const uint32_t dim = kv.RowWidth(kExact);
  std::vector<uint64_t> doubled(keys);
  doubled.insert(doubled.end(), keys.begin(), keys.end());
  PreparedKeys exact_keys;
  kv.Prepare(kExact, doubled.data(), doubled.size(), &exact_keys);
  if (exact_keys.size() != keys.size()) return Status::Internal("kvcheck: Prepare did not deduplicate keys");
  std::vector<std::vector<float>> grads(opts.rounds);
  for (int r = 0; r < opts.rounds; ++r) {
    std::vector<float> per_input(doubled.size() * dim);
    for (size_t i = 0; i < doubled.size(); ++i)
      for (uint32_t j = 0; j < dim; ++j) per_input[i * dim + j] = Grad(doubled[i], j, ctx.worker_index, r) * 0.5f;
    KVClient::SumDuplicates(exact_keys, per_input.data(), dim, &grads[r]);
  }
  for (int r = 0; r + 1 < opts.rounds; r += 2) {
    const int a = kv.Push(exact_keys, grads[r].data());
    const int b = kv.Push(exact_keys, grads[r + 1].data());
    EMBARK_RETURN_IF_ERROR(kv.Wait(a));
    EMBARK_RETURN_IF_ERROR(kv.Wait(b));
  }
  if (opts.rounds % 2 == 1) EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Push(exact_keys, grads[opts.rounds - 1].data())));

  // Dense: every worker pushes gradient (w + 1) to every float, every round.
  const uint32_t blocks = kv.placement().NumDenseBlocks(kDense);
  const uint32_t width = kv.RowWidth(kDense);
  std::vector<uint64_t> block_ids(blocks);
  for (uint32_t b = 0; b < blocks; ++b) block_ids[b] = b;
  PreparedKeys dense_keys;
  kv.Prepare(kDense, block_ids.data(), blocks, &dense_keys);
  std::vector<float> dense_grad(size_t{blocks} * width, static_cast<float>(ctx.worker_index + 1));
  for (int r = 0; r < opts.rounds; ++r) EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Push(dense_keys, dense_grad.data())));

  EMBARK_RETURN_IF_ERROR(ctx.control->Barrier(BarrierGroup::kWorkers, 120));

  // 3. Every push of every worker was applied exactly once.
  std::vector<float> final_rows(exact_keys.size() * dim);
  EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Pull(exact_keys, final_rows.data())));
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint32_t u = exact_keys.index_of_input[i];
    for (uint32_t j = 0; j < dim; ++j) {
      float expect = 0;
      for (int w = 0; w < W; ++w)
        for (int r = 0; r < opts.rounds; ++r) expect -= Grad(keys[i], j, w, r);
      if (final_rows[size_t{u} * dim + j] != expect) return Mismatch("exact", keys[i], j, final_rows[size_t{u} * dim + j], expect);
    }
  }
  std::vector<float> dense_rows(size_t{blocks} * width);
  EMBARK_RETURN_IF_ERROR(kv.Wait(kv.Pull(dense_keys, dense_rows.data())));
  const float dense_expect = -static_cast<float>(opts.rounds) * W * (W + 1) / 2;
  for (uint32_t u = 0; u < dense_keys.size(); ++u) {
    const uint64_t block = dense_keys.keys[u];
    const uint64_t len = std::min<uint64_t>(width, kDenseSize - block * width);
    for (uint64_t j = 0; j < width; ++j) {
      const float want_v = j < len ? dense_expect : 0.0f;
      if (dense_rows[u * width + j] != want_v) return Mismatch("dense", block, j, dense_rows[u * width + j], want_v);
    }
  }
  EMBARK_RETURN_IF_ERROR(ctx.control->Barrier(BarrierGroup::kWorkers, 120));

  // 4. Fused push+pull: worker 0 pushes ones and must see (previous - 1) for its keys.
  if (ctx.worker_index == 0) {
    std::vector<float> ones(exact_keys.size() * dim, 1.0f), after(exact_keys.size() * dim);
    EMBARK_RETURN_IF_ERROR(kv.Wait(kv.PushPull(exact_keys, ones.data(), after.data())));
    for (size_t u = 0; u < after.size(); ++u)
      if (after[u] != final_rows[u] - 1.0f) return Mismatch("exact (fused)", exact_keys.keys[u / dim], u % dim, after[u], final_rows[u] - 1.0f);
  }
  LOG(INFO) << "kvcheck: worker " << ctx.worker_index << " verified " << keys.size() << " keys x 3 tables";
  return Status::OK();
}

}  // namespace

JobSpec MakeKvCheckJob(const KvCheckOptions& opts) {
  JobSpec job;
  job.name = "kvcheck";
  TableConfig init;
  init.name = "init";
  init.dim = 8;
  init.init = {InitKind::kUniform, 0.5f};
  TableConfig exact;
  exact.name = "exact";
  exact.dim = 4;
  exact.optimizer.kind = OptimizerKind::kSgd;
  exact.optimizer.lr = 1.0f;
  TableConfig dense = exact;
  dense.name = "dense";
  dense.dense = true;
  dense.dense_size = kDenseSize;
  job.tables = {init, exact, dense};
  std::vector<TableConfig> tables = job.tables;
  job.worker_main = [opts, tables](WorkerContext& ctx) { return RunCheckWorker(opts, tables, ctx); };
  return job;
}

}  // namespace embark
