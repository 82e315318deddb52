// InputPosition: where a worker stands in its input when a checkpoint cuts an epoch, and the
// re-split of every worker's remainder over a (possibly different) number of workers on resume.
//
// What is still to be trained in the interrupted epoch is recorded exactly, as lines:
//  * `ranges`: byte ranges of the training files not read yet (the rest of the range being
//    read, starting at the next unread line, and the ranges not opened yet). They follow the
//    ownership rule of input_split.h, so they can be cut anywhere and re-split.
//  * `pending`: lines already read but not trained yet -- held by the shuffle buffer, by a
//    batch being filled, by batches queued for the trainer, or by the trainer's prefetched next
//    batch. Each is the byte offset where the line starts, with the files taken as one stream in
//    `files` order (Batch::origins). On resume they are read again by offset, so no example is
//    lost or trained twice; only their order differs from the uninterrupted run (the resumed
//    epoch reshuffles them with a seed of its own).
// `files` and `sizes` name the input the offsets refer to; a resume checks they are unchanged.
//
// ResplitRemaining gives every new worker an equal share: the pending lines (sorted by offset,
// contiguous runs) by count and the unread ranges by bytes (cut anywhere, per the ownership
// rule). Together the new workers read every remaining line exactly once.
//
// Streams (dir://, kafka://) have no byte ranges: a stream worker's position is `stream`, a
// StreamCut (stream_position.h), with `input` empty.
//
// Encoding (checkpoint files worker-J.position and the kTrainPaused message): version 1 is
// the Cereal binary of epoch .. input and ends there; version 2 appends, for a stream only,
// the u32 section tag 2 and the StreamCut. Version 1 files read as before (no stream).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/input_split.h"
#include "data/stream_position.h"

namespace embark {

struct RemainingInput {
  struct Range {
    uint32_t file = 0;   // index into files
    uint64_t begin = 0;  // byte offsets in that file, [begin, end)
    uint64_t end = 0;
    template <class A> void serialize(A& ar) { ar(file, begin, end); }
  };
  std::vector<std::string> files;  // the job's training files, sorted (ExpandInputs order)
  std::vector<uint64_t> sizes;     // their sizes, bytes
  std::vector<Range> ranges;       // unread byte ranges, in reading order
  std::vector<uint64_t> pending;   // read but untrained lines: start offsets in the file stream, ascending

  uint64_t RangeBytes() const;
  // The ranges as FileRanges (paths instead of file indexes).
  std::vector<FileRange> FileRanges() const;
  // Global offset of each file's first byte (files taken as one stream).
  std::vector<uint64_t> FileStarts() const;
  template <class A> void serialize(A& ar) { ar(files, sizes, ranges, pending); }
};

struct InputPosition {
  int32_t epoch = 0;        // the epoch that was cut
  uint64_t clock = 0;       // batches this worker finished in it
  uint64_t examples = 0;    // examples it trained in it
  double loss_sum = 0;      // their summed training loss
  bool epoch_done = false;  // the worker had finished its share of the epoch (nothing remains)
  RemainingInput input;
  bool has_stream = false;  // a stream's cut (encoded as the version 2 section)
  StreamCut stream;
  // The version 1 fields only; EncodePosition/DecodePosition add the stream section.
  template <class A> void serialize(A& ar) { ar(epoch, clock, examples, loss_sum, epoch_done, input); }
};

std::string EncodePosition(const InputPosition& pos);
// Decodes and checks the ranges and offsets against files/sizes; errors name `source` (a file).
Status DecodePosition(const std::string& bytes, const std::string& source, InputPosition* pos);

// Splits the union of `old` (one per worker of the interrupted run; every one must name the
// same files and sizes) into `new_workers` shares.
Status ResplitRemaining(const std::vector<RemainingInput>& old, int new_workers, std::vector<RemainingInput>* out);

}  // namespace embark
