// The parameter server the wire and shared-memory targets send requests to: three tables
// (sparse dim 4 AdaGrad, sparse dim 1 FTRL, dense 20000 floats Adam) on server 0 of a
// two-server shard map, driven through Server::Handle without sockets (as tests/server_test.cc
// does). `variant` picks the options: sub-shard threads and bounded memory, so both paths
// see hostile requests.
#pragma once

#include <memory>
#include <vector>

#include "ps/server.h"

namespace embark {
namespace fuzz {

inline const Placement& FuzzPlacement() {
  static const Placement* placement = [] {
    TableConfig emb;
    emb.name = "emb";
    emb.dim = 4;
    emb.optimizer.kind = OptimizerKind::kAdaGrad;
    emb.init.kind = InitKind::kUniform;
    emb.init.scale = 0.5f;
    TableConfig lin;
    lin.name = "lin";
    lin.dim = 1;
    lin.optimizer.kind = OptimizerKind::kFtrl;
    TableConfig mlp;
    mlp.name = "mlp";
    mlp.dense = true;
    mlp.dense_size = 20000;
    mlp.optimizer.kind = OptimizerKind::kAdam;
    mlp.init.kind = InitKind::kNormal;
    mlp.init.scale = 0.1f;
    return new Placement(ShardMap::Balanced(2), {emb, lin, mlp});
  }();
  return *placement;
}

inline std::unique_ptr<Server> MakeFuzzServer(uint8_t variant) {
  ServerOptions opts;
  opts.threads = 1 + (variant & 1);
  opts.seed = 11;
  opts.max_request_bytes = 1 << 20;  // small, so requests over the cap are reachable
  if (variant & 2) {
    opts.memory.min_count = 2;
    opts.memory.ttl_steps = 3;
    opts.memory.budget_bytes = 1 << 20;
    opts.memory.sketch_bytes = 1 << 12;
  }
  return std::make_unique<Server>(nullptr, nullptr, FuzzPlacement(), 0, opts);
}

}  // namespace fuzz
}  // namespace embark
