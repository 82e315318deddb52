#include "data/data_reader.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <utility>

#include "core/hash.h"
#include "data/csv_schema.h"
#include "data/shuffle_buffer.h"

namespace embark {
namespace {

// The start of a bad line for error messages: long lines are cut, so one bad line with a
// million features does not flood the log.
std::string Excerpt(std::string_view line) {
  constexpr size_t kMax = 80;
  if (line.size() <= kMax) return std::string(line);
  return std::string(line.substr(0, kMax)) + "...";
}

}  // namespace

Status ParseBadLinePolicy(std::string_view name, BadLinePolicy* policy) {
  if (name == "fail") {
    *policy = BadLinePolicy::kFail;
  } else if (name == "skip") {
    *policy = BadLinePolicy::kSkip;
  } else {
    return Status::InvalidArgument("unknown bad_lines policy '" + std::string(name) +
                                   "' (expected fail or skip)");
  }
  return Status::OK();
}

DataReader::DataReader(DataReaderOptions options) : options_(std::move(options)) {}

DataReader::~DataReader() { StopThread(); }

bool IsHeldOut(std::string_view line, double fraction, uint64_t seed) {
  if (fraction <= 0) return false;
  if (fraction >= 1) return true;
  // The top 53 bits as a double in [0, 1): exact, and uniform for a well-mixed hash.
  return static_cast<double>(HashBytes(line, seed) >> 11) * 0x1p-53 < fraction;
}

Status DataReader::Open() {
  if (options_.num_workers < 1 || options_.worker_index < 0 ||
      options_.worker_index >= options_.num_workers) {
    return Status::InvalidArgument("worker index " + std::to_string(options_.worker_index) +
                                   " is not in [0, " + std::to_string(options_.num_workers) +
                                   ")");
  }
  if (options_.batch_size == 0) return Status::InvalidArgument("batch_size must be positive");
  if (options_.format == DataFormat::kCsv && options_.parser.csv_schema == nullptr) {
    return Status::InvalidArgument("format csv needs a schema (--schema=FILE)");
  }
  if (options_.format == DataFormat::kCsv && !options_.parser.csv_schema->has_label()) {
    return Status::InvalidArgument(options_.parser.csv_schema->source() +
                                   ": no label to train on (add a 'column NAME label' or 'label constant 1')");
  }
  if (options_.holdout != DataReaderOptions::Holdout::kAll) {
    if (!(options_.holdout_fraction > 0 && options_.holdout_fraction < 1))
      return Status::InvalidArgument("the held-out fraction must be in (0, 1), not " + std::to_string(options_.holdout_fraction));
    if (IsStreamSpec(options_.files)) return Status::InvalidArgument("a stream cannot hold lines out: " + options_.files);
  }
  if (IsStreamSpec(options_.files)) {
    StreamOptions so;
    so.worker_index = options_.worker_index;
    so.num_workers = options_.num_workers;
    so.startup_timeout_s = options_.startup_timeout_s;
    so.start = options_.stream_start;
    EMBARK_RETURN_IF_ERROR(MakeStreamSource(options_.files, so, &stream_));
    EMBARK_RETURN_IF_ERROR(stream_->Open());
    stream_open_positions_ = stream_->Positions();
    opened_ = true;
    return Status::OK();
  }
  EMBARK_RETURN_IF_ERROR(ExpandInputs(options_.files, &files_));
  std::vector<std::pair<std::string, uint64_t>> sizes;
  EMBARK_RETURN_IF_ERROR(StatFiles(files_, &sizes));
  empty_files_ = 0;
  uint64_t total = 0;
  for (const auto& [path, size] : sizes) {
    total += size;
    if (size != 0) continue;
    if (options_.bad_lines == BadLinePolicy::kFail) {
      return Status::InvalidArgument(path + ": " + BadLineReasonName(BadLineReason::kEmptyFile) +
                                     ": the file has no data");
    }
    ++empty_files_;
  }
  if (total == 0) {
    return Status::InvalidArgument("'" + options_.files + "': every input file is empty");
  }
  ranges_ = SplitForWorker(sizes, options_.num_workers, options_.worker_index);
  sizes_.clear();
  file_starts_.clear();
  uint64_t at = 0;
  for (const auto& [path, size] : sizes) {
    sizes_.push_back(size);
    file_starts_.push_back(at);
    at += size;
  }
  opened_ = true;
  return Status::OK();
}

void DataReader::StopThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_flag_.store(true, std::memory_order_relaxed);
  not_full_.notify_all();
  not_empty_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t DataReader::share_bytes() const {
  uint64_t bytes = 0;
  for (const FileRange& r : ranges_) bytes += r.end - r.begin;
  return bytes;
}

Status DataReader::StartEpoch(int epoch, const RemainingInput* resume, bool file_order) {
  if (!opened_) return Status::InvalidArgument("DataReader::StartEpoch called before Open");
  StopThread();
  epoch_file_order_ = file_order;
  if (stream_ != nullptr && resume != nullptr) {
    return Status::InvalidArgument(options_.files + ": a stream cannot resume a file position");
  }
  if (resume != nullptr) {
    if (resume->files != files_) {
      return Status::InvalidArgument("the checkpoint's training files (" + std::to_string(resume->files.size()) +
                                     ") are not --train's (" + std::to_string(files_.size()) + "): resume with the same --train");
    }
    for (size_t f = 0; f < files_.size(); ++f) {
      if (resume->sizes[f] != sizes_[f]) {
        return Status::InvalidArgument(files_[f] + " has " + std::to_string(sizes_[f]) + " bytes but had " +
                                       std::to_string(resume->sizes[f]) + " at the checkpoint: the input changed");
      }
    }
    epoch_ranges_ = resume->FileRanges();
    epoch_range_file_.clear();
    for (const auto& r : resume->ranges) epoch_range_file_.push_back(r.file);
    epoch_pending_ = resume->pending;
  } else {
    epoch_ranges_ = ranges_;
    epoch_range_file_.clear();
    for (const FileRange& r : ranges_) {
      epoch_range_file_.push_back(static_cast<uint32_t>(
          std::lower_bound(files_.begin(), files_.end(), r.path) - files_.begin()));
    }
    epoch_pending_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!ready_.empty()) {
      free_.push_back(std::move(ready_.front()));
      ready_.pop_front();
    }
    stop_ = false;
    producer_done_ = false;
    producer_status_ = Status::OK();
    counts_.fill(0);
    pause_requested_ = false;
    paused_ = false;
  }
  pause_flag_.store(false, std::memory_order_relaxed);
  stop_flag_.store(false, std::memory_order_relaxed);
  examples_read_.store(0, std::memory_order_relaxed);
  epoch_started_ = true;
  // Deterministic per (seed, epoch, worker): reruns shuffle identically, workers differ. A
  // resumed epoch gets a seed of its own (its input is a different set of lines).
  uint64_t shuffle_seed =
      HashCombine(HashCombine(options_.seed, static_cast<uint64_t>(epoch)),
                  static_cast<uint64_t>(options_.worker_index));
  if (resume != nullptr) shuffle_seed = HashCombine(shuffle_seed, 0x726573756d6564ULL);
  thread_ = std::thread(&DataReader::Run, this, shuffle_seed);
  return Status::OK();
}

