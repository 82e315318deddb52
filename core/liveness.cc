#include "core/liveness.h"

#include <glog/logging.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace embark {

namespace {
std::atomic<double> g_termination_at{0.0};

void OnTerminationSignal(int) {
  double expected = 0.0;
  g_termination_at.compare_exchange_strong(expected, NowSeconds());
}
}  // namespace

double NowSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

void DieNow(const std::string& reason, int code) {
  LOG(ERROR) << reason;
  google::FlushLogFiles(google::GLOG_INFO);
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

void InstallTerminationHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnTerminationSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

double TerminationRequestedAt() { return g_termination_at.load(); }

}  // namespace embark
