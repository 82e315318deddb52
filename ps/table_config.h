// TableConfig: the declaration of one parameter table (name, row width, optimizer, initial
// values). A job declares several tables; the scheduler sends the list to every server and
// worker at start-up, so all processes agree on ids, widths and optimizers.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace embark {

enum class OptimizerKind : uint8_t { kSgd = 0, kAdaGrad = 1, kFtrl = 2, kAdam = 3, kRowAdaGrad = 4 };

// Hyper-parameters of the server-side optimizer. Unused fields are ignored by a given kind.
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kSgd;
  float lr = 0.01f;          // SGD/AdaGrad/Adam step size; FTRL alpha
  float l1 = 0.0f;           // FTRL L1 strength
  float l2 = 0.0f;           // L2 strength (SGD/AdaGrad/Adam: added to the gradient; FTRL: proximal)
  float ftrl_beta = 1.0f;    // FTRL beta
  float adagrad_eps = 1e-8f; // AdaGrad: w -= lr * g / (sqrt(n) + eps), see optimizer.h
  float adagrad_init = 0.0f; // AdaGrad: the accumulator n of a new row starts here, see optimizer.h
  float adam_beta1 = 0.9f;
  float adam_beta2 = 0.999f;
  float adam_eps = 1e-8f;
};

enum class InitKind : uint8_t { kZero = 0, kUniform = 1, kNormal = 2 };

// How a new row's weights are drawn. Values depend only on (seed, table id, key, column), never
// on which server holds the row.
struct InitConfig {
  InitKind kind = InitKind::kZero;
  float scale = 0.0f;  // uniform: [-scale, scale]; normal: standard deviation
};

struct TableConfig {
  uint32_t id = 0;          // index in the job's table list
  std::string name;
  uint32_t dim = 1;         // floats of weights per row (what pull returns)
  bool dense = false;       // dense tables are vectors of `dense_size` floats split in blocks
  uint64_t dense_size = 0;
  OptimizerConfig optimizer;
  InitConfig init;
};

}  // namespace embark
