#include "ps/bounded_memory.h"

#include <cctype>
#include <cstdlib>

namespace embark {

namespace {

// Splits "123abc" into 123 and "abc"; false without leading digits or on overflow.
bool SplitNumber(const std::string& text, uint64_t* n, std::string* unit) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t d = static_cast<uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    ++i;
  }
  if (i == 0) return false;
  *n = v;
  *unit = text.substr(i);
  return true;
}

}  // namespace

Status ParseByteSize(const std::string& text, uint64_t* bytes) {
  uint64_t n = 0;
  std::string unit;
  const Status bad = Status::InvalidArgument("'" + text + "' is not a byte size (use e.g. 1048576, 512M, 2G)");
  if (!SplitNumber(text, &n, &unit)) return bad;
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  int shift = 0;
  if (unit == "" || unit == "B") {
    shift = 0;
  } else if (unit == "K") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (unit == "T") {
    shift = 40;
  } else {
    return bad;
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) return bad;
  *bytes = n << shift;
  return Status::OK();
}

Status ParseTtl(const std::string& text, uint64_t* steps, uint32_t* epochs) {
  uint64_t n = 0;
  std::string unit;
  const Status bad = Status::InvalidArgument("--ttl=" + text + ": use a positive number of steps (1000, 1000steps) or epochs (3epochs)");
  if (!SplitNumber(text, &n, &unit) || n == 0) return bad;
  *steps = 0;
  *epochs = 0;
  if (unit.empty() || unit == "step" || unit == "steps") {
    if (n > UINT32_MAX / 2) return bad;  // ages are 32-bit
    *steps = n;
  } else if (unit == "epoch" || unit == "epochs") {
    if (n > 1000000) return bad;
    *epochs = static_cast<uint32_t>(n);
  } else {
    return bad;
  }
  return Status::OK();
}

}  // namespace embark
