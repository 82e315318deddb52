#include "ps/optimizer.h"

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include <glog/logging.h>

namespace embark {

Optimizer::~Optimizer() = default;

void Optimizer::InitState(float* row, int dim) const {
  const int state = StateFloats(dim);
  if (state > 0) std::memset(row + dim, 0, sizeof(float) * static_cast<size_t>(state));
}

void Optimizer::SyncState(float* /*row*/, int /*dim*/) const {}

namespace {

// Gives every concrete optimizer a batch loop that calls its own (final, hence inlinable)
// Apply, so the per-row virtual dispatch happens once per batch.
template <class Derived>
class OptimizerBase : public Optimizer {
 public:
  using Optimizer::Optimizer;
  void ApplyBatch(float* const* rows, const float* grads, size_t n, int dim) const final {
    const Derived& self = static_cast<const Derived&>(*this);
    for (size_t i = 0; i < n; ++i) self.Derived::Apply(rows[i], grads + i * dim, dim);
  }
};

class SgdOptimizer final : public OptimizerBase<SgdOptimizer> {
 public:
  explicit SgdOptimizer(const OptimizerConfig& cfg) : OptimizerBase(cfg) {}
  int StateFloats(int /*dim*/) const override { return 0; }
  void Apply(float* row, const float* grad, int dim) const override {
    const float lr = cfg_.lr, l2 = cfg_.l2;
    for (int j = 0; j < dim; ++j) row[j] -= lr * (grad[j] + l2 * row[j]);
  }
};

constexpr float kAdaGradFloor = 1e-10f;

class AdaGradOptimizer final : public OptimizerBase<AdaGradOptimizer> {
 public:
  explicit AdaGradOptimizer(const OptimizerConfig& cfg) : OptimizerBase(cfg) {}
  int StateFloats(int dim) const override { return dim; }
  void InitState(float* row, int dim) const override {
    std::fill(row + dim, row + 2 * dim, cfg_.adagrad_init);
  }
  // Summed deltas (and a peer's garbage that is finite) must not leave a negative accumulator.
  void AfterDelta(float* row, int dim) const override {
    for (int j = 0; j < dim; ++j) row[dim + j] = std::max(row[dim + j], 0.0f);
  }
  void Apply(float* row, const float* grad, int dim) const override {
    const float lr = cfg_.lr, l2 = cfg_.l2, eps = cfg_.adagrad_eps;
    // Weights and accumulator are disjoint halves of the row and the gradient is the caller's
    // own array: restrict lets the compiler vectorise the loop (it is the hottest loop of
    // local-update training).
    float* __restrict w = row;
    float* __restrict n = row + dim;
    const float* __restrict gr = grad;
    for (int j = 0; j < dim; ++j) {
      const float g = gr[j] + l2 * w[j];
      const float acc = n[j] + g * g;
      n[j] = acc;
      // With eps = 0 a coordinate that has only seen zero gradients has 0/0; it must not move.
      // The denominator is floored at kAdaGradFloor instead (a max, not a branch, so the loop
      // stays vectorised): that changes nothing unless sqrt(n) + eps < 1e-10, i.e. only with
      // eps = 0 and |g| < 1e-10, where the step stays below lr * |g| / 1e-10 < lr (and 0 for g = 0).
      w[j] -= lr * g / std::max(std::sqrt(acc) + eps, kAdaGradFloor);
    }
  }
};

class RowAdaGradOptimizer final : public OptimizerBase<RowAdaGradOptimizer> {
 public:
  explicit RowAdaGradOptimizer(const OptimizerConfig& cfg) : OptimizerBase(cfg) {}
  int StateFloats(int /*dim*/) const override { return 1; }
  void InitState(float* row, int dim) const override { row[dim] = cfg_.adagrad_init; }
  void AfterDelta(float* row, int dim) const override { row[dim] = std::max(row[dim], 0.0f); }
  void Apply(float* row, const float* grad, int dim) const override {
    const float l2 = cfg_.l2;
    float* __restrict w = row;
    const float* __restrict gr = grad;
    // |g|^2 in kLanes independent sums: one running float sum is a chain of dependent adds
    // the compiler may not reorder (it was 40 % of an MF epoch), lanes stay in one register.
    constexpr int kLanes = 8;
    float lane[kLanes] = {};
    int j = 0;
    for (; j + kLanes <= dim; j += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float g = gr[j + l] + l2 * w[j + l];
        lane[l] += g * g;
      }
    // The tail has its own sum: indexing the lanes by a loop variable would keep them in
    // memory (a store and a reload per element) instead of a register.
    float tail = 0.0f;
    for (; j < dim; ++j) {
      const float g = gr[j] + l2 * w[j];
      tail += g * g;
    }
    for (int half = kLanes / 2; half > 0; half /= 2)
      for (int l = 0; l < half; ++l) lane[l] += lane[l + half];
    const float acc = row[dim] + (lane[0] + tail) / static_cast<float>(dim);
    row[dim] = acc;
    // The floor as in AdaGrad: a row that has only seen zero gradients (with eps = 0) stays.
    const float step = cfg_.lr / std::max(std::sqrt(acc) + cfg_.adagrad_eps, kAdaGradFloor);
    for (int j = 0; j < dim; ++j) w[j] -= step * (gr[j] + l2 * w[j]);
  }
};

class FtrlOptimizer final : public OptimizerBase<FtrlOptimizer> {
 public:
  explicit FtrlOptimizer(const OptimizerConfig& cfg) : OptimizerBase(cfg) {}
  int StateFloats(int dim) const override { return 2 * dim; }

