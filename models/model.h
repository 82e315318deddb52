// Model: the maths of one model family, separated from the network.
//
// A model declares the parameter tables it needs (sparse key -> row tables and dense vectors),
// says which table each feature of a batch lives in, and computes loss and gradients from the
// rows the worker pulled. It never talks to the network and never reads files: the worker
// pulls exactly the rows a batch needs, hands them over as PulledRows, and pushes back the
// Gradients the model filled in. This keeps every model testable with plain arrays (gradient
// checks against finite differences) and keeps the worker ignorant of any model's maths.
//
// Thread-safety: ForwardBackward and Predict are const and may run concurrently on disjoint
// example ranges [begin, end) of the same batch, writing to distinct Gradients objects.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model_description.h"
#include "ps/table_config.h"
#include "data/batch.h"

namespace embark {

// Rows the worker pulled for one batch, one entry per table declared by the model.
// For a sparse table t: rows[t] holds num_rows(t) * dim(t) floats; feature occurrence i of the
// batch (if it belongs to table t) uses row row_of_feature[i]. For a dense table t, rows[t]
// holds the whole dense vector.
struct PulledRows {
  std::vector<std::vector<float>> rows;    // per table
  std::vector<int32_t> row_of_feature;     // per feature occurrence of the batch; -1 if none
  const float* Row(int table, int32_t row, int dim) const { return rows[table].data() + static_cast<size_t>(row) * dim; }
};

// Gradients with the same layout as PulledRows::rows (zero-initialised by the worker).
struct Gradients {
  std::vector<std::vector<float>> rows;    // per table
  float* Row(int table, int32_t row, int dim) { return rows[table].data() + static_cast<size_t>(row) * dim; }
};

// The rows of one example, read where they lie (ExampleForwardBackward below). Feature
// occurrence j of the example (batch feature offsets[e] + j) reads row[j] (nullptr when the
// worker ignores it) and adds d(loss)/d(row) into grad[j], a buffer of the row's dim floats
// the caller zeroed. Dense tables are read from dense[t] and their gradients added into
// dense_grad[t] (summed over the caller's batch; sparse tables' entries are empty).
struct ExampleRows {
  const float* const* row;
  float* const* grad;
  const std::vector<float>* dense;
  std::vector<float>* dense_grad;
};

// Loss summed over examples plus the number of examples it covers.
struct LossSum {
  double loss = 0;
  size_t examples = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual std::string name() const = 0;
  // What export, serve, bench and evaluation need to know about this model without knowing
  // which model it is (models/model_description.h): the task, the tables' columns, the
  // prediction formula, fields -> tables, embedding columns, storage transforms.
  virtual ModelDescription Describe() const = 0;
  // The tables this model trains, in a fixed order (the table index used everywhere below).
  virtual std::vector<TableConfig> Tables() const = 0;
  // Index into Tables() of the sparse table holding features of `field`, or -1 to ignore it.
  virtual int TableOfField(uint16_t field) const = 0;
  // Computes loss and accumulates d(loss)/d(row) into `grads` for examples [begin, end).
  // Gradients are summed over examples (not averaged); the optimizer sees the sum.
  virtual LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                  const PulledRows& rows, Gradients* grads) const = 0;
  // Writes the model's prediction (rating, or click probability) for examples [begin, end)
  // into preds[begin..end).
  virtual void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                       float* preds) const = 0;

  // Example-at-a-time training (optional). Local-update training holds every row it trains on
  // (worker/row_replica.h); a model that implements this trains on them one example at a time,
  // as SGD matrix factorisation does (Koren et al. 2009; LIBMF): it reads the example's rows in
  // place and fills one gradient per feature occurrence, and the caller steps each row's
  // optimizer right after (summing the gradients of occurrences that share a row). For the
  // sparse rows this is ForwardBackward on a batch of one example, without gathering rows into
  // a batch copy and back; dense tables take one step per batch from the summed gradients.
  // Returns the example's loss. Same concurrency contract as ForwardBackward.
  virtual bool TrainsExampleAtATime() const { return false; }
  virtual double ExampleForwardBackward(const Batch& batch, size_t e, const ExampleRows& rows) const {
    return 0;
  }

  // Pair models (optional; mf): every example reads exactly one row of sparse table *user and
  // one of sparse table *item, plus the dense tables. Their epochs can train in conflict-free
  // blocks (worker/block_scheduler.h): lock-free threads, and workers, that never update the
  // same row at once. PairForwardBackward is ExampleForwardBackward for such an example given
  // its two rows: it returns the loss, writes d(loss)/d(row) into user_grad and item_grad (the
  // rows' dim floats; no need to zero them), and reads and adds the dense tables as ExampleRows
  // does. Same concurrency contract as ForwardBackward.
  virtual bool PairTables(int* user, int* item) const { return false; }
  virtual double PairForwardBackward(const float* user_row, const float* item_row, float label, float* user_grad,
                                     float* item_grad, const std::vector<float>* dense,
                                     std::vector<float>* dense_grad) const {
    return 0;
  }

  // Ranking models (implicit feedback, models/interaction_fields.h) rank every catalogue item
  // for a user by the dot product of a user vector and an item vector; evaluation computes the
  // item vectors once and scores them against each test user. The defaults describe a model
  // that does not rank (every CTR and rating model).
  virtual bool IsRanking() const { return false; }
  // Floats of one user or item vector.
  virtual int VectorDim() const { return 0; }
  // Each example of `batch` describes one user (its user-side features) or one item (its
  // item-side features); writes the vector of example e to out + (e - begin) * VectorDim().
  virtual void UserVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                           float* out) const {}
  virtual void ItemVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                           float* out) const {}
};

}  // namespace embark
