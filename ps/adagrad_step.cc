#include "ps/adagrad_step.h"

#include <algorithm>
#include <cmath>

namespace embark {

void AdaGradStep(float* w_in, float* n_in, const float* g_in, int dim, float lr, float l2, float eps) {
  float* __restrict w = w_in;
  float* __restrict n = n_in;
  const float* __restrict gr = g_in;
  for (int j = 0; j < dim; ++j) {
    const float g = gr[j] + l2 * w[j];
    const float acc = n[j] + g * g;
    n[j] = acc;
    w[j] -= lr * g / std::max(std::sqrt(acc) + eps, kAdaGradFloor);
  }
}

}  // namespace embark
