// ServeApp: the HTTP/JSON front of a served model (`embark serve`), with hot swap.
//
// Endpoints (all answers are JSON; errors are {"error": "reason"} with a 4xx/5xx status):
//   GET  /health   {"status": "ok", "version": ...}
//   GET  /version  what is served: bundle id, model, source checkpoint, load time, top-K index
//                  and its measured recall, reload count and the last reload error
//   POST /score    body parsed by serving/requests.h -> {"scores": [...], "unknown_features": n,
//                  "version": ...}
//   POST /topk     {"user": "id", "k": 10, "exclude": [...]} -> {"items": [{"id", "key",
//                  "score"}, ...], "version": ...}; 404 for a user the model does not know
//   POST <path>    extra endpoints given in ServeOptions::endpoints (e.g. /deliver and
//                  /outcome of delivery/serve_endpoints.h), each handed the body and this
//                  request's model version
//   POST /reload   loads the model source again (a new full bundle, or a delta applied to the
//                  one served) and swaps it in; {"version": ...} or the reason it failed (the
//                  old version stays)
//   POST /rollback serves the version before the last swap again -> {"version": ...,
//                  "rolled_back_from": ...}; 409 when there is none (see Rollback)
// A body larger than max_body_kb is refused with 413 before it is read.
//
// The HTTP layer is cpp-httplib: a listening thread, and one small thread per connection up to
// max_connections (serving/connection_threads.h); a connection beyond it gets 503 naming the
// cap. Slow or idle clients hold only their own connection's thread: a read that waits longer
// than read_timeout_s and a keep-alive connection idle for idle_timeout_s are closed. The work
// itself (/score, /topk, /reload) runs in at most `threads` requests at once (ComputeSlots); a
// request that waits more than 10 s for one gets 503. /health and /version need no slot, so they
// answer while the server is saturated or under a flood of connections.
// With an auth token (auth_token_file: one line, a file only its owner can read) every
// endpoint but /health requires "Authorization: Bearer TOKEN"; others get 401.
// With tls_cert_file and tls_key_file the server speaks HTTPS only (OpenSSL through
// cpp-httplib's SSLServer): a bearer token then never crosses the network in clear.
//
// Every request takes the current version from
// a ModelSlot once, so a reload (from /reload or the watcher thread) never fails or drops a
// request in flight (see serving/model_slot.h). Reloads are serialised; a failed reload logs
// and keeps the version being served.
//
// Thread-safety: Start, Stop and the destructor from one thread; Reload and the accessors
// from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "serving/model_slot.h"
#include "serving/serving_model.h"

namespace httplib {
class Server;
}

namespace embark {

class ComputeSlots;

// Where served versions come from.
class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // Builds the version to serve next, given the one served now (null at start-up), which a
  // delta is applied to.
  virtual Status Load(const std::shared_ptr<const ServingModel>& current,
                      std::shared_ptr<const ServingModel>* next) = 0;
  // A token that changes whenever the source changes (the watcher reloads when it does); ""
  // when the source cannot be inspected right now.
  virtual std::string Stamp() = 0;
  // What the source is, for messages ("bundle path/to/dir").
  virtual std::string Describe() const = 0;
};

// An extra POST endpoint: given the request body and the model version this request uses, sets
// the HTTP status and the JSON answer. Called from the HTTP threads concurrently.
struct ServeEndpoint {
  std::string path;
  std::function<void(const std::string& body, const std::shared_ptr<const ServingModel>& model, int* status,
                     std::string* answer)>
      handler;
};

struct ServeOptions {
  std::string bind = "127.0.0.1";
  int port = 8080;                // 0: a free port chosen by the kernel (see ServeApp::port)
  int threads = 8;                // requests computed at once (/score, /topk, /reload)
  size_t max_connections = 4096;  // open connections served; beyond them 503
  int read_timeout_s = 5;         // a read (of a request line, header or body) waiting longer closes it
  int idle_timeout_s = 5;         // a keep-alive connection idle longer is closed
  std::string auth_token_file;    // non-empty: bearer-token auth on everything but /health
  std::string tls_cert_file;      // both non-empty: HTTPS only, with this PEM certificate (chain)
  std::string tls_key_file;       // and this PEM private key (a file only its owner can read)
  bool keep_previous = true;      // keep the version before the last swap, for POST /rollback
  size_t max_body_kb = 1024;      // larger request bodies get 413
  size_t max_k = 1000;            // largest k of /topk
  double watch_interval_s = 0;    // > 0: poll the source this often and reload on a change
  std::vector<ServeEndpoint> endpoints;  // extra POST endpoints
};

class ServeApp {
 public:
  ServeApp(const ServeOptions& options, std::unique_ptr<ModelSource> source);
  ~ServeApp();
  ServeApp(const ServeApp&) = delete;
  ServeApp& operator=(const ServeApp&) = delete;

  // Loads the first version, binds, and starts serving in background threads. Returns once
  // the socket is listening (requests may be sent immediately).
  Status Start();
  // Stops accepting, finishes requests in progress, joins every thread. Idempotent.
  void Stop();

  int port() const { return port_; }
  // "https" with a TLS certificate, else "http".
  const char* scheme() const { return options_.tls_cert_file.empty() ? "http" : "https"; }
  // Loads the source again and swaps the new version in; *version (optional) gets its id.
  Status Reload(std::string* version = nullptr);
  std::shared_ptr<const ServingModel> current() const { return slot_.Get(); }
  size_t reloads() const { return reloads_.load(); }
  // Serves the version that was served before the last swap again (one step: a second
  // Rollback has nothing to go back to until the next swap). *version gets its id, *from the
  // id rolled back from. NotFound when there is no earlier version, Aborted while a reload is
  // in progress (it would undo a swap the caller has not seen). The source is
  // not told: a watched directory's next delta, built on the version rolled back from, no
  // longer fits and is refused (the rolled-back version keeps serving) until a full version
  // or a reload of a fitting one arrives.
  Status Rollback(std::string* version, std::string* from);
  size_t rollbacks() const { return rollbacks_.load(); }

 private:
  void InstallHandlers();
  // Reads the bearer token from options_.auth_token_file; refuses a file others can read.
  Status LoadAuthToken();
  // The HTTPS server of options_.tls_*_file, or the reason it cannot be made (a missing file, a
  // key file others can read, a certificate or key OpenSSL refuses or that do not match).
  Status MakeTlsServer();
  void WatchLoop();

  ServeOptions options_;
  std::unique_ptr<ModelSource> source_;
  ModelSlot slot_;
  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<ComputeSlots> slots_;
  std::string auth_token_;  // empty: no auth
  std::thread listener_;
  std::thread watcher_;
  int port_ = -1;

  std::mutex reload_mu_;           // one reload at a time
  std::atomic<size_t> reloads_{0};
  std::atomic<size_t> rollbacks_{0};
  // The version served before the last swap (guarded by reload_mu_), for Rollback (unless
  // keep_previous is off): two versions in memory, three while a reload builds the next one.
  std::shared_ptr<const ServingModel> previous_;
  std::mutex error_mu_;
  std::string last_reload_error_;  // guarded by error_mu_
  std::string stamp_;              // guarded by reload_mu_: the source's stamp at the last load

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;          // guarded by stop_mu_
};

}  // namespace embark