  void InitState(float* row, int dim) const override {
    std::memset(row + 2 * dim, 0, sizeof(float) * static_cast<size_t>(dim));  // n = 0
    SyncState(row, dim);
  }

  // Inverts the closed form: for w != 0 the z with sign opposite to w and
  // |z| = |w| * ((beta + sqrt(n))/alpha + l2) + l1 maps back to w; w = 0 maps from z = 0.
  // If the denominator is 0 (beta = 0, n = 0, l2 = 0) no finite z reproduces w; then z is set
  // to the L1 boundary and w stays as stored until the first update recomputes it.
  void SyncState(float* row, int dim) const override {
    const float inv_alpha = 1.0f / cfg_.lr;
    const float* w = row;
    float* z = row + dim;
    const float* n = row + 2 * dim;
    for (int j = 0; j < dim; ++j) {
      if (w[j] == 0.0f) {
        z[j] = 0.0f;
        continue;
      }
      const float sign = w[j] > 0.0f ? 1.0f : -1.0f;
      const float denom = (cfg_.ftrl_beta + std::sqrt(n[j])) * inv_alpha + cfg_.l2;
      z[j] = -w[j] * denom - sign * cfg_.l1;
    }
  }

  void AfterDelta(float* row, int dim) const override {
    const float inv_alpha = 1.0f / cfg_.lr;
    const float l1 = cfg_.l1, l2 = cfg_.l2, beta = cfg_.ftrl_beta;
    for (int j = 0; j < dim; ++j) {
      float* n = row + 2 * dim + j;
      if (*n < 0.0f) *n = 0.0f;  // rounding of a summed delta must not leave sqrt(n) undefined
      const float zj = row[dim + j];
      if (std::fabs(zj) <= l1) {
        row[j] = 0.0f;
      } else {
        const float denom = (beta + std::sqrt(*n)) * inv_alpha + l2;
        if (denom > 0.0f) row[j] = -(zj - (zj > 0.0f ? 1.0f : -1.0f) * l1) / denom;
      }
    }
  }

