// Dense layers for the models with an MLP (deepfm, two_tower): one fully connected layer over a
// batch held column-wise (one column per example), its weights read from a model's dense table.
//
// W is `out` x `in` floats, ROW-major (row o holds the weights of unit o), b has `out` floats;
// both are the pulled rows of the model's tables, and their gradients the matching rows of
// Gradients. Pure maths: no state, safe to call from any number of threads on distinct outputs.
#pragma once

#include <Eigen/Core>

namespace embark {

// output = W input + b, then max(0, .) when `relu` (b may be null: no bias).
inline void DenseForward(const float* w, const float* b, int out, int in, bool relu, const Eigen::MatrixXf& input,
                         Eigen::MatrixXf* output) {
  using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMajorMatrix> weights(w, out, in);
  output->noalias() = weights * input;
  if (b != nullptr) output->colwise() += Eigen::Map<const Eigen::VectorXf>(b, out);
  if (relu) *output = output->cwiseMax(0.0f);
}

// The layer's backward pass. On entry *delta is d loss / d output (out x n), on return
// d loss / d input (in x n). Adds d loss / d W to w_grad and d loss / d b to b_grad (if not null).
// relu_output: the forward's output of a ReLU layer (the gradient passes where it is > 0), or
// null for a linear layer.
inline void DenseBackward(const float* w, int out, int in, const Eigen::MatrixXf& input,
                          const Eigen::MatrixXf* relu_output, float* w_grad, float* b_grad, Eigen::MatrixXf* delta) {
  using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  if (relu_output != nullptr) *delta = delta->cwiseProduct((relu_output->array() > 0.0f).cast<float>().matrix());
  Eigen::Map<RowMajorMatrix> weight_grads(w_grad, out, in);
  weight_grads.noalias() += *delta * input.transpose();
  if (b_grad != nullptr) Eigen::Map<Eigen::VectorXf>(b_grad, out) += delta->rowwise().sum();
  Eigen::Map<const RowMajorMatrix> weights(w, out, in);
  Eigen::MatrixXf below = weights.transpose() * *delta;
  delta->swap(below);
}

}  // namespace embark
