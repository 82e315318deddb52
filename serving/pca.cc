#include "serving/pca.h"

#include <Eigen/Dense>

#include <cmath>

namespace embark {

Status FitPca(const float* rows, uint64_t n, uint32_t dim, uint32_t dims, PcaResult* out) {
  if (dims == 0 || dims > dim) {
    return Status::InvalidArgument("PCA to " + std::to_string(dims) + " dimensions needs 1 <= dims <= " + std::to_string(dim));
  }
  if (n < 2) return Status::InvalidArgument("PCA needs at least 2 rows, got " + std::to_string(n));
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(dim);
  for (uint64_t i = 0; i < n; ++i)
    mean += Eigen::Map<const Eigen::VectorXf>(rows + i * dim, dim).cast<double>();
  mean /= static_cast<double>(n);
  // Covariance accumulated in blocks of rows, so the n x dim centred matrix never exists whole.
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(dim, dim);
  constexpr uint64_t kBlock = 4096;
  Eigen::MatrixXd block;
  for (uint64_t start = 0; start < n; start += kBlock) {
    const uint64_t m = std::min(kBlock, n - start);
    block.resize(static_cast<Eigen::Index>(m), dim);
    for (uint64_t i = 0; i < m; ++i)
      block.row(static_cast<Eigen::Index>(i)) =
          Eigen::Map<const Eigen::VectorXf>(rows + (start + i) * dim, dim).cast<double>().transpose() - mean.transpose();
    cov.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
  }
  cov = cov.selfadjointView<Eigen::Lower>();
  cov /= static_cast<double>(n - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(cov);
  if (solver.info() != Eigen::Success) return Status::Internal("PCA: the eigensolver did not converge");
  const Eigen::VectorXd& values = solver.eigenvalues();  // ascending
  const Eigen::MatrixXd& vectors = solver.eigenvectors();
  double total = 0;
  for (uint32_t i = 0; i < dim; ++i) total += std::max(0.0, values(i));
  out->input_dim = dim;
  out->dims = dims;
  out->mean.resize(dim);
  for (uint32_t j = 0; j < dim; ++j) out->mean[j] = static_cast<float>(mean(j));
  out->components.assign(size_t{dims} * dim, 0.0f);
  out->explained_variance.assign(dims, 0.0);
  double kept = 0;
  for (uint32_t c = 0; c < dims; ++c) {
    const Eigen::Index col = static_cast<Eigen::Index>(dim - 1 - c);
    Eigen::VectorXd v = vectors.col(col);
    Eigen::Index largest = 0;
    v.cwiseAbs().maxCoeff(&largest);
    if (v(largest) < 0) v = -v;
    for (uint32_t j = 0; j < dim; ++j) out->components[size_t{c} * dim + j] = static_cast<float>(v(j));
    out->explained_variance[c] = std::max(0.0, values(col));
    kept += out->explained_variance[c];
  }
  out->explained_variance_ratio = total > 0 ? kept / total : 1.0;
  return Status::OK();
}

void ProjectPca(const PcaResult& pca, const float* rows, uint64_t n, std::vector<float>* out) {
  const uint32_t dim = pca.input_dim;
  out->assign(n * pca.dims, 0.0f);
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> comp(pca.components.data(), pca.dims, dim);
  Eigen::Map<const Eigen::VectorXf> mean(pca.mean.data(), dim);
  Eigen::VectorXf centred(dim);
  for (uint64_t i = 0; i < n; ++i) {
    centred = Eigen::Map<const Eigen::VectorXf>(rows + i * dim, dim) - mean;
    Eigen::Map<Eigen::VectorXf>(out->data() + i * pca.dims, pca.dims) = comp * centred;
  }
}

}  // namespace embark
