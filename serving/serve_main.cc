#include "serving/serve_main.h"

#include <glog/logging.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "core/liveness.h"
#include "serving/bundle_source.h"
#include "serving/publish_dir_source.h"

namespace embark {
namespace {

std::atomic<int> g_signal{0};
void OnSignal(int sig) { g_signal.store(sig); }

}  // namespace

int RunServe(const ServeCommand& command) {
  if (command.bundle.empty()) {
    std::fprintf(stderr, "serve: --bundle=DIR is required\n");
    return kExitUsage;
  }
  // A directory without manifest.json is a live-publishing directory (--publish_dir of a
  // training job): its versions are applied in order (serving/publish_dir_source.h).
  std::unique_ptr<ModelSource> source;
  if (PublishDirSource::IsPublishDir(command.bundle)) {
    source = std::make_unique<PublishDirSource>(command.bundle, command.serving, command.seed);
  } else {
    source = std::make_unique<BundleSource>(command.bundle, command.serving, command.seed);
  }
  ServeApp app(command.serve, std::move(source));
  Status st = app.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "serve: %s\n", st.ToString().c_str());
    return kExitUsage;
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const ServingInfo& info = app.current()->info();
  std::printf("serving %s bundle %s on %s://%s:%d\n", info.model.c_str(), info.version.c_str(), app.scheme(),
              command.serve.bind.c_str(), app.port());
  if (info.recall_at_10 >= 0)
    std::printf("hnsw index: recall@10 %.4f against the exact scan over %zu users\n", info.recall_at_10,
                info.recall_queries);
  std::fflush(stdout);
  // The HTTP threads do the work; this thread only waits for a signal (polling, because a
  // signal handler may do nothing but set the flag).
  while (g_signal.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  LOG(INFO) << "serve: signal " << g_signal.load() << ", stopping";
  app.Stop();
  return 0;
}

}  // namespace embark
