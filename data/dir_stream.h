// DirStream: the stream of a directory that grows with files (dir://PATH), e.g. hourly parts
// written by a log shipper, consumed in name order.
//
// Completion markers (so a part is never read while it is still being written):
//  * a data file NAME is read once NAME.done exists beside it, or once the directory holds
//    _SUCCESS;
//  * _SUCCESS also says the directory is complete: when every ready file of this worker is
//    read, the stream is finished.
// Names starting with '.' or '_' and names ending in .done or .tmp are never data.
//
// Share: the data files in name order get indexes 0, 1, 2, ...; worker w of W reads the files
// whose index % W == w. Indexes must not move, so a data file appearing with a name that sorts
// before one already seen is an error, as is a file that shrinks, is replaced (another inode)
// or grows after its marker: each names the file.
//
// Positions: file name -> byte offset of the next unread line (the file's size once read).
//
// Thread-safety: as StreamSource (one thread).
#pragma once

#include <sys/types.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "data/stream_source.h"

namespace embark {

class DirStream : public StreamSource {
 public:
  DirStream(std::string spec, std::string dir, StreamOptions options);
  Status Open() override;
  Status Next(StreamEvent* event, int timeout_ms, bool* got, bool* finished) override;
  StreamPositions Positions() const override;
  int64_t Lag() override;
  const std::string& spec() const override { return spec_; }

 private:
  struct FileState {
    dev_t dev = 0;
    ino_t ino = 0;
    uint64_t size = 0;      // when last listed
    bool ready = false;     // its marker was seen
    bool mine = false;
    uint64_t position = 0;  // next unread byte (mine only)
    int64_t mtime_ms = 0;
  };
  // Lists the directory again and checks every known file (see the header).
  Status Scan();
  // Opens the next ready file of this worker not read to its end; false if none.
  Status OpenNext(bool* opened);

  const std::string spec_;
  const std::string dir_;
  const StreamOptions options_;
  std::map<std::string, FileState> files_;  // data files seen, by name
  std::vector<std::string> order_;          // data file names in index order
  bool success_ = false;                    // _SUCCESS seen
  // The file being read.
  std::string current_;
  std::ifstream in_;
  uint64_t line_number_ = 0;
};

}  // namespace embark