RemainingInput DataReader::Describe(const std::vector<FileRange>& ranges, size_t next_pending) const {
  RemainingInput r;
  r.files = files_;
  r.sizes = sizes_;
  for (const FileRange& fr : ranges) {
    const uint32_t f = static_cast<uint32_t>(std::lower_bound(files_.begin(), files_.end(), fr.path) - files_.begin());
    if (fr.begin < fr.end) r.ranges.push_back({f, fr.begin, fr.end});
  }
  r.pending.assign(epoch_pending_.begin() + static_cast<std::ptrdiff_t>(next_pending), epoch_pending_.end());
  return r;
}

bool DataReader::MaybePause(const LineSource* source, size_t next_pending, const ShuffleBuffer& shuffler,
                            const Batch& current) {
  if (!pause_flag_.load(std::memory_order_relaxed)) return true;
  RemainingInput state = Describe(source != nullptr ? source->Remaining() : epoch_ranges_, next_pending);
  shuffler.HeldOrigins(&state.pending);
  state.pending.insert(state.pending.end(), current.origins.begin(), current.origins.end());
  std::unique_lock<std::mutex> lock(mu_);
  paused_state_ = std::move(state);
  paused_ = true;
  not_empty_.notify_all();
  not_full_.wait(lock, [&] { return stop_ || !pause_requested_; });
  paused_ = false;
  return !stop_;
}

