// DataReader: one worker's stream of training Batches, epoch after epoch.
//
// Open() expands the input spec (see input_split.h), sizes the files and computes this
// worker's byte ranges; every epoch re-reads exactly those ranges, so over W workers each line
// is read once per epoch. StartEpoch() launches a background thread that reads lines, parses
// them (line_parser.h), optionally passes them through a ShuffleBuffer seeded by
// (seed, epoch, worker_index) -- so a run is reproducible -- and fills Batches of batch_size
// examples (the last one of an epoch may be smaller) into a bounded queue of `prefetch`
// batches. Next() hands them out in order.
//
// Bad lines: with BadLinePolicy::kFail the first bad line ends the epoch and Next() returns
// "PATH:LINE: reason: <start of line>" (after the batches queued before it; field_out_of_range
// adds which field, "reason (field 11 but the model has num_fields 10 ...)"). With kSkip the
// line is dropped and counted per reason (lines a csv schema's policy skips -- cancellations,
// missing values -- are counted the same way under both policies); bad_line_counts() gives
// the counts of the current epoch once Next() has reported its end. Missing or unreadable files are always errors. An
// empty input file is an error in kFail mode (from Open(), naming the file); in kSkip mode it
// is counted as empty_file once per epoch by worker 0 only, so counts summed over workers
// count each problem once.
//
// Never hangs: the reader thread checks a stop flag on every line and while waiting for queue
// space; StartEpoch() and the destructor stop and join it, even mid-epoch. Next() waits for
// at most options.next_timeout_ms when set (Status::Timeout), in case a file system stalls.
//
// Positions (checkpoints): every example carries Batch::origins (where its line starts).
// Snapshot() pauses the reader thread at a line boundary and returns what of the epoch is not
// yet handed out -- the unread byte ranges and the lines held by the shuffle buffer, the batch
// being filled and the queued batches (input_position.h) -- then lets it continue.
// StartEpoch(epoch, &remaining) reads such a remainder instead of this worker's ranges: its
// pending lines first (by offset), then its ranges, through a shuffle buffer seeded for the
// resumed epoch.
//
// Streams: when `files` is dir://PATH or kafka://HOST:PORT/TOPIC (data/stream_source.h) the
// epoch is the stream itself, read in event order (no shuffle buffer): it ends when the stream
// is complete (dir:// with _SUCCESS), after options.max_events events of this worker or
// options.max_seconds seconds, whichever comes first. A batch that is not full is handed out
// after stream_flush_ms without a new event, so a slow stream still trains. Bad events name
// "dir://D/FILE:LINE" or "kafka://BROKERS/TOPIC partition P offset O". Snapshot() and resuming
// an epoch are for files only (an error for a stream). A stream's positions travel with its
// batches instead: stream_open_positions() is where the share starts, and each batch carries
// in Batch::stream_after the partitions or parts it moved and where they stand after it, so
// applying the batches' entries in order gives the share's position after any batch.
// options.stream_start (a checkpoint's positions) is where the share starts.
//
// Thread-safety: Open/StartEpoch/Next/Snapshot/destruction are called from one consumer thread;
// bad_line_counts() and examples_read() may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "data/batch.h"
#include "data/input_position.h"
#include "data/input_split.h"
#include "data/line_parser.h"
#include "data/stream_source.h"

