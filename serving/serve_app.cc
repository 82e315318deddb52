#include "serving/serve_app.h"

#include <glog/logging.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fstream>
#include <sstream>

#include "models/interaction_fields.h"
#include "serving/compute_slots.h"
#include "serving/connection_threads.h"
#include "serving/requests.h"
#include "data/line_parser.h"

namespace embark {
namespace {

using nlohmann::json;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Ids and paths come from training data and the file system, not always valid UTF-8.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& reason) {
  SendJson(res, status, json{{"error", reason}});
}

// Input errors are the client's (400; 404 for an unknown user); anything else is ours.
int HttpStatusOf(const Status& st) {
  switch (st.code()) {
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kNotFound:
      return 404;
    default:
      return 500;
  }
}

// How long a request waits for a compute slot before it gets 503.
constexpr std::chrono::seconds kSlotWait(10);

// Compares without an early exit, so the time taken does not tell how much of a guess matched
// (the length may show: it is not the secret).
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// A secret file (a token, a private key) must be readable by its owner alone.
Status CheckPrivateFile(const std::string& flag, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::NotFound("serve: " + flag + " " + path + " is missing or unreadable");
  if (st.st_mode & 077)
    return Status::InvalidArgument("serve: " + flag + " " + path + " can be read by other users (mode " +
                                   std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                                   std::to_string(st.st_mode & 7) + "); chmod 600 it");
  return Status::OK();
}

}  // namespace

Status ServeApp::LoadAuthToken() {
  const std::string& path = options_.auth_token_file;
  EMBARK_RETURN_IF_ERROR(CheckPrivateFile("--auth_token_file", path));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return Status::IoError("serve: cannot read --auth_token_file " + path);
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty() || token.find_first_of(" \t\r\n") != std::string::npos)
    return Status::InvalidArgument("serve: --auth_token_file " + path + " must hold one token on one line");
  auth_token_ = std::move(token);
  return Status::OK();
}


Status ServeApp::MakeTlsServer() {
  const std::string& cert = options_.tls_cert_file;
  const std::string& key = options_.tls_key_file;
  if (cert.empty() != key.empty()) return Status::InvalidArgument("serve: --tls_cert and --tls_key go together");
  if (access(cert.c_str(), R_OK) != 0) return Status::NotFound("serve: --tls_cert " + cert + " is missing or unreadable");
  EMBARK_RETURN_IF_ERROR(CheckPrivateFile("--tls_key", key));
  // The context is set up here rather than by SSLServer's file constructor: a key with a
  // passphrase must fail (OpenSSL's default would prompt on the terminal and hang a start),
  // and a refusal should carry OpenSSL's reason.
  std::string reason;
  auto setup = [&](SSL_CTX& ctx) {
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_default_passwd_cb(&ctx, [](char*, int, int, void*) { return 0; });
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) == 1 &&
        SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 && SSL_CTX_check_private_key(&ctx) == 1)
      return true;
    char text[256];
    ERR_error_string_n(ERR_peek_last_error(), text, sizeof(text));
    reason = text;
    return false;
  };
  auto tls = std::make_unique<httplib::SSLServer>(setup);
  if (!tls->is_valid()) {
    return Status::InvalidArgument("serve: --tls_cert " + cert + " and --tls_key " + key +
                                   " are not a PEM certificate and its unencrypted PEM private key (" + reason + ")");
  }
  server_ = std::move(tls);
  return Status::OK();
}

ServeApp::ServeApp(const ServeOptions& options, std::unique_ptr<ModelSource> source)
    : options_(options), source_(std::move(source)) {}

ServeApp::~ServeApp() { Stop(); }

