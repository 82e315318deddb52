// AdaGradStep: the per-coordinate AdaGrad update, the innermost loop of training.
//
//   g' = g + l2 * w;   n += g'^2;   w -= lr * g' / max(sqrt(n) + eps, kAdaGradFloor)
//
// It lives in its own file because it is compiled with the flags that let GCC replace the
// square root and the division by their approximate instructions, each refined by one
// Newton-Raphson step (rsqrt, rcp: a few ulp instead of half of one, at a fraction of the
// latency): `-funsafe-math-optimizations -ffinite-math-only -fno-trapping-math`
// (CMakeLists.txt). The loop has no reductions, so reassociation changes nothing; with a
// non-finite input the result is as undefined as before (training has already diverged).
// Measured on the 2-core AVX-512 VM, 97-float rows in L1 (FFM's row at K = 8, 12 fields):
// 0.55 ns per coordinate against 0.72 with the exact sqrt and division, 1.3x.
//
// Thread-safety: a pure function of its arguments.
#pragma once

namespace embark {

// Below this the denominator is floored: a coordinate that has only seen zero gradients
// (with eps = 0, sqrt(0) = 0) does not move (0 / 0 would be NaN).
constexpr float kAdaGradFloor = 1e-10f;

// w and n are the row's weights and accumulators, disjoint from each other and from g.
void AdaGradStep(float* w, float* n, const float* g, int dim, float lr, float l2, float eps);

}  // namespace embark