namespace embark {

class ShuffleBuffer;

enum class BadLinePolicy { kFail, kSkip };
// "fail" / "skip" -> BadLinePolicy.
Status ParseBadLinePolicy(std::string_view name, BadLinePolicy* policy);

struct DataReaderOptions {
  DataFormat format = DataFormat::kLibsvm;
  std::string files;           // comma-separated files, globs, directories
  int num_workers = 1;
  int worker_index = 0;        // 0 .. num_workers-1
  size_t batch_size = 256;     // examples per batch
  size_t shuffle_buffer = 0;   // examples held for shuffling; 0 = file order
  uint64_t seed = 0;
  BadLinePolicy bad_lines = BadLinePolicy::kFail;
  size_t prefetch = 4;         // batches queued ahead of the consumer (at least 1)
  ParserOptions parser;
  size_t read_buffer_bytes = size_t{1} << 20;
  int next_timeout_ms = 0;     // Next() gives up after this long; 0 = wait as long as needed
  // Streams only (see above).
  uint64_t max_events = 0;        // this worker's events per epoch; 0 = no limit
  double max_seconds = 0;         // seconds of reading; 0 = no limit
  double startup_timeout_s = 60;  // kafka://: longest wait for a broker at Open()
  int stream_flush_ms = 200;
  StreamPositions stream_start;   // per partition or part: where to start (empty: the beginning)
  bool event_ids = false;         // fill Batch::event_keys / event_numbers (--trained_log)
  // Files only: a held-out slice of the lines, for validation. A line is held out when
  // HashBytes(line, holdout_seed) (core/hash.h) falls below holdout_fraction of 2^64: the
  // same lines whatever the epoch, the number of workers or the machine. kSkip reads
  // the other lines (training), kOnly only the held-out ones (validation).
  enum class Holdout { kAll, kSkip, kOnly };
  Holdout holdout = Holdout::kAll;
  double holdout_fraction = 0;
  uint64_t holdout_seed = 0;
};

// Whether `line` is in the held-out slice of DataReaderOptions::holdout_fraction.
bool IsHeldOut(std::string_view line, double fraction, uint64_t seed);

class DataReader {
 public:
  explicit DataReader(DataReaderOptions options);
  ~DataReader();  // stops and joins the reader thread
  DataReader(const DataReader&) = delete;
  DataReader& operator=(const DataReader&) = delete;

  // Validates options, expands and sizes the input files, computes this worker's ranges.
  Status Open();

  // Stops any epoch in progress (discarding its queued batches) and starts reading `epoch`:
  // this worker's ranges, or `resume` (the remainder of an interrupted epoch; its files and
  // sizes must be this reader's, else an error names the file that changed).
  // `file_order`: this epoch skips the shuffle buffer (a caller that shuffles the whole epoch
  // itself, such as the trainer's epoch cache).
  Status StartEpoch(int epoch, const RemainingInput* resume = nullptr, bool file_order = false);
  // Bytes of this worker's share of the files (after Open).
  uint64_t share_bytes() const;

  // The part of the current epoch not handed out by Next() yet (see above). Waits at most
  // `timeout_ms` for the reader thread to pause.
  Status Snapshot(RemainingInput* out, int timeout_ms = 60000);

  // Replaces *out with the next batch (its previous buffers are recycled) and sets
  // *end_of_epoch = false; at the end of the epoch clears *out and sets *end_of_epoch = true
  // (again on every later call). A bad line (fail mode) or an I/O error is returned once the
  // batches queued before it have been handed out, and again on every later call.
  Status Next(Batch* out, bool* end_of_epoch);

  // Bad lines skipped in the current epoch; complete once Next() reported its end.
  BadLineCounts bad_line_counts() const;
  // Examples handed out by Next() in the current epoch.
  uint64_t examples_read() const { return examples_read_.load(std::memory_order_relaxed); }
  // Lines that parsed but were left out by the hold-out (kSkip: held out; kOnly: the others),
  // over every epoch so far.
  uint64_t lines_left_out() const { return lines_left_out_.load(std::memory_order_relaxed); }

