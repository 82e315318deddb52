// NPY files (numpy's .npy format, version 1.0) with a fixed 128-byte header, so the array
// starts 64-byte aligned when the file is memory-mapped and numpy.load, np.memmap and Faiss
// users read the bundle's arrays directly.
//
// The header is "\x93NUMPY", bytes 1 and 0 (version 1.0), a little-endian u16 header length,
// then a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }
// padded with spaces and ended by '\n' so that magic + length + dict is exactly 128 bytes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

constexpr size_t kNpyHeaderBytes = 128;

// The 128-byte header of a C-order array of `descr` ('<u8', '<f4', '<f2') and `shape`.
std::string NpyHeader(const std::string& descr, const std::vector<uint64_t>& shape);

// Parses the header at the start of `data` (`size` bytes, the whole file): checks magic,
// version 1.x, C order, and that the file holds exactly the array's bytes after the header.
// Sets *descr, *shape and *data_offset. Corruption names `path` and the problem.
Status ParseNpyHeader(const std::string& path, const char* data, uint64_t size, std::string* descr,
                      std::vector<uint64_t>* shape, uint64_t* data_offset);

// Writes header + `bytes` bytes of `array` to `path` atomically and durably (core/file_env.h:
// PATH.tmp, fsync, rename); IoError names the path.
Status WriteNpyFile(const std::string& path, const std::string& descr, const std::vector<uint64_t>& shape,
                    const void* array, uint64_t bytes);

}  // namespace embark
