// Transport: the ZeroMQ sockets of one process.
//
// Every process binds one ROUTER socket (its inbox) and, for each peer it talks to, connects
// one DEALER socket to that peer's inbox. Messages always travel outbox(DEALER) -> inbox
// (ROUTER); a reply is a new message sent back on the replier's own DEALER. Keeping send and
// receive on different sockets lets any thread send (under a per-peer mutex) while exactly one
// thread receives, with no hand-off between threads on the hot path.
//
// Every socket has ZMQ_MAXMSGSIZE set (a bound on each received frame): a peer that sends a
// larger frame is disconnected by ZeroMQ before the frame is buffered.
//
// CURVE (EnableCurve, before Bind and Connect): every socket is authenticated and encrypted
// with the job's key pair; the inbox is a CURVE server whose ZAP handler (a thread of this
// Transport) admits only clients presenting the job's public key, so a process without the
// job's keys can neither send to a rank nor pretend to be one. Refusals are logged once per
// peer address.
//
// Every DEALER is watched by a ZeroMQ socket monitor: when the peer's process dies, its TCP
// connection closes and Poll() reports that peer as disconnected within milliseconds, long
// before a heartbeat would time out.
//
// Thread-safety: Send() may be called from any thread. Bind, Connect, Poll and Close must be
// called from a single owner thread (the receiving thread), Connect before other threads send.
#pragma once

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "core/status.h"
#include "core/wire.h"

namespace embark {

// A CURVE key pair, Z85-encoded (40 characters each).
struct CurveKeys {
  std::string public_key;
  std::string secret_key;
};

// A job's key pair in a file (--curve_key_file), for launches where the key should not travel
// through MPI: one line "PUBLIC SECRET" (the two Z85 keys of one pair). Every rank reads the
// same file. Read refuses, naming the path and the reason: a file that is not a regular file,
// is not owned by this process's user, or grants any permission to group or others (it must
// be mode 0600 or 0400: nobody else may have been able to read the secret), and keys that are
// malformed or not one pair. Write creates PATH with mode 0600 and fails if it exists.
Status ReadCurveKeyFile(const std::string& path, CurveKeys* keys);
Status WriteCurveKeyFile(const std::string& path, const CurveKeys& keys);

class Transport {
 public:
  // A fresh key pair (libzmq's zmq_curve_keypair).
  static Status GenerateCurveKeys(CurveKeys* keys);
  // send_timeout_ms bounds how long Send() may block on a full queue to a stuck peer.
  // max_request_bytes (see kDefaultMaxRequestBytes): every socket gets ZMQ_MAXMSGSIZE =
  // max_request_bytes + kFrameSlackBytes, so no peer can make this process buffer a larger frame.
  Transport(int my_rank, int send_timeout_ms = 30000, uint64_t max_request_bytes = kDefaultMaxRequestBytes);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int rank() const { return rank_; }

  // Before Bind and Connect: the inbox serves CURVE with `own`'s secret key and admits only
  // clients whose public key is `own`'s; outboxes authenticate with `own` and expect peers to
  // hold the secret of `server_public` (the job's: every rank shares one key pair).
  Status EnableCurve(const std::string& server_public, const CurveKeys& own);

  // Binds the inbox on `ip` (port 0 = any free port) and returns the endpoint peers should use.
  Status Bind(const std::string& ip, int port, std::string* endpoint);
  // Opens the outbox to `peer_rank`. Idempotent for the same endpoint.
  Status Connect(int peer_rank, const std::string& endpoint);
  bool IsConnected(int peer_rank) const;

  // Sends header + frames to `peer_rank`. Frames are moved out (zero-copy if the caller built
  // them over its own buffers). Returns Timeout if the peer does not drain its queue in time.
  Status Send(int peer_rank, MsgHeader header, std::vector<zmq::message_t>* frames);
  Status Send(int peer_rank, MsgHeader header);  // no frames
  Status SendString(int peer_rank, MsgHeader header, const std::string& payload);

  enum class Event { kMessage, kTimeout, kBadMessage, kPeerDisconnected };
  struct PollResult {
    Event event = Event::kTimeout;
    Status status;        // kBadMessage: what is wrong
    int peer = -1;        // kMessage / kBadMessage (if known) / kPeerDisconnected
  };
  // Waits up to timeout_ms for one message (or a disconnect). Owner thread only.
  PollResult Poll(int timeout_ms, Message* msg);

  // Closes every socket. linger_ms bounds how long unsent messages may still leave (0 on the
  // failure paths, so exit never waits on a dead peer).
  void Close(int linger_ms = 0);

 private:
  struct Outbox {
    std::mutex mu;
    std::unique_ptr<zmq::socket_t> socket;
    std::unique_ptr<zmq::socket_t> monitor;  // PAIR receiving the DEALER's monitor events
    std::string endpoint;
  };
  Outbox* GetOutbox(int peer_rank) const;
  bool ReadMonitorEvent(zmq::socket_t& monitor, int* event);

  const int rank_;
  const int send_timeout_ms_;
  const int64_t max_frame_bytes_;  // ZMQ_MAXMSGSIZE of every socket
  zmq::context_t ctx_;
  std::unique_ptr<zmq::socket_t> inbox_;
  mutable std::mutex outboxes_mu_;  // guards the vector's shape, not the sockets
  std::vector<std::unique_ptr<Outbox>> outboxes_;  // indexed by peer rank
  std::vector<zmq::pollitem_t> poll_items_;        // inbox, then monitors
  std::vector<int> poll_peers_;                    // rank of each monitor poll item
  // Numbers the monitor endpoints: a socket closed by a failed Connect releases its inproc
  // monitor address only asynchronously, so a retry must not reuse the address.
  uint64_t monitor_seq_ = 0;
  std::atomic<bool> closed_{false};

  // CURVE (empty keys: off).
  void ZapLoop();
  std::string server_public_;
  CurveKeys own_;
  std::string allowed_client_key_;            // 32 bytes, binary
  std::unique_ptr<zmq::socket_t> zap_;         // used by zap_thread_ only
  std::thread zap_thread_;
  std::atomic<bool> zap_stop_{false};
};

// Identity a DEALER of rank r presents to the ROUTER it connects to.
std::string RoutingIdOf(int rank);
// Parses a routing id; -1 if it is not one of ours.
int RankOfRoutingId(const zmq::message_t& id);

}  // namespace embark
