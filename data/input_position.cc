#include "data/input_position.h"

#include <algorithm>
#include <sstream>

#include <cereal/archives/binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "core/bounded_archive.h"

namespace embark {

uint64_t RemainingInput::RangeBytes() const {
  uint64_t n = 0;
  for (const Range& r : ranges) n += r.end - r.begin;
  return n;
}

std::vector<FileRange> RemainingInput::FileRanges() const {
  std::vector<FileRange> out;
  for (const Range& r : ranges) out.push_back(FileRange{files[r.file], r.begin, r.end});
  return out;
}

std::vector<uint64_t> RemainingInput::FileStarts() const {
  std::vector<uint64_t> starts;
  uint64_t at = 0;
  for (uint64_t s : sizes) {
    starts.push_back(at);
    at += s;
  }
  return starts;
}

namespace {
constexpr uint32_t kStreamSection = 2;  // the version 2 section: a StreamCut
}  // namespace

std::string EncodePosition(const InputPosition& pos) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(pos);
    if (pos.has_stream) ar(kStreamSection, pos.stream);
  }
  return os.str();
}

Status DecodePosition(const std::string& bytes, const std::string& source, InputPosition* pos) {
  // From a peer or a checkpoint file: lengths are checked before anything is allocated.
  *pos = InputPosition();
  try {
    BoundedInputArchive ar(bytes.data(), bytes.size());
    ar(*pos);
    if (ar.remaining() > 0) {
      uint32_t section = 0;
      ar(section);
      if (section != kStreamSection)
        return Status::Corruption(source + ": unknown section " + std::to_string(section) + " after the input position "
                                  "(written by a newer version?)");
      ar(pos->stream);
      pos->has_stream = true;
      if (ar.remaining() > 0) return Status::Corruption(source + ": " + std::to_string(ar.remaining()) + " stray bytes after the stream position");
    }
  } catch (const std::exception& e) {
    return Status::Corruption(source + ": undecodable input position (" + e.what() + ")");
  }
  const RemainingInput& in = pos->input;
  if (in.files.size() != in.sizes.size()) return Status::Corruption(source + ": file and size lists differ in length");
  uint64_t total = 0;
  for (uint64_t s : in.sizes) total += s;
  for (const auto& r : in.ranges) {
    if (r.file >= in.files.size() || r.begin > r.end || r.end > in.sizes[r.file])
      return Status::Corruption(source + ": a byte range lies outside the input files");
  }
  for (size_t i = 0; i < in.pending.size(); ++i) {
    if (in.pending[i] >= total || (i > 0 && in.pending[i] <= in.pending[i - 1]))
      return Status::Corruption(source + ": pending line offsets out of range or not ascending");
  }
  return Status::OK();
}

Status ResplitRemaining(const std::vector<RemainingInput>& old, int new_workers, std::vector<RemainingInput>* out) {
  if (new_workers < 1) return Status::InvalidArgument("re-split over " + std::to_string(new_workers) + " workers");
  out->assign(new_workers, RemainingInput());
  if (old.empty()) return Status::OK();
  const RemainingInput& first = old[0];
  std::vector<uint64_t> pending;
  std::vector<RemainingInput::Range> ranges;
  for (const RemainingInput& r : old) {
    if (r.files != first.files || r.sizes != first.sizes)
      return Status::InvalidArgument("the workers' input positions name different training files");
    pending.insert(pending.end(), r.pending.begin(), r.pending.end());
    ranges.insert(ranges.end(), r.ranges.begin(), r.ranges.end());
  }
  std::sort(pending.begin(), pending.end());
  uint64_t total = 0;
  for (const auto& r : ranges) total += r.end - r.begin;
  const size_t n = pending.size();
  for (int w = 0; w < new_workers; ++w) {
    RemainingInput& share = (*out)[w];
    share.files = first.files;
    share.sizes = first.sizes;
    share.pending.assign(pending.begin() + n * w / new_workers, pending.begin() + n * (w + 1) / new_workers);
    // Bytes [lo, hi) of the concatenated ranges; a range cut at byte m gives its lines that
    // start before m to one share and the rest to the next (input_split.h's ownership rule).
    const uint64_t lo = static_cast<uint64_t>(static_cast<unsigned __int128>(total) * w / new_workers);
    const uint64_t hi = static_cast<uint64_t>(static_cast<unsigned __int128>(total) * (w + 1) / new_workers);
    uint64_t at = 0;
    for (const auto& r : ranges) {
      const uint64_t len = r.end - r.begin;
      const uint64_t b = std::max(lo, at), e = std::min(hi, at + len);
      if (b < e) share.ranges.push_back({r.file, r.begin + (b - at), r.begin + (e - at)});
      at += len;
    }
  }
  return Status::OK();
}

}  // namespace embark