Status ServeApp::Start() {
  if (options_.threads < 1) return Status::InvalidArgument("serve: --threads must be at least 1");
  if (options_.max_body_kb < 1) return Status::InvalidArgument("serve: --max_body_kb must be at least 1");
  if (options_.port < 0 || options_.port > 65535)
    return Status::InvalidArgument("serve: --port must be in 0..65535, got " + std::to_string(options_.port));
  if (options_.max_connections < 1) return Status::InvalidArgument("serve: --max_connections must be at least 1");
  if (options_.read_timeout_s < 1 || options_.idle_timeout_s < 1)
    return Status::InvalidArgument("serve: --read_timeout and --idle_timeout must be at least 1 second");
  if (!options_.auth_token_file.empty()) EMBARK_RETURN_IF_ERROR(LoadAuthToken());
  // Before the model loads: a wrong certificate is a usage error found at once.
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) EMBARK_RETURN_IF_ERROR(MakeTlsServer());
  {
    std::lock_guard<std::mutex> lock(reload_mu_);
    stamp_ = source_->Stamp();
    std::shared_ptr<const ServingModel> first;
    const auto start = std::chrono::steady_clock::now();
    EMBARK_RETURN_IF_ERROR(source_->Load(nullptr, &first));
    LOG(INFO) << "serve: loaded version " << first->info().version << " from " << source_->Describe() << " in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s";
    slot_.Set(std::move(first));
  }
  if (server_ == nullptr) server_ = std::make_unique<httplib::Server>();
  slots_ = std::make_unique<ComputeSlots>(options_.threads);
  const size_t max_connections = options_.max_connections;
  server_->new_task_queue = [max_connections] { return new ConnectionThreads(max_connections); };
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_write_timeout(options_.read_timeout_s, 0);
  server_->set_keep_alive_timeout(options_.idle_timeout_s);
  server_->set_payload_max_length(options_.max_body_kb * 1024);
  // Small answers on keep-alive connections: without TCP_NODELAY, Nagle's algorithm holds each
  // response until the client's delayed ACK (~40 ms on Linux) -- 80+ ms per request.
  server_->set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default; every reconnect costs a
  // handshake and, under load, sometimes a client read error. Each connection has its own
  // thread, so a long-lived one takes nothing from the others.
  server_->set_keep_alive_max_count(100);
  InstallHandlers();
  // httplib 0.11 listens with a backlog of 5: a burst of connections (a flood, or many
  // clients at once) would wait out SYN retransmits of a second or more before being accepted.
  // The listening socket is remembered here and its backlog raised after the bind.
  //
  // httplib also polls every connection it holds every 10 ms, so each idle connection costs
  // ~100 wake-ups a second: 2,000 of them would take both cores. TCP_DEFER_ACCEPT keeps a
  // connection that has sent nothing in the kernel (no thread, no polling) until its first
  // bytes arrive, for up to --read_timeout seconds.
  int listen_fd = -1;
  const int defer_s = options_.read_timeout_s;
  server_->set_socket_options([&listen_fd, defer_s](socket_t sock) {
    httplib::default_socket_options(sock);
    if (setsockopt(sock, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof(defer_s)) != 0)
      LOG(WARNING) << "serve: TCP_DEFER_ACCEPT unavailable: " << std::strerror(errno);
    listen_fd = sock;
  });
  port_ = options_.port == 0 ? server_->bind_to_any_port(options_.bind)
                             : (server_->bind_to_port(options_.bind, options_.port) ? options_.port : -1);
  if (port_ < 0) {
    return Status::IoError("serve: cannot listen on " + options_.bind + ":" + std::to_string(options_.port) +
                           " (address in use, or not an address of this host)");
  }
  if (listen_fd >= 0 && ::listen(listen_fd, SOMAXCONN) != 0)
    LOG(WARNING) << "serve: cannot raise the listen backlog: " << std::strerror(errno);
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() does nothing before its loop runs: a Stop right after Start would leave
  // the listener running forever (and its join hanging). Start returns once it runs.
  for (int i = 0; i < 10000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server_->is_running()) return Status::Internal("serve: the HTTP listener did not start within 10 s");
  if (options_.watch_interval_s > 0) watcher_ = std::thread([this] { WatchLoop(); });
  return Status::OK();
}

void ServeApp::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  if (server_) server_->stop();
  if (listener_.joinable()) listener_.join();
}

Status ServeApp::Reload(std::string* version) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  const std::string stamp = source_->Stamp();
  std::shared_ptr<const ServingModel> next;
  const auto start = std::chrono::steady_clock::now();
  Status st = source_->Load(slot_.Get(), &next);
  if (!st.ok()) {
    LOG(WARNING) << "serve: reload of " << source_->Describe() << " failed, still serving the previous version: "
                 << st.ToString();
    std::lock_guard<std::mutex> elock(error_mu_);
    last_reload_error_ = st.ToString();
    return st;
  }
  stamp_ = stamp;
  const std::string id = next->info().version;
  std::shared_ptr<const ServingModel> served = slot_.Get();
  // A reload of an unchanged source hands back the version served (or a copy of it): the
  // version to roll back to stays the one before.
  if (options_.keep_previous && served != nullptr && served->info().version != id) previous_ = std::move(served);
  slot_.Set(std::move(next));
  reloads_.fetch_add(1);
  {
    std::lock_guard<std::mutex> elock(error_mu_);
    last_reload_error_.clear();
  }
  LOG(INFO) << "serve: now serving version " << id << " from " << source_->Describe() << " (loaded in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s)";
  if (version != nullptr) *version = id;
  return Status::OK();
}

