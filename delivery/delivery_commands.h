// The delivery commands of the embark binary (no MPI; plain processes):
//   embark deliver     answers a file of delivery requests (and records outcome lines) with a
//                      served bundle, campaigns and user profiles; appends the decision log
//   embark simulate    a generated world's day through delivery, per policy (delivery/simulator.h)
//   embark ope         off-policy estimates of a new bundle's policy on a decision log
//   embark log-export  a decision log as libffm training data
// app/main.cc fills DeliveryCommandOptions from the flags; each Run* returns the exit code.
//
// Thread-safety: call from main() only.
#pragma once

#include <cstdint>
#include <string>

#include "delivery/auction.h"
#include "delivery/pacing.h"
#include "delivery/sim_world.h"

namespace embark {

struct DeliveryCommandOptions {
  std::string bundle;        // served model (deliver, simulate, ope)
  std::string campaigns;     // campaigns file (deliver, ope)
  std::string users;         // users file (deliver)
  std::string requests;      // deliver: request/outcome lines
  std::string out;           // deliver: answers (default stdout); simulate: output prefix; log-export: file
  std::string decision_log;  // deliver, simulate: append decisions here
  std::string log;           // ope, log-export: decision log(s) to read, comma-separated
  std::string json_out;      // ope: the estimates as JSON
  std::string policies = "model,popularity,random";  // simulate
  AuctionOptions auction;
  PacingOptions pacing;
  bool reject_unknown_users = false;
  uint64_t seed = 1;
  size_t slots = 1;
  SimWorldOptions world;     // simulate
};

int RunDeliverCommand(const DeliveryCommandOptions& o);
int RunSimulateCommand(const DeliveryCommandOptions& o);
int RunOpeCommand(const DeliveryCommandOptions& o);
int RunLogExportCommand(const DeliveryCommandOptions& o);

}  // namespace embark
