// CRC-32 as in zlib, gzip, PNG and Python's zlib.crc32 (reflected polynomial 0xEDB88320,
// initial value and final xor 0xFFFFFFFF): the checksum of every data file of a serving bundle,
// chosen so any reader can verify a bundle with its standard library.
//
// Thread-safety: pure functions (the lookup tables are built once, thread-safely).
#pragma once

#include <cstddef>
#include <cstdint>

namespace embark {

// Continues a CRC-32: Crc32(Crc32(0, a, n), b, m) == Crc32 of a followed by b. Start with 0.
uint32_t Crc32(uint32_t crc, const void* data, size_t size);

}  // namespace embark