Status DataReader::Snapshot(RemainingInput* out, int timeout_ms) {
  if (!epoch_started_) return Status::InvalidArgument("DataReader::Snapshot called before StartEpoch");
  if (stream_ != nullptr) return Status::InvalidArgument(options_.files + ": mid-epoch positions are for files, not streams");
  std::unique_lock<std::mutex> lock(mu_);
  pause_requested_ = true;
  pause_flag_.store(true, std::memory_order_relaxed);
  not_full_.notify_all();
  const bool ok = not_empty_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return paused_ || producer_done_; });
  if (ok) {
    if (paused_) {
      *out = paused_state_;
    } else {
      *out = Describe({}, epoch_pending_.size());
    }
    for (const Batch& b : ready_) out->pending.insert(out->pending.end(), b.origins.begin(), b.origins.end());
    std::sort(out->pending.begin(), out->pending.end());
  }
  pause_requested_ = false;
  pause_flag_.store(false, std::memory_order_relaxed);
  lock.unlock();
  not_full_.notify_all();
  if (!ok) return Status::Timeout("the data reader did not pause within " + std::to_string(timeout_ms) + " ms for a checkpoint");
  return Status::OK();
}

void DataReader::Run(uint64_t shuffle_seed) {
  ReasonCounts counts{};
  if (options_.worker_index == 0) {
    counts[static_cast<int>(BadLineReason::kEmptyFile)] = empty_files_;
  }
  Status status = ReadRanges(shuffle_seed, &counts);
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_ = counts;
    producer_status_ = std::move(status);
    producer_done_ = true;
  }
  not_empty_.notify_all();
}

bool DataReader::Push(Batch* batch) {
  const size_t depth = options_.prefetch == 0 ? 1 : options_.prefetch;
  std::unique_lock<std::mutex> lock(mu_);
  // A pending Snapshot() lets the batch in beyond the depth, so the reader reaches its pause.
  not_full_.wait(lock, [&] { return stop_ || ready_.size() < depth || pause_requested_; });
  if (stop_) return false;
  if (stream_ != nullptr) {
    batch->stream_after.swap(stream_touched_);
    stream_touched_.clear();
  }
  ready_.push_back(std::move(*batch));
  if (!free_.empty()) {
    *batch = std::move(free_.back());
    free_.pop_back();
  }
  batch->Clear();
  lock.unlock();
  not_empty_.notify_one();
  return true;
}

template <class Take>
Status DataReader::ReadStream(LineParser* parser, Batch* current, Take&& take) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const bool files = options_.files.rfind("dir://", 0) == 0;
  uint64_t events = 0;
  std::string last_key;
  parser->StartFile();
  stream_touched_.clear();
  auto lag_measured = Clock::now() - std::chrono::seconds(1);
  for (;;) {
    if (Clock::now() - lag_measured >= std::chrono::seconds(1)) {
      stream_lag_.store(stream_->Lag(), std::memory_order_relaxed);
      lag_measured = Clock::now();
    }
    if (stop_flag_.load(std::memory_order_relaxed)) return Status::Aborted("reader stopped");
    if (options_.max_events > 0 && events >= options_.max_events) break;
    int wait_ms = options_.stream_flush_ms;
    if (options_.max_seconds > 0) {
      const double left = options_.max_seconds - std::chrono::duration<double>(Clock::now() - start).count();
      if (left <= 0) break;
      wait_ms = static_cast<int>(std::min<double>(wait_ms, left * 1000 + 1));
    }
    StreamEvent event;
    bool got = false, finished = false;
    EMBARK_RETURN_IF_ERROR(stream_->Next(&event, wait_ms, &got, &finished));
    if (finished) break;
    if (!got) {
      // A quiet stream: train what has come so far instead of waiting for a full batch.
      if (!current->empty() && !Push(current)) return Status::Aborted("reader stopped");
      continue;
    }
    if (event.timestamp_ms > newest_event_ms_.load(std::memory_order_relaxed)) {
      newest_event_ms_.store(event.timestamp_ms, std::memory_order_relaxed);
    }
    // Per file of dir:// (separator detection, header line); a Kafka topic is one stream.
    if (files && event.key != last_key) {
      parser->StartFile();
      last_key = event.key;
    }
    // Before the line is taken: a batch it completes is pushed with this event counted.
    stream_touched_[event.key] = event.next;
    EMBARK_RETURN_IF_ERROR(take(event.line, files && event.line_number == 1, events,
                                [&] { return event.Where(stream_->spec()); }, &event));
    ++events;
  }
  stream_lag_.store(stream_->Lag(), std::memory_order_relaxed);
  if (!current->empty() && !Push(current)) return Status::Aborted("reader stopped");
  return Status::OK();
}

