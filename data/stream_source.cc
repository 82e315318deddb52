#include "data/stream_source.h"

#include "data/dir_stream.h"
#include "data/kafka_stream.h"

namespace embark {

std::string StreamEvent::Where(const std::string& spec) const {
  if (spec.rfind("dir://", 0) == 0) return spec + "/" + key + ":" + std::to_string(line_number);
  return spec + " partition " + key + " offset " + std::to_string(offset);
}

bool IsStreamSpec(const std::string& spec) {
  return spec.rfind("dir://", 0) == 0 || spec.rfind("kafka://", 0) == 0;
}

Status MakeStreamSource(const std::string& spec, const StreamOptions& options,
                        std::unique_ptr<StreamSource>* out) {
  if (options.num_workers < 1 || options.worker_index < 0 || options.worker_index >= options.num_workers) {
    return Status::InvalidArgument(spec + ": worker index " + std::to_string(options.worker_index) +
                                   " is not in [0, " + std::to_string(options.num_workers) + ")");
  }
  if (spec.rfind("dir://", 0) == 0) {
    std::string dir = spec.substr(6);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (dir.empty()) return Status::InvalidArgument(spec + ": dir:// needs a directory, e.g. dir://data/parts");
    out->reset(new DirStream(spec, dir, options));
    return Status::OK();
  }
  if (spec.rfind("kafka://", 0) == 0) {
    KafkaAddress address;
    EMBARK_RETURN_IF_ERROR(ParseKafkaSpec(spec, &address));
    out->reset(new KafkaStream(spec, address, options));
    return Status::OK();
  }
  return Status::InvalidArgument("'" + spec + "' is not a stream (expected dir://PATH or kafka://HOST:PORT/TOPIC)");
}

}  // namespace embark
