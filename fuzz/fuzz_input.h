// FuzzInput: reads a libFuzzer input as a sequence of choices and byte strings, so one target
// can drive an entry point with several arguments (a header and frames, a format byte and
// lines, several files of a bundle). Reading past the end yields zeros / empty strings, never
// an error: every input is a valid program for the target.
//
// Also quiets glog, and the small file-system helpers the loaders that take paths need: a scratch directory
// that is created once per process and emptied for every input.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <glog/logging.h>

namespace embark {
namespace fuzz {

// Entry points log refusals (glog): millions of runs would spend their time writing them.
inline const bool kQuietLogs = [] {
  FLAGS_minloglevel = 3;  // FATAL only
  return true;
}();

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : at_(data), end_(data + size) {}

  size_t remaining() const { return static_cast<size_t>(end_ - at_); }
  uint8_t Byte() {
    if (at_ == end_) return 0;
    return *at_++;
  }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | (Byte() << 8)); }
  // The next `n` bytes (fewer if the input ends first).
  std::string Bytes(size_t n) {
    if (n > remaining()) n = remaining();
    std::string s(reinterpret_cast<const char*>(at_), n);
    at_ += n;
    return s;
  }
  // A string with a 2-byte length prefix.
  std::string Chunk() { return Bytes(U16()); }
  std::string Rest() { return Bytes(remaining()); }

 private:
  const uint8_t* at_;
  const uint8_t* end_;
};

// Splits `text` at `sep` (the pieces keep no separator); "a\nb" -> {"a", "b"}.
inline std::vector<std::string_view> Split(std::string_view text, std::string_view sep) {
  std::vector<std::string_view> out;
  size_t from = 0;
  while (true) {
    const size_t at = text.find(sep, from);
    if (at == std::string_view::npos) {
      out.push_back(text.substr(from));
      return out;
    }
    out.push_back(text.substr(from, at - from));
    from = at + sep.size();
  }
}

// A directory of this process under TMPDIR (or /tmp), emptied on every call and removed when
// the process exits normally.
inline const std::string& ScratchDir() {
  struct Dir {
    std::string path;
    Dir() {
      const char* tmp = std::getenv("TMPDIR");
      path = std::string(tmp && *tmp ? tmp : "/tmp") + "/embark-fuzz-" + std::to_string(getpid());
      mkdir(path.c_str(), 0700);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path, ec)) std::filesystem::remove_all(entry.path(), ec);
  return dir.path;
}

inline void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A finding of the harness itself (an invariant of the entry point does not hold): abort, so
// libFuzzer saves the input like any crash.
#define FUZZ_CHECK(cond, what)                                                  \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", what, __FILE__, __LINE__); \
      std::abort();                                                             \
    }                                                                           \
  } while (0)

}  // namespace fuzz
}  // namespace embark
