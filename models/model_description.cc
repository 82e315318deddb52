#include "models/model_description.h"

namespace embark {

const char* ModelTaskName(ModelTask task) {
  switch (task) {
    case ModelTask::kRegression: return "regression";
    case ModelTask::kClassification: return "classification";
    case ModelTask::kRanking: return "ranking";
  }
  return "classification";
}

Status ParseModelTask(const std::string& name, ModelTask* out) {
  for (ModelTask t : {ModelTask::kRegression, ModelTask::kClassification, ModelTask::kRanking}) {
    if (name == ModelTaskName(t)) {
      *out = t;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("unknown model task '" + name + "' (known: regression, classification, ranking)");
}

const ModelAttribute* FindAttribute(const ModelDescription& d, const std::string& name) {
  for (const ModelAttribute& a : d.attributes)
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace embark
