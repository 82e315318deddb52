#include "bench/serve_bench.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/json_text.h"
#include "core/liveness.h"

namespace embark {
namespace {

using Clock = std::chrono::steady_clock;

struct LevelResult {
  std::string endpoint;
  int concurrency = 0;
  size_t requests = 0;
  size_t errors = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
};

double Percentile(std::vector<double>* sorted_ms, double q) {
  if (sorted_ms->empty()) return 0;
  const size_t i = std::min(sorted_ms->size() - 1, static_cast<size_t>(q * (sorted_ms->size() - 1) + 0.5));
  return (*sorted_ms)[i];
}

// One level: `concurrency` threads, each with its own keep-alive connection.
LevelResult RunLevel(const ServeBenchOptions& o, const std::string& endpoint, int concurrency,
                     const std::vector<std::string>& bodies) {
  const std::string path = "/" + endpoint;
  std::vector<std::vector<double>> latencies(concurrency);
  std::vector<size_t> errors(concurrency, 0);
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < concurrency; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client(o.host, o.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);  // else Nagle + delayed ACK add ~40 ms per request
      client.set_connection_timeout(5);
      client.set_read_timeout(30);
      size_t next = (bodies.size() * c) / concurrency;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string& body = bodies[next];
        next = (next + 1) % bodies.size();
        const auto start = Clock::now();
        auto res = client.Post(path, body, "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!measuring.load(std::memory_order_relaxed)) continue;
        if (!res || res->status != 200) {
          if (errors[c]++ == 0) {
            std::fprintf(stderr, "serve-bench %s c=%d: first error of client %d: %s\n", path.c_str(), concurrency, c,
                         res ? ("HTTP " + std::to_string(res->status) + " " + res->body).c_str()
                             : httplib::to_string(res.error()).c_str());
          }
          continue;
        }
        latencies[c].push_back(ms);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_seconds));
  measuring = true;
  const auto begin = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  measuring = false;
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  stop = true;
  for (auto& t : threads) t.join();
  LevelResult r;
  r.endpoint = path;
  r.concurrency = concurrency;
  r.seconds = seconds;
  std::vector<double> all;
  for (int c = 0; c < concurrency; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    r.errors += errors[c];
  }
  std::sort(all.begin(), all.end());
  r.requests = all.size();
  r.p50_ms = Percentile(&all, 0.50);
  r.p99_ms = Percentile(&all, 0.99);
  return r;
}

}  // namespace

int RunServeBench(const ServeBenchOptions& o) {
  if (o.requests_from.empty()) {
    std::fprintf(stderr, "serve-bench: --requests_from=RATINGS_FILE is required\n");
    return kExitUsage;
  }
  std::ifstream in(o.requests_from);
  if (!in) {
    std::fprintf(stderr, "serve-bench: cannot read %s\n", o.requests_from.c_str());
    return kExitUsage;
  }
  // Ids are taken verbatim from the first two whitespace/tab/comma-separated columns and
  // written as JSON strings (quotes and backslashes escaped).
  std::vector<std::string> score_bodies, topk_bodies;
  size_t line_no = 0;
  for (std::string line; std::getline(in, line) && score_bodies.size() < 100000;) {
    ++line_no;
    for (char& ch : line)
      if (ch == ',' || ch == '\t') ch = ' ';
    std::istringstream fields(line);
    std::string user, item;
    if (!(fields >> user >> item)) {
      if (line.find_first_not_of(" \r") == std::string::npos) continue;  // a blank line
      std::fprintf(stderr, "serve-bench: %s:%zu: want 'user item ...', got '%s'\n", o.requests_from.c_str(), line_no,
                   line.c_str());
      return kExitUsage;
    }
    nlohmann::ordered_json score;
    score["features"] = {{0, user}, {1, item}};
    score_bodies.push_back(JsonText(score));
    nlohmann::ordered_json topk;
    topk["user"] = user;
    topk["k"] = 10;
    topk_bodies.push_back(JsonText(topk));
  }
  if (score_bodies.empty()) {
    std::fprintf(stderr, "serve-bench: no 'user item ...' lines in %s\n", o.requests_from.c_str());
    return kExitUsage;
  }
  {
    httplib::Client probe(o.host, o.port);
    probe.set_connection_timeout(5);
    auto res = probe.Get("/health");
    if (!res || res->status != 200) {
      std::fprintf(stderr, "serve-bench: no healthy server at %s:%d\n", o.host.c_str(), o.port);
      return kExitUsage;
    }
  }
  std::vector<LevelResult> results;
  for (const std::string& endpoint : o.endpoints) {
    if (endpoint != "score" && endpoint != "topk") {
      std::fprintf(stderr, "serve-bench: unknown endpoint '%s' (score, topk)\n", endpoint.c_str());
      return kExitUsage;
    }
    for (int c : o.concurrency) {
      LevelResult r = RunLevel(o, endpoint, c, endpoint == "score" ? score_bodies : topk_bodies);
      std::printf("serve-bench %s c=%d: %.0f req/s, p50 %.3f ms, p99 %.3f ms, %zu errors (%zu requests)\n",
                  r.endpoint.c_str(), c, r.requests / r.seconds, r.p50_ms, r.p99_ms, r.errors, r.requests);
      std::fflush(stdout);
      results.push_back(r);
    }
  }
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out, std::ios::trunc);
    out << "[\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const LevelResult& r = results[i];
      nlohmann::ordered_json row = {{"endpoint", r.endpoint},    {"concurrency", r.concurrency},
                                    {"requests", r.requests},    {"errors", r.errors},
                                    {"seconds", r.seconds},      {"requests_per_sec", r.requests / r.seconds},
                                    {"p50_ms", r.p50_ms},        {"p99_ms", r.p99_ms}};
      out << "  " << JsonText(row) << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "]\n";
    if (!out) {
      std::fprintf(stderr, "serve-bench: cannot write %s\n", o.json_out.c_str());
      return kExitUsage;
    }
  }
  size_t errors = 0;
  for (const auto& r : results) errors += r.errors;
  return errors == 0 ? kExitOk : kExitAborted;  // failed requests make the run non-zero
}

}  // namespace embark
