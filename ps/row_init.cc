#include "ps/row_init.h"

#include <cmath>
#include <cstring>

#include "core/hash.h"

namespace embark {
namespace {

// Maps 64 hashed bits to a double in the open interval (0, 1): the top 53 bits plus one half
// ulp, so log(u) in Box-Muller is always finite.
inline double OpenUnit(uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // 2^-53
}

}  // namespace

void InitRowWeights(uint64_t seed, uint32_t table_id, uint64_t key, const InitConfig& init,
                    int dim, float* out) {
  if (dim <= 0) return;
  if (init.kind == InitKind::kZero || init.scale == 0.0f) {
    std::memset(out, 0, sizeof(float) * static_cast<size_t>(dim));
    return;
  }
  // One hash of the row coordinates, then one (uniform) or two (normal) hashes per column.
  const uint64_t row_hash = HashCombine(HashCombine(seed, table_id), key);
  const double scale = init.scale;
  if (init.kind == InitKind::kUniform) {
    for (int j = 0; j < dim; ++j) {
      const double u = OpenUnit(HashCombine(row_hash, static_cast<uint64_t>(j)));
      float v = static_cast<float>(scale * (2.0 * u - 1.0));
      // Rounding to float can land exactly on +-scale, never beyond; clamp for safety anyway.
      if (v > init.scale) v = init.scale;
      if (v < -init.scale) v = -init.scale;
      out[j] = v;
    }
    return;
  }
  // kNormal: Box-Muller, keeping only the cosine branch so each column is independent of the
  // others (column j never shares hashed uniforms with column j+1).
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int j = 0; j < dim; ++j) {
    const uint64_t c = static_cast<uint64_t>(j) << 1;
    const double u1 = OpenUnit(HashCombine(row_hash, c));
    const double u2 = OpenUnit(HashCombine(row_hash, c | 1));
    out[j] = static_cast<float>(scale * std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
  }
}

}  // namespace embark