  void Apply(float* row, const float* grad, int dim) const override {
    const float inv_alpha = 1.0f / cfg_.lr;
    const float l1 = cfg_.l1, l2 = cfg_.l2, beta = cfg_.ftrl_beta;
    float* w = row;
    float* z = row + dim;
    float* n = row + 2 * dim;
    for (int j = 0; j < dim; ++j) {
      const float g = grad[j];
      const float old_sqrt = std::sqrt(n[j]);
      const float new_n = n[j] + g * g;
      const float new_sqrt = std::sqrt(new_n);
      const float sigma = (new_sqrt - old_sqrt) * inv_alpha;
      z[j] += g - sigma * w[j];
      n[j] = new_n;
      const float zj = z[j];
      if (std::fabs(zj) <= l1) {
        w[j] = 0.0f;
      } else {
        const float sign = zj > 0.0f ? 1.0f : -1.0f;
        w[j] = -(zj - sign * l1) / ((beta + new_sqrt) * inv_alpha + l2);
      }
    }
  }
};

class AdamOptimizer final : public OptimizerBase<AdamOptimizer> {
 public:
  explicit AdamOptimizer(const OptimizerConfig& cfg) : OptimizerBase(cfg) {}
  int StateFloats(int dim) const override { return 2 * dim + 1; }
  // Several workers' deltas of a decaying v can sum below zero; t counts updates.
  void AfterDelta(float* row, int dim) const override {
    for (int j = 0; j < dim; ++j) row[2 * dim + j] = std::max(row[2 * dim + j], 0.0f);
    row[3 * dim] = std::max(row[3 * dim], 0.0f);
  }
  void Apply(float* row, const float* grad, int dim) const override {
    const float lr = cfg_.lr, l2 = cfg_.l2, eps = cfg_.adam_eps;
    const float b1 = cfg_.adam_beta1, b2 = cfg_.adam_beta2;
    float* w = row;
    float* m = row + dim;
    float* v = row + 2 * dim;
    float& t = row[3 * dim];
    t += 1.0f;
    // Bias corrections depend only on this row's step count: computed once per row.
    const float c1 = 1.0f - std::pow(b1, t);
    const float c2 = 1.0f - std::pow(b2, t);
    const float step = lr / c1;
    const float inv_c2 = 1.0f / c2;
    for (int j = 0; j < dim; ++j) {
      const float g = grad[j] + l2 * w[j];
      m[j] = b1 * m[j] + (1.0f - b1) * g;
      v[j] = b2 * v[j] + (1.0f - b2) * g * g;
      // v = 0 implies m = 0 (all gradients so far were 0); skip the 0/0 that eps = 0 gives.
      const float denom = std::sqrt(v[j] * inv_c2) + eps;
      if (denom > 0.0f) w[j] -= step * m[j] / denom;
    }
  }
};

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// Parses a whole string as a finite float.
bool ParseFiniteFloat(const std::string& text, float* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const float v = std::strtof(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

struct SpecKey {
  const char* name;
  float OptimizerConfig::*field;
};

std::vector<SpecKey> KeysFor(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return {{"lr", &OptimizerConfig::lr}, {"l2", &OptimizerConfig::l2}};
    case OptimizerKind::kAdaGrad:
    case OptimizerKind::kRowAdaGrad:
      return {{"lr", &OptimizerConfig::lr},
              {"l2", &OptimizerConfig::l2},
              {"eps", &OptimizerConfig::adagrad_eps},
              {"init", &OptimizerConfig::adagrad_init}};
    case OptimizerKind::kFtrl:
      return {{"lr", &OptimizerConfig::lr},
              {"alpha", &OptimizerConfig::lr},
              {"l1", &OptimizerConfig::l1},
              {"l2", &OptimizerConfig::l2},
              {"beta", &OptimizerConfig::ftrl_beta}};
    case OptimizerKind::kAdam:
      return {{"lr", &OptimizerConfig::lr},
              {"l2", &OptimizerConfig::l2},
              {"beta1", &OptimizerConfig::adam_beta1},
              {"beta2", &OptimizerConfig::adam_beta2},
              {"eps", &OptimizerConfig::adam_eps}};
  }
  return {};
}

}  // namespace

std::unique_ptr<Optimizer> Optimizer::Create(const OptimizerConfig& cfg) {
  switch (cfg.kind) {
    case OptimizerKind::kSgd:
      return std::make_unique<SgdOptimizer>(cfg);
    case OptimizerKind::kAdaGrad:
      return std::make_unique<AdaGradOptimizer>(cfg);
    case OptimizerKind::kRowAdaGrad:
      return std::make_unique<RowAdaGradOptimizer>(cfg);
    case OptimizerKind::kFtrl:
      return std::make_unique<FtrlOptimizer>(cfg);
    case OptimizerKind::kAdam:
      return std::make_unique<AdamOptimizer>(cfg);
  }
  LOG(FATAL) << "Optimizer::Create: invalid OptimizerKind " << static_cast<int>(cfg.kind);
  return nullptr;
}

std::string OptimizerName(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd: return "sgd";
    case OptimizerKind::kAdaGrad: return "adagrad";
    case OptimizerKind::kRowAdaGrad: return "rowadagrad";
    case OptimizerKind::kFtrl: return "ftrl";
    case OptimizerKind::kAdam: return "adam";
  }
  return "unknown(" + std::to_string(static_cast<int>(kind)) + ")";
}

Status ParseOptimizerSpec(const std::string& spec, OptimizerConfig* out) {
  const std::string where = "optimizer spec '" + spec + "': ";
  const size_t colon = spec.find(':');
  const std::string name = Trim(spec.substr(0, colon));

  OptimizerConfig cfg;
  bool found = false;
  for (OptimizerKind kind : {OptimizerKind::kSgd, OptimizerKind::kAdaGrad, OptimizerKind::kRowAdaGrad,
                             OptimizerKind::kFtrl, OptimizerKind::kAdam}) {
    if (name == OptimizerName(kind)) {
      cfg.kind = kind;
      found = true;
    }
  }
  if (!found) {
    return Status::InvalidArgument(where + "unknown optimizer '" + name +
                                   "' (expected sgd, adagrad, rowadagrad, ftrl or adam)");
  }

  const std::vector<SpecKey> keys = KeysFor(cfg.kind);
  if (colon != std::string::npos) {
    const std::string params = spec.substr(colon + 1);
    size_t begin = 0;
    while (begin <= params.size()) {
      size_t comma = params.find(',', begin);
      if (comma == std::string::npos) comma = params.size();
      const std::string item = Trim(params.substr(begin, comma - begin));
      begin = comma + 1;
      const size_t eq = item.find('=');
      if (eq == std::string::npos) {
        return Status::InvalidArgument(where + "expected key=value, got '" + item + "'");
      }
      const std::string key = Trim(item.substr(0, eq));
      const std::string value = Trim(item.substr(eq + 1));
      const SpecKey* match = nullptr;
      for (const SpecKey& k : keys) {
        if (key == k.name) match = &k;
      }
      if (match == nullptr) {
        std::string known;
        for (const SpecKey& k : keys) known += std::string(known.empty() ? "" : ", ") + k.name;
        return Status::InvalidArgument(where + "unknown key '" + key + "' for " + name +
                                       " (known: " + known + ")");
      }
      float v = 0.0f;
      if (!ParseFiniteFloat(value, &v)) {
        return Status::InvalidArgument(where + "value of '" + key + "' is not a finite number: '" +
                                       value + "'");
      }
      cfg.*(match->field) = v;
    }
  }

  // Range checks: values that would silently produce NaN or a diverging update.
  auto bad = [&](const char* key, const char* why) {
    return Status::InvalidArgument(where + key + " " + why);
  };
  if (!(cfg.lr > 0.0f)) return bad("lr", "must be > 0");
  if (cfg.l1 < 0.0f) return bad("l1", "must be >= 0");
  if (cfg.l2 < 0.0f) return bad("l2", "must be >= 0");
  if (cfg.ftrl_beta < 0.0f) return bad("beta", "must be >= 0");
  if (cfg.adagrad_eps < 0.0f || cfg.adam_eps < 0.0f) return bad("eps", "must be >= 0");
  if (cfg.adagrad_init < 0.0f) return bad("init", "must be >= 0");
  if (cfg.adam_beta1 < 0.0f || cfg.adam_beta1 >= 1.0f) return bad("beta1", "must be in [0, 1)");
  if (cfg.adam_beta2 < 0.0f || cfg.adam_beta2 >= 1.0f) return bad("beta2", "must be in [0, 1)");
  *out = cfg;
  return Status::OK();
}

}  // namespace embark
