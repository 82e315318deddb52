// CRC-32 as in zlib, gzip, PNG and Python's zlib.crc32 (reflected polynomial 0xEDB88320,
// initial value and final xor 0xFFFFFFFF), computed by zlib: the checksum of every data file
// of a serving bundle (so any reader can verify a bundle with its standard library) and of
// checkpoint files from shard format 2 and checked-file footer 2 on.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace embark {

// Continues a CRC-32: Crc32(Crc32(0, a, n), b, m) == Crc32 of a followed by b. Start with 0.
uint32_t Crc32(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32(std::string_view bytes) { return Crc32(0, bytes.data(), bytes.size()); }

}  // namespace embark
