// RunServe: the `embark serve` command -- loads a bundle, serves it over HTTP until SIGINT or
// SIGTERM, then stops cleanly. Prints one line "serving <model> bundle <id> on http://HOST:PORT"
// on stdout once requests are accepted (scripts using --port=0 read the port from it).
//
// Thread-safety: call once from main().
#pragma once

#include <cstdint>
#include <string>

#include "serving/serve_app.h"
#include "serving/serving_model.h"

namespace embark {

struct ServeCommand {
  std::string bundle;
  ServeOptions serve;
  ServingOptions serving;
  uint64_t seed = 1;  // the training job's --seed (rows of keys the bundle lacks)
};

// Returns the process exit code: 0 after a signal, 1 for bad options or an unloadable bundle.
int RunServe(const ServeCommand& command);

}  // namespace embark
