// The serving latency benchmark (`embark serve-bench`): a closed-loop HTTP client driving a
// running `embark serve` on loopback, for /score and /topk at several concurrency levels.
//
// Requests are built from a ratings file (user item rating ...): /score sends one rating's
// pair {"features": [[0, "user"], [1, "item"]]}, /topk sends {"user": "user", "k": 10}; client
// c starts at a different line and walks the file round robin. Each of `concurrency` threads
// holds one keep-alive connection and has one request outstanding at a time (a closed loop:
// offered load adapts to latency). Each level runs for `seconds` after a short warm-up.
// A non-200 answer or a transport error counts as an error and stops nothing.
//
// Output contract: one line per (endpoint, concurrency) on stdout,
//   "serve-bench /score c=4: 5123 req/s, p50 0.61 ms, p99 1.92 ms, 0 errors (15369 requests)"
// and with --json_out a JSON array of {"endpoint", "concurrency", "requests", "errors",
// "seconds", "requests_per_sec", "p50_ms", "p99_ms"}.
//
// Thread-safety: RunServeBench is called once from main().
#pragma once

#include <string>
#include <vector>

namespace embark {

struct ServeBenchOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string requests_from;        // ratings file the users and items come from
  std::vector<int> concurrency = {1, 4, 16};
  std::vector<std::string> endpoints = {"score", "topk"};
  double seconds = 3.0;             // measured time per level
  double warmup_seconds = 0.5;
  std::string json_out;
};

// Returns the process exit code (0, or 1 for bad options, an unreadable file or no server).
int RunServeBench(const ServeBenchOptions& options);

}  // namespace embark
