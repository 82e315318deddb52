// Input splits: which training files exist, which bytes of them each worker owns, and a fast
// line reader over a worker's share.
//
// Sharding rule. The files (in sorted order) are treated as one long byte stream of T bytes,
// cut into W contiguous ranges [T*w/W, T*(w+1)/W); a worker's range may span several files and
// becomes one FileRange per file it touches. A LINE BELONGS TO THE RANGE THAT CONTAINS ITS FIRST
// BYTE. So a reader of [begin, end) with begin > 0 skips to the first line start at or after
// `begin` (if byte begin-1 is not '\n' it skips through the next '\n'), then reads every line
// whose first byte is < end, finishing the last one past `end` if needed. Because the ranges
// partition the bytes, every line is read by exactly one worker, whatever the line lengths.
// Files without a trailing newline end with a line that stops at EOF; empty files own no
// bytes and so yield no lines; "\r\n" endings are stripped to the bare line.
//
// Line numbers. LineSource reports TRUE 1-based line numbers. For a range with begin > 0 the
// newlines in the skipped prefix are counted lazily (memchr over the prefix, once per range)
// only when LineNumber() is called, i.e. when an error is about to be reported, so the normal
// read path never pays for it.
//
// Thread-safety: the free functions keep no state and may be called from any thread. A
// LineSource is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace embark {

// Bytes [begin, end) of one file; see the ownership rule above.
struct FileRange {
  std::string path;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Expands `spec` -- a comma-separated list of files, glob patterns (glob(3); any of "*?[")
// and directories (their regular, non-hidden files, non-recursive) -- into a sorted,
// deduplicated list of files. A path that does not exist, a pattern that matches nothing, a
// directory without files, or an empty overall result is an error naming the path.
Status ExpandInputs(const std::string& spec, std::vector<std::string>* files);

// Looks up the size of each file (stat(2)). A file that vanished is an error naming it.
Status StatFiles(const std::vector<std::string>& files,
                 std::vector<std::pair<std::string, uint64_t>>* files_with_sizes);

// The ranges worker `worker_index` (0-based, < num_workers) owns, in file order. Files or
// parts of files with zero bytes in the range are left out, so the result may be empty.
std::vector<FileRange> SplitForWorker(
    const std::vector<std::pair<std::string, uint64_t>>& files_with_sizes, int num_workers,
    int worker_index);

// Reads the lines of a list of FileRanges in order, following the ownership rule, with large
// read(2) calls into one reusable buffer (grown only for lines longer than it).
class LineSource {
 public:
  explicit LineSource(std::vector<FileRange> ranges, size_t buffer_bytes = size_t{1} << 20);
  ~LineSource();
  LineSource(const LineSource&) = delete;
  LineSource& operator=(const LineSource&) = delete;

  // Advances to the next line and points *line at it, without the '\n' or a trailing '\r'.
  // The view stays valid until the next call. Sets *has_line = false after the last line of
  // the last range. A file that cannot be opened or read is an IoError naming it.
  Status Next(std::string_view* line, bool* has_line);

  // About the line returned by the last successful Next() (not valid after the end):
  const std::string& path() const { return ranges_[range_index_].path; }
  size_t range_index() const { return range_index_; }  // index into the ranges given
  bool IsFirstLineOfFile() const { return range_begin_ == 0 && lines_in_range_ == 1; }
  // True 1-based line number in its file. May read the file's prefix once per range.
  uint64_t LineNumber();
  // Byte offset in its file where the last returned line starts.
  uint64_t line_offset() const { return line_offset_; }

  // What is not read yet, in reading order: the rest of the current range from the next
  // unread line on (a line start, so the ownership rule still holds), then the ranges not
  // opened yet. Valid between calls to Next().
  std::vector<FileRange> Remaining() const;

 private:
  Status OpenRange();
  void CloseRange();
  // Reads more bytes after tail_, first moving the unconsumed bytes to the front (or growing
  // the buffer when they fill it). Sets eof_ at end of file.
  Status Refill();
  // Moves head_ past the next '\n' (discarding bytes); false if the file ends first.
  Status SkipPastNewline(bool* found);

  std::vector<FileRange> ranges_;
  size_t range_index_ = 0;
  bool range_open_ = false;
  int fd_ = -1;
  uint64_t range_begin_ = 0;
  uint64_t range_end_ = 0;

  std::unique_ptr<char[]> buf_;
  size_t capacity_;
  size_t head_ = 0;        // start of the next unread line in buf_
  size_t tail_ = 0;        // bytes of valid data in buf_
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  bool eof_ = false;

  uint64_t line_offset_ = 0;           // file offset of the last returned line
  uint64_t lines_in_range_ = 0;        // lines returned from the current range
  uint64_t first_line_offset_ = 0;     // file offset of the range's first owned line
  int64_t prefix_newlines_ = -1;       // newlines before first_line_offset_; -1 = not counted
};

// Reads single lines of one file by the byte offset where they start (the lines a checkpoint
// recorded as read but not trained). Offsets given in ascending order are served from one
// sliding window, so many nearby lines cost few reads.
class OffsetLineReader {
 public:
  explicit OffsetLineReader(std::string path);
  ~OffsetLineReader();
  OffsetLineReader(const OffsetLineReader&) = delete;
  OffsetLineReader& operator=(const OffsetLineReader&) = delete;

  // *line = the line starting at `offset`, without '\n' or a trailing '\r'; valid until the next
  // call. An offset at or past the end of the file is an error naming the file.
  Status LineAt(uint64_t offset, std::string_view* line);
  // True 1-based line number of the line starting at `offset` (reads the prefix; for errors).
  uint64_t LineNumberAt(uint64_t offset);
  const std::string& path() const { return path_; }

 private:
  Status Load(uint64_t offset, size_t bytes);

  const std::string path_;
  int fd_ = -1;
  std::string window_;        // bytes [window_begin_, window_begin_ + window_.size()) of the file
  uint64_t window_begin_ = 0;
  bool window_reaches_eof_ = false;
};

}  // namespace embark
