// Deterministic row initialisation: the initial weights of a new row, computed from nothing but
// (seed, table id, key, column).
//
// The generator is counter-based (each value is a hash of its coordinates, via Mix64), not a
// stream: a row's initial values do not depend on which server creates it, in which order rows
// are created, or how many other rows exist. So a restart, a resize that moves keys to another
// server, or a worker computing the same row locally all see identical values.
//
//   kZero     all zeros (also any kind with scale == 0)
//   kUniform  uniform in [-scale, scale]
//   kNormal   normal(0, scale^2), by Box-Muller from two hashed uniforms per column
//
// Thread-safety: a pure function; safe from any thread.
#pragma once

#include <cstdint>

#include "ps/table_config.h"

namespace embark {

// Writes `dim` initial weights of row `key` of table `table_id` into out[0 .. dim).
void InitRowWeights(uint64_t seed, uint32_t table_id, uint64_t key, const InitConfig& init,
                    int dim, float* out);

}  // namespace embark
