#include "serving/publish_dir_source.h"

#include <dirent.h>
#include <glog/logging.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "serving/bundle_source.h"
#include "serving/json.h"
#include "serving/publish_dir.h"

namespace embark {

namespace {

// Version directories of `dir` with their kind, read from each manifest.json ("full" or not).
Status ListVersions(const std::string& dir, std::vector<PublishedVersion>* out) {
  out->clear();
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Status::NotFound("cannot list the publish directory " + dir);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  for (const std::string& name : names) {
    PublishedVersion v;
    if (!ParsePublishedVersionName(name, &v.sequence)) continue;
    const std::string path = dir + "/" + name + "/manifest.json";
    std::ifstream in(path);
    if (!in) return Status::Corruption("published version " + dir + "/" + name + " has no readable manifest.json");
    std::stringstream text;
    text << in.rdbuf();
    JsonValue m;
    EMBARK_RETURN_IF_ERROR(JsonValue::Parse(text.str(), path, &m));
    v.full = m["kind"].AsString() == "full";
    out->push_back(v);
  }
  return Status::OK();
}

}  // namespace

bool PublishDirSource::IsPublishDir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  return stat((dir + "/manifest.json").c_str(), &st) != 0;
}

Status PublishDirSource::Load(const std::shared_ptr<const ServingModel>& current,
                              std::shared_ptr<const ServingModel>* next) {
  std::vector<PublishedVersion> listed;
  EMBARK_RETURN_IF_ERROR(ListVersions(dir_, &listed));
  const uint64_t served = current ? served_ : 0;
  const PublishPlan plan = PlanPublishedVersions(dir_, listed, served);
  std::shared_ptr<const ServingModel> at = current;
  uint64_t at_sequence = served;
  Status problem = plan.problem;
  for (uint64_t sequence : plan.apply) {
    BundleSource version(dir_ + "/" + PublishedVersionName(sequence), options_, default_seed_);
    std::shared_ptr<const ServingModel> loaded;
    Status st = version.Load(at, &loaded);
    if (!st.ok()) {
      problem = Status::Corruption("refusing published version " + dir_ + "/" + PublishedVersionName(sequence) + ": " + st.message());
      break;
    }
    at = std::move(loaded);
    at_sequence = sequence;
  }
  if (at_sequence == served) {
    if (!problem.ok()) return problem;
    if (!at) return Status::NotFound(dir_ + " holds no published version yet");
    *next = at;  // nothing new: the same version again
    return Status::OK();
  }
  if (!problem.ok()) LOG(ERROR) << "serve: " << problem.message() << " (serving " << PublishedVersionName(at_sequence) << ")";
  served_ = at_sequence;
  *next = std::move(at);
  return Status::OK();
}

std::string PublishDirSource::Stamp() {
  std::vector<PublishedVersion> listed;
  if (!ListVersions(dir_, &listed).ok()) return "";
  uint64_t newest = 0;
  for (const PublishedVersion& v : listed) newest = std::max(newest, v.sequence);
  return newest == 0 ? "" : PublishedVersionName(newest) + ":" + std::to_string(listed.size());
}

}  // namespace embark
