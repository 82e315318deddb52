#include "data/stream_position.h"

namespace embark {

std::string StreamIdentity(const std::string& spec) {
  if (spec.rfind("kafka://", 0) == 0) {
    const size_t slash = spec.find('/', 8);
    return "kafka " + (slash == std::string::npos ? spec.substr(8) : spec.substr(slash + 1));
  }
  if (spec.rfind("dir://", 0) == 0) {
    std::string dir = spec.substr(6);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return "dir " + dir;
  }
  return spec;
}

Status MergeStreamCuts(const std::vector<StreamCut>& cuts, const std::string& spec, const std::string& source,
                       StreamCut* merged) {
  *merged = StreamCut();
  merged->stream = StreamIdentity(spec);
  for (const StreamCut& c : cuts) {
    if (c.stream != merged->stream) {
      return Status::InvalidArgument(source + ": the checkpoint holds positions of '" + c.stream + "', not of --train=" + spec +
                                     " ('" + merged->stream + "'); resume with the stream it was taken on");
    }
    for (const auto& [key, offset] : c.next) {
      auto [it, fresh] = merged->next.emplace(key, offset);
      if (!fresh && it->second != offset) {
        return Status::Corruption(source + ": two workers' positions name '" + key + "' (at " + std::to_string(it->second) +
                                  " and " + std::to_string(offset) + "); a partition or part has one reader at a time");
      }
    }
    for (const auto& [index, bytes] : c.trained_logs) merged->trained_logs[index] = bytes;
  }
  return Status::OK();
}

std::vector<StreamResume> AssignStreamResume(const StreamCut& merged, int new_workers) {
  std::vector<StreamResume> out(new_workers < 1 ? 0 : new_workers);
  for (StreamResume& r : out) r.start = merged.next;
  for (const auto& [index, bytes] : merged.trained_logs) {
    if (index >= 0 && !out.empty()) out[index % new_workers].truncate[index] = bytes;
  }
  return out;
}

}  // namespace embark
