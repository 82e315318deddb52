// The server's own application messages: what the scheduler asks of a server and the server's
// replies (MsgType::kApp payloads as text; the subtype is MsgHeader::aux). The training
// protocol between workers and the scheduler (worker/train_protocol.h) numbers its messages
// from 101 and includes this header, so one subtype never means two things.
//
// Thread-safety: constants only.
#pragma once

#include <cstdint>

namespace embark {

enum ServerMsg : uint64_t {
  kServerSave = 201,      // scheduler -> servers: write your shard to this path ("PATH" or "PATH\ndelta")
  kServerSaved = 202,     // server -> scheduler: "ok CHECKSUM" or the error
  kServerLoad = 203,      // scheduler -> servers: restore from these shard files, in order, one
                          // "PATH CHECKSUM" per line (a delta chain: base first)
  kServerLoaded = 204,    // server -> scheduler: "ok" or the error
  kServerEpochEnd = 205,  // scheduler -> servers (bounded memory): every worker finished training epoch N
  kServerMemory = 206,    // server -> scheduler: its bounded-memory counters, "key=value ..."
};

}  // namespace embark