double DataReader::event_lag_seconds() const {
  const int64_t newest = newest_event_ms_.load(std::memory_order_relaxed);
  if (newest < 0) return -1;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  return static_cast<double>(now_ms - newest) / 1000.0;
}

Status DataReader::ReadRanges(uint64_t shuffle_seed, ReasonCounts* counts) {
  LineSource source(epoch_ranges_, options_.read_buffer_bytes);
  std::unique_ptr<LineParser> parser = LineParser::Create(options_.format, options_.parser);
  // A stream is trained in event order (progressive validation scores events as they come).
  const size_t capacity = epoch_file_order_ || stream_ != nullptr ? 0 : options_.shuffle_buffer;
  const bool shuffle = capacity > 0;
  ShuffleBuffer shuffler(capacity, shuffle_seed);
  Batch current;
  Batch one;  // with shuffling, each line is parsed here first, then offered to the shuffler

  // Parses one line into the stream; `where` names it for an error message (called only then).
  // `event`: the stream event the line is (null for files).
  auto take = [&](std::string_view line, bool first_line_of_file, uint64_t origin, auto&& where,
                  const StreamEvent* event) -> Status {
    BadLineReason reason = BadLineReason::kWrongFieldCount;
    Batch* target = shuffle ? &one : &current;
    LineParser::Outcome outcome = parser->Parse(line, first_line_of_file, target, &reason);
    if (outcome == LineParser::Outcome::kBad) {
      if (options_.bad_lines == BadLinePolicy::kFail) {
        const std::string detail =
            reason == BadLineReason::kFieldOutOfRange ? " (" + parser->detail() + ")" : "";
        return Status::Corruption(where() + ": " + BadLineReasonName(reason) + detail + ": " + Excerpt(line));
      }
      ++(*counts)[static_cast<int>(reason)];
      return Status::OK();
    }
    if (outcome == LineParser::Outcome::kBlank) return Status::OK();
    if (outcome == LineParser::Outcome::kSkipped) {  // a csv schema's policy, not an error
      ++(*counts)[static_cast<int>(reason)];
      return Status::OK();
    }
    // Judged after parsing, so a bad line fails or is counted whichever side it falls on.
    if (options_.holdout != DataReaderOptions::Holdout::kAll &&
        IsHeldOut(line, options_.holdout_fraction, options_.holdout_seed) != (options_.holdout == DataReaderOptions::Holdout::kOnly)) {
      target->DropLastExample();
      lines_left_out_.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    target->origins.push_back(origin);
    if (event != nullptr && options_.event_ids) {
      target->event_keys.push_back(event->key);
      target->event_numbers.push_back(event->line_number > 0 ? event->line_number : event->offset);
    }
    if (shuffle) {
      shuffler.Add(one, 0, &current);
      one.Clear();
    }
    if (current.size() >= options_.batch_size && !Push(&current)) return Status::Aborted("reader stopped");
    return Status::OK();
  };

  if (stream_ != nullptr) return ReadStream(parser.get(), &current, take);

  // A resumed epoch first reads the lines that were read but not trained before the cut.
  std::unique_ptr<OffsetLineReader> by_offset;
  size_t file = 0;
  for (size_t i = 0; i < epoch_pending_.size(); ++i) {
    if (stop_flag_.load(std::memory_order_relaxed)) return Status::Aborted("reader stopped");
    if (!MaybePause(nullptr, i, shuffler, current)) return Status::Aborted("reader stopped");
    const uint64_t origin = epoch_pending_[i];
    const size_t f = static_cast<size_t>(std::upper_bound(file_starts_.begin(), file_starts_.end(), origin) - file_starts_.begin()) - 1;
    if (!by_offset || f != file) {
      by_offset = std::make_unique<OffsetLineReader>(files_[f]);
      file = f;
      parser->StartFile();
    }
    const uint64_t offset = origin - file_starts_[f];
    std::string_view line;
    EMBARK_RETURN_IF_ERROR(by_offset->LineAt(offset, &line));
    EMBARK_RETURN_IF_ERROR(take(line, offset == 0, origin, [&] {
      return files_[f] + ":" + std::to_string(by_offset->LineNumberAt(offset));
    }, nullptr));
  }
  by_offset.reset();

  size_t range_of_last_line = static_cast<size_t>(-1);
  for (;;) {
    if (stop_flag_.load(std::memory_order_relaxed)) return Status::Aborted("reader stopped");
    if (!MaybePause(&source, epoch_pending_.size(), shuffler, current)) return Status::Aborted("reader stopped");
    std::string_view line;
    bool has_line = false;
    EMBARK_RETURN_IF_ERROR(source.Next(&line, &has_line));
    if (!has_line) break;
    if (source.range_index() != range_of_last_line) {
      range_of_last_line = source.range_index();
      parser->StartFile();
    }
    const uint64_t origin = file_starts_[epoch_range_file_[source.range_index()]] + source.line_offset();
    EMBARK_RETURN_IF_ERROR(take(line, source.IsFirstLineOfFile(), origin, [&] {
      return source.path() + ":" + std::to_string(source.LineNumber());
    }, nullptr));
  }
  for (;;) {
    if (!MaybePause(&source, epoch_pending_.size(), shuffler, current)) return Status::Aborted("reader stopped");
    if (!shuffler.PopRandom(&current)) break;
    if (current.size() >= options_.batch_size && !Push(&current)) {
      return Status::Aborted("reader stopped");
    }
  }
  if (!current.empty() && !Push(&current)) return Status::Aborted("reader stopped");
  return Status::OK();
}

Status DataReader::Next(Batch* out, bool* end_of_epoch) {
  if (!epoch_started_) return Status::InvalidArgument("DataReader::Next called before StartEpoch");
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return !ready_.empty() || producer_done_; };
  if (options_.next_timeout_ms > 0) {
    if (!not_empty_.wait_for(lock, std::chrono::milliseconds(options_.next_timeout_ms), ready)) {
      return Status::Timeout("no batch from the data reader within " +
                             std::to_string(options_.next_timeout_ms) + " ms");
    }
  } else {
    not_empty_.wait(lock, ready);
  }
  if (!ready_.empty()) {
    std::swap(*out, ready_.front());
    // Recycle the caller's old buffers (now at the front); keep a few so memory stays bounded.
    if (free_.size() <= options_.prefetch) free_.push_back(std::move(ready_.front()));
    ready_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    *end_of_epoch = false;
    examples_read_.fetch_add(out->size(), std::memory_order_relaxed);
    return Status::OK();
  }
  Status status = producer_status_;
  lock.unlock();
  out->Clear();
  *end_of_epoch = true;
  return status;
}

BadLineCounts DataReader::bad_line_counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  BadLineCounts out;
  for (int r = 0; r < kNumBadLineReasons; ++r) {
    if (counts_[r] != 0) out[static_cast<BadLineReason>(r)] = counts_[r];
  }
  return out;
}

Status ReadAll(const DataReaderOptions& options, std::vector<Batch>* batches,
               BadLineCounts* counts) {
  batches->clear();
  DataReader reader(options);
  EMBARK_RETURN_IF_ERROR(reader.Open());
  EMBARK_RETURN_IF_ERROR(reader.StartEpoch(0));
  for (;;) {
    Batch batch;
    bool end = false;
    EMBARK_RETURN_IF_ERROR(reader.Next(&batch, &end));
    if (end) break;
    batches->push_back(std::move(batch));
  }
  if (counts != nullptr) *counts = reader.bad_line_counts();
  return Status::OK();
}

}  // namespace embark