  const std::vector<std::string>& files() const { return files_; }
  const std::vector<FileRange>& ranges() const { return ranges_; }
  const DataReaderOptions& options() const { return options_; }
  // Streams: events (kafka://) or bytes (dir://) known but not read yet, as last measured by
  // the reader thread (about once a second); -1 if unknown. Any thread.
  int64_t stream_lag() const { return stream_lag_.load(std::memory_order_relaxed); }
  // Streams: seconds from the newest event read (its Kafka timestamp, or its part's mtime)
  // to now; -1 if unknown. Any thread.
  double event_lag_seconds() const;
  // Streams: the positions of this worker's share right after Open() -- where it starts, before
  // any batch is trained.
  const StreamPositions& stream_open_positions() const { return stream_open_positions_; }

 private:
  using ReasonCounts = std::array<uint64_t, kNumBadLineReasons>;

  void StopThread();
  void Run(uint64_t shuffle_seed);
  // Reader thread: if Snapshot() asked, publishes the state and waits until released. False
  // if the reader was stopped meanwhile. `source` is null while pending lines are read.
  bool MaybePause(const LineSource* source, size_t next_pending, const ShuffleBuffer& shuffler,
                  const Batch& current);
  RemainingInput Describe(const std::vector<FileRange>& ranges, size_t next_pending) const;
  Status ReadRanges(uint64_t shuffle_seed, ReasonCounts* counts);
  // The stream's share of this worker (stream_ set), until it ends or a limit is reached.
  // `take` parses one line (see ReadRanges).
  template <class Take>
  Status ReadStream(LineParser* parser, Batch* current, Take&& take);
  std::unique_ptr<StreamSource> stream_;  // set by Open() for a stream spec
  StreamPositions stream_open_positions_;
  // Reader thread only: the partitions or parts read since the last batch was queued, and
  // where each stands; Push() moves them into the batch (Batch::stream_after).
  StreamPositions stream_touched_;
  std::atomic<int64_t> stream_lag_{-1};
  std::atomic<int64_t> newest_event_ms_{-1};
  bool epoch_file_order_ = false;  // set by StartEpoch, read by the reader thread it starts
  // Queues *batch for the consumer and replaces it with a recycled empty batch. False if the
  // reader was asked to stop while waiting for space.
  bool Push(Batch* batch);

  const DataReaderOptions options_;
  bool opened_ = false;
  bool epoch_started_ = false;
  std::vector<std::string> files_;
  std::vector<FileRange> ranges_;
  uint64_t empty_files_ = 0;
  std::vector<uint64_t> sizes_;         // per file
  std::vector<uint64_t> file_starts_;   // per file: offset of its first byte in the file stream
  // The current epoch's input: this worker's ranges, or a resumed remainder.
  std::vector<FileRange> epoch_ranges_;
  std::vector<uint32_t> epoch_range_file_;  // per epoch range: index into files_
  std::vector<uint64_t> epoch_pending_;     // resumed lines to read first, ascending

  std::atomic<bool> pause_flag_{false};  // read per line by the reader thread

  std::thread thread_;
  std::atomic<bool> stop_flag_{false};  // read per line by the reader thread
  std::atomic<uint64_t> examples_read_{0};
  std::atomic<uint64_t> lines_left_out_{0};

  mutable std::mutex mu_;
  std::condition_variable not_empty_;  // signalled when a batch is queued or the reader ends
  std::condition_variable not_full_;   // signalled when the consumer takes a batch or on stop
  std::deque<Batch> ready_;            // guarded by mu_
  std::vector<Batch> free_;            // recycled batches; guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  bool producer_done_ = false;         // guarded by mu_
  Status producer_status_;             // guarded by mu_
  ReasonCounts counts_{};              // guarded by mu_
  bool pause_requested_ = false;       // guarded by mu_
  bool paused_ = false;                // guarded by mu_
  RemainingInput paused_state_;        // guarded by mu_; valid while paused_
};

// Reads this worker's whole share (options.worker_index of options.num_workers) once -- e.g. a
// test set -- into batches of options.batch_size. `counts` may be null.
Status ReadAll(const DataReaderOptions& options, std::vector<Batch>* batches,
               BadLineCounts* counts = nullptr);

}  // namespace embark