Status ServeApp::Rollback(std::string* version, std::string* from) {
  // Not behind a reload in progress: it would undo a swap the caller has not seen yet.
  std::unique_lock<std::mutex> lock(reload_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return Status::Aborted("a reload is in progress; roll back after it, if it is still wanted");
  std::shared_ptr<const ServingModel> served = slot_.Get();
  if (!options_.keep_previous)
    return Status::NotFound("serve runs with --keep_previous=false: no earlier version is kept to roll back to");
  if (previous_ == nullptr) {
    return Status::NotFound("no earlier version to roll back to (serving " + served->info().version +
                                      "; only the version before the last swap is kept, and only until it is rolled back to)");
  }
  *version = previous_->info().version;
  *from = served->info().version;
  slot_.Set(std::move(previous_));
  previous_.reset();
  rollbacks_.fetch_add(1);
  LOG(WARNING) << "serve: rolled back from version " << *from << " to " << *version;
  return Status::OK();
}

void ServeApp::WatchLoop() {
  const auto interval = std::chrono::duration<double>(options_.watch_interval_s);
  std::string failed_stamp;  // a source that failed to load is retried only once it changes again
  while (true) {
    {
      std::unique_lock<std::mutex> lock(stop_mu_);
      if (stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) return;
    }
    const std::string stamp = source_->Stamp();
    if (stamp.empty() || stamp == failed_stamp) continue;
    bool changed;
    {
      std::lock_guard<std::mutex> lock(reload_mu_);
      changed = stamp != stamp_;
    }
    if (!changed) continue;
    if (!Reload().ok()) failed_stamp = stamp;
  }
}

void ServeApp::InstallHandlers() {
  httplib::Server& s = *server_;

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    auto model = slot_.Get();
    if (!model) return SendError(res, 503, "no model loaded");
    SendJson(res, 200, json{{"status", "ok"}, {"version", model->info().version}});
  });

  s.Get("/version", [this](const httplib::Request&, httplib::Response& res) {
    auto model = slot_.Get();
    if (!model) return SendError(res, 503, "no model loaded");
    const ServingInfo& info = model->info();
    json body{{"version", info.version},
              {"model", info.model},
              {"bundle", info.bundle_path},
              {"source_checkpoint", info.source_checkpoint},
              {"loaded_at", info.loaded_at},
              {"reloads", reloads_.load()},
              {"rollbacks", rollbacks_.load()}};
    if (model->data_format()) body["data_format"] = DataFormatName(*model->data_format());
    if (model->has_topk()) {
      body["index"] = info.index;
      body["items"] = model->num_items();
      body["seen_items"] = model->has_seen();
      if (info.recall_at_10 >= 0) {
        body["recall_at_10"] = info.recall_at_10;
        body["recall_queries"] = info.recall_queries;
      }
    }
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      if (!last_reload_error_.empty()) body["last_reload_error"] = last_reload_error_;
    }
    SendJson(res, 200, body);
  });

  // Before routing: connections over the cap, and the bearer token.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (ConnectionThreads::OverCapacity()) {
      // The request is marked as asking for the connection to close, so httplib answers
      // "Connection: close" and a well-behaved client hangs up instead of holding the overflow
      // thread (httplib offers no other way to close from a handler).
      auto& headers = const_cast<httplib::Request&>(req).headers;
      headers.erase("Connection");
      headers.emplace("Connection", "close");
      SendError(res, 503, "too many connections: all --max_connections=" + std::to_string(options_.max_connections) +
                              " are open; retry later");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!auth_token_.empty() && req.path != "/health" &&
        !SameSecret(req.get_header_value("Authorization"), "Bearer " + auth_token_)) {
      res.set_header("WWW-Authenticate", "Bearer");
      SendError(res, 401, "missing or wrong bearer token (Authorization: Bearer TOKEN, see --auth_token_file)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Post("/score", [this](const httplib::Request& req, httplib::Response& res) {
    ComputeSlots::Lease lease(slots_.get(), kSlotWait);
    if (!lease.ok()) return SendError(res, 503, "busy: all --threads=" + std::to_string(options_.threads) + " are computing; retry later");
    auto model = slot_.Get();  // this request's version, whatever reloads happen meanwhile
    Batch batch;
    Status st = ParseScoreRequest(req.body, model->model(), model->data_format(), &batch);
    if (!st.ok()) return SendError(res, HttpStatusOf(st), st.message());
    std::vector<float> scores(batch.size());
    ScoreStats stats;
    model->Score(batch, scores.data(), &stats);
    json body{{"scores", scores}, {"unknown_features", stats.unknown_features}, {"version", model->info().version}};
    SendJson(res, 200, body);
  });

  s.Post("/topk", [this](const httplib::Request& req, httplib::Response& res) {
    ComputeSlots::Lease lease(slots_.get(), kSlotWait);
    if (!lease.ok()) return SendError(res, 503, "busy: all --threads=" + std::to_string(options_.threads) + " are computing; retry later");
    auto model = slot_.Get();
    if (!model->has_topk()) return SendError(res, 400, "no top-K: " + model->topk_unavailable());
    TopKRequest request;
    Status st = ParseTopKRequest(req.body, options_.max_k, &request);
    if (!st.ok()) return SendError(res, HttpStatusOf(st), st.message());
    const uint64_t user_key = FeatureKey(kUserIdField, request.user);
    std::vector<std::pair<uint16_t, uint64_t>> side;
    for (const auto& [field, id] : request.user_features) side.emplace_back(field, FeatureKey(field, id));
    std::vector<float> query;
    st = model->UserQuery(request.has_user ? &user_key : nullptr, side, &query);
    if (st.code() == Status::Code::kNotFound) return SendError(res, 404, "unknown user '" + request.user + "'");
    if (!st.ok()) return SendError(res, HttpStatusOf(st), st.message());
    std::vector<uint32_t> excluded;
    for (const std::string& id : request.exclude) {
      const uint32_t row = model->FindItem(FeatureKey(kItemIdField, id));
      if (row != KeyIndex::kNotFound) excluded.push_back(row);  // an unknown item cannot be recommended anyway
    }
    if (!request.include_seen && request.has_user) model->AppendSeen(user_key, &excluded);
    std::sort(excluded.begin(), excluded.end());
    excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
    std::vector<ScoredItem> items;
    model->TopK(query.data(), request.k, excluded, request.exact, &items);
    json list = json::array();
    for (const ScoredItem& item : items) {
      json entry{{"key", std::to_string(item.key)}, {"score", item.score}};
      const std::string& id = model->ItemId(item.row);
      if (!id.empty()) entry["id"] = id;
      list.push_back(std::move(entry));
    }
    SendJson(res, 200, json{{"user", request.user}, {"items", std::move(list)}, {"version", model->info().version}});
  });

  for (const ServeEndpoint& e : options_.endpoints) {
    auto handler = e.handler;
    s.Post(e.path, [this, handler](const httplib::Request& req, httplib::Response& res) {
      auto model = slot_.Get();
      int status = 500;
      std::string answer;
      handler(req.body, model, &status, &answer);
      res.status = status;
      res.set_content(answer, "application/json");
    });
  }

  s.Post("/reload", [this](const httplib::Request&, httplib::Response& res) {
    ComputeSlots::Lease lease(slots_.get(), kSlotWait);
    if (!lease.ok()) return SendError(res, 503, "busy: all --threads=" + std::to_string(options_.threads) + " are computing; retry later");
    std::string version;
    Status st = Reload(&version);
    if (!st.ok()) {
      // The source is broken, not the request: 500 with the reason; the old version stays.
      return SendError(res, 500, "reload failed, still serving " + slot_.Get()->info().version + ": " + st.ToString());
    }
    SendJson(res, 200, json{{"version", version}, {"reloads", reloads_.load()}});
  });

  s.Post("/rollback", [this](const httplib::Request&, httplib::Response& res) {
    std::string version, from;
    Status st = Rollback(&version, &from);
    if (!st.ok()) return SendError(res, 409, st.message());
    SendJson(res, 200, json{{"version", version}, {"rolled_back_from", from}, {"rollbacks", rollbacks_.load()}});
  });

  // httplib answers some requests itself (413 for a body over the limit, 404 for an unknown
  // path, 400 for a malformed request line) with an empty body; give them a JSON reason.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string reason;
    switch (res.status) {
      case 413:
        reason = "request body larger than --max_body_kb=" + std::to_string(options_.max_body_kb) + " KiB";
        break;
      case 404:
        reason = "no endpoint " + req.method + " " + req.path +
                 " (GET /health, GET /version, POST /score, POST /topk, POST /reload)";
        break;
      default:
        reason = res.status == 400 ? "malformed HTTP request" : "HTTP error " + std::to_string(res.status);
    }
    SendError(res, res.status, reason);
  });
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    LOG(ERROR) << "serve: " << req.method << " " << req.path << " threw: " << what;
    SendError(res, 500, "internal error: " + what);
  });
}

}  // namespace embark
