// Pca: principal component analysis of row vectors (user profiles) to a chosen dimension.
//
// Centres the rows (subtracts the column means), forms the covariance matrix in double
// precision, and takes the eigenvectors of its `dims` largest eigenvalues (Eigen's
// SelfAdjointEigenSolver). The projection of row x is components * (x - mean). Components are
// unit vectors, ordered by decreasing variance, each with its sign fixed so that its entry of
// largest magnitude is positive (eigenvectors are otherwise only defined up to sign, which
// would make two exports of the same model differ).
//
// Cost: O(n d^2) for the covariance plus O(d^3) for the eigensolver; d is an embedding width
// (tens to hundreds), so a few million rows take seconds.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace embark {

struct PcaResult {
  uint32_t input_dim = 0;
  uint32_t dims = 0;                      // components kept
  std::vector<float> mean;                // input_dim
  std::vector<float> components;          // dims x input_dim, row-major
  std::vector<double> explained_variance; // per kept component (eigenvalue)
  double explained_variance_ratio = 0;    // sum of kept eigenvalues / total variance (1 if 0/0)
};

// Fits PCA to `rows` (n x dim, row-major). InvalidArgument when dims is 0 or above dim, or
// n < 2.
Status FitPca(const float* rows, uint64_t n, uint32_t dim, uint32_t dims, PcaResult* out);

// out[i*dims + j] = components[j] . (rows[i] - mean), for the n rows.
void ProjectPca(const PcaResult& pca, const float* rows, uint64_t n, std::vector<float>* out);

}  // namespace embark
