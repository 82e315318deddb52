// ModelSlot: the model version currently served, replaceable while requests are running.
//
// Hot swap works by reference counting, not by waiting: a request calls Get() once and keeps
// the returned shared_ptr for its whole life, so a Set() in the middle of it changes what the
// NEXT request sees while this one finishes on the version it started with. The old version
// is freed (its bundle unmapped) when its last request drops it. A new version is installed
// only after it is completely loaded and indexed, so no request ever sees a partial model and
// none is refused during a reload.
//
// Thread-safety: Get and Set may be called from any threads concurrently. The lock covers only
// the copy of one shared_ptr; the old version is destroyed outside it.
#pragma once

#include <memory>
#include <mutex>

#include "serving/serving_model.h"

namespace embark {

class ModelSlot {
 public:
  ModelSlot() = default;
  ModelSlot(const ModelSlot&) = delete;
  ModelSlot& operator=(const ModelSlot&) = delete;

  std::shared_ptr<const ServingModel> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  // Installs `next`; the previous version lives on in the requests still holding it.
  void Set(std::shared_ptr<const ServingModel> next) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_.swap(next);
    }
    next.reset();  // drop our reference to the old version outside the lock
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const ServingModel> current_;
};

}  // namespace embark
