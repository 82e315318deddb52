// Optimizer: the server-side update rule that turns one pushed gradient into new weights for
// one row, in place, coordinate by coordinate.
//
// A row is one contiguous float array laid out as
//     [ weights (dim floats) | optimizer state (StateFloats(dim) floats) ]
// so a table can keep weights and state in one allocation and one cache-line stream. Pull
// returns only the weights part; the state part is private to the optimizer.
//
// Update rules (g = pushed gradient, w = weights, all per coordinate):
//   SGD      w -= lr * (g + l2*w)                                       state: none
//   AdaGrad  g' = g + l2*w;  n += g'^2;  w -= lr * g' / (sqrt(n) + eps)  state: n (dim floats)
//            eps = OptimizerConfig::adagrad_eps is added OUTSIDE the square root. The
//            accumulator of a new row starts at OptimizerConfig::adagrad_init: with the default
//            0 the first step is lr * g'/(|g'| + eps) ~= lr*sign(g') whatever |g'| is; with
//            n0 > 0 (libffm and xLearn use 1) it is lr * g'/sqrt(n0 + g'^2), so a coordinate
//            with small gradients (a rare feature) takes small steps, ~lr*g'/sqrt(n0).
//   Row-wise AdaGrad (rowadagrad): one accumulator per row, of the mean squared gradient:
//            g' = g + l2*w;  n += mean_j(g'_j^2);  w -= lr * g' / (sqrt(n) + eps)   state: n (1)
//            LIBMF's and FBGEMM's choice for embedding rows: the coordinates of one row see
//            gradients of the same scale, so one step size per row loses little, costs one
//            square root per step instead of dim, and stores 1 float of state instead of dim.
//            eps and init as for AdaGrad.
//   FTRL     FTRL-Proximal (McMahan et al., KDD 2013), alpha = lr, beta = ftrl_beta:
//            sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma*w;  n += g^2;
//            w = 0 if |z| <= l1 else -(z - sign(z)*l1) / ((beta + sqrt(n))/alpha + l2)
//            state: z (dim floats) then n (dim floats). The weights part always holds the
//            current w, so a pull needs no computation.
//            Non-zero initial weights: InitState chooses z so that the closed form above
//            reproduces the stored w with n = 0 (i.e. the random init is a genuine starting
//            point of the FTRL state, not an offset added on top of it). See SyncState.
//   Adam     lazy per row: g' = g + l2*w; t += 1; m = b1*m + (1-b1)*g'; v = b2*v + (1-b2)*g'^2;
//            w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//            state: m (dim), v (dim), t (1 float). t counts the updates THIS row received,
//            so a rarely seen feature gets the strong early-step bias correction on each of
//            its first few updates rather than the job-wide step count.
//
// Thread-safety: an Optimizer is immutable after Create; Apply/InitState only touch the row
// they are given, so one Optimizer may be shared by any number of threads as long as no two
// threads update the same row at the same time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/status.h"
#include "ps/table_config.h"

namespace embark {

class Optimizer {
 public:
  // Returns the optimizer for `cfg.kind`. Never returns nullptr for a valid OptimizerKind.
  static std::unique_ptr<Optimizer> Create(const OptimizerConfig& cfg);

  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const OptimizerConfig& config() const { return cfg_; }

  // Floats of optimizer state stored after the `dim` weights of a row.
  virtual int StateFloats(int dim) const = 0;

  // Initialises the state part of `row`; the weights part has already been initialised and is
  // read (FTRL derives z from it). The default zeroes the state.
  virtual void InitState(float* row, int dim) const;

  // Called after the weights part of an existing row was overwritten from outside (a restore
  // or a test assigning weights). Optimizers whose state determines the weights (FTRL: w is a
  // function of z and n) re-derive that state so the next update starts from the new weights;
  // accumulated statistics (n, m, v, t) are kept. The default does nothing.
  virtual void SyncState(float* row, int dim) const;

  // Called after a worker's change (weights and state, kPushDelta) was added to `row`.
  // Optimizers whose weights are a function of their state (FTRL) recompute the weights from
  // the summed state, so deltas of several workers combine through the state. Default: nothing.
  virtual void AfterDelta(float* row, int dim) const {}

  // One gradient step on `row` (weights followed by state), `grad` has `dim` floats.
  virtual void Apply(float* row, const float* grad, int dim) const = 0;

  // Applies grads[i*dim .. (i+1)*dim) to rows[i] for i < n, in order (the same row may appear
  // several times). One virtual call per batch instead of per row; the concrete optimizers
  // are `final`, so the per-row call inside is inlined.
  virtual void ApplyBatch(float* const* rows, const float* grads, size_t n, int dim) const = 0;

 protected:
  explicit Optimizer(const OptimizerConfig& cfg) : cfg_(cfg) {}
  const OptimizerConfig cfg_;
};

// Parses "name" or "name:key=value,key=value" into `out` (reset to OptimizerConfig defaults
// first, then overridden by the given keys). Names and keys:
//   sgd      lr, l2
//   adagrad  lr, l2, eps, init (the initial accumulator)
//   rowadagrad  the same keys
//   ftrl     lr (alias alpha), l1, l2, beta
//   adam     lr, l2, beta1, beta2, eps
// Examples: "adagrad", "sgd:lr=0.5", "ftrl:lr=0.1,l1=1,l2=0.1,beta=1",
// "adam:lr=0.001,beta1=0.9,beta2=0.999,eps=1e-8".
// Returns InvalidArgument naming the spec and the offending part for an unknown name or key, a
// value that is not a finite number, or a value out of range (lr <= 0, negative l1/l2/eps/beta,
// beta1/beta2 outside [0, 1)). `out` is unspecified on error.
Status ParseOptimizerSpec(const std::string& spec, OptimizerConfig* out);

// "sgd", "adagrad", "rowadagrad", "ftrl", "adam".
std::string OptimizerName(OptimizerKind kind);

}  // namespace embark
