// Liveness settings and the process-wide exit path shared by every role.
//
// Exit codes are part of the contract with launch scripts: 0 success, 1 usage or input
// error, 3 a peer was lost (died, hung, or unreachable), 4 start-up failed, 5 the job was
// aborted for another reason (a timeout of a request, an internal error).
//
// Thread-safety: DieNow and the SIGTERM flag may be used from any thread.
#pragma once

#include <atomic>
#include <string>

namespace embark {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 1;
constexpr int kExitPeerLost = 3;
constexpr int kExitStartup = 4;
constexpr int kExitAborted = 5;

struct LivenessOptions {
  double heartbeat_interval_s = 0.5;
  double heartbeat_timeout_s = 10.0;   // a rank silent this long is declared lost
  double startup_timeout_s = 60.0;     // every rank must register within this
  double disconnect_grace_s = 1.0;     // a closed connection must stay closed this long
  double request_timeout_s = 60.0;     // a pull/push without reply this long aborts the job
  // 0: SIGTERM/SIGINT ends the job at once (exit code 5, after a moment to name a lost rank).
  // > 0: the job may stop cleanly instead (SchedulerApp::OnTerminationRequested, e.g. a final
  // checkpoint of a stream): a rank that got the signal asks the scheduler to stop
  // (kAppStopRequest) and is ended by it, or exits on its own after this many seconds.
  double termination_grace_s = 0;
};

// The application subtype (MsgHeader::aux of a kApp message, no frames) a rank sends to the
// scheduler when it received SIGTERM/SIGINT and termination_grace_s is set. Applications use
// subtypes above 100.
constexpr uint64_t kAppStopRequest = 1;

// Logs `reason` at ERROR, flushes logs and stdio, and ends the process with `code` at once
// (no destructors, no MPI_Finalize: peers may already be gone, and waiting on them could hang).
[[noreturn]] void DieNow(const std::string& reason, int code);

// Installs the SIGTERM/SIGINT handler: it only records the signal, so the rank can spend a
// moment learning *why* the launcher is stopping the job (a lost peer) before it exits.
void InstallTerminationHandler();
// Time (steady clock seconds) at which SIGTERM/SIGINT arrived, or 0 if it has not.
double TerminationRequestedAt();

// Seconds on a monotonic clock.
double NowSeconds();

}  // namespace embark
