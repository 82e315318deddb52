#include "core/crc32.h"

#include <zlib.h>

#include <algorithm>

namespace embark {

uint32_t Crc32(uint32_t crc, const void* data, size_t size) {
  // zlib takes a 32-bit length; larger inputs go through in pieces.
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (size > 0) {
    const uInt n = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    c = ::crc32(c, p, n);
    p += n;
    size -= n;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace embark
