#include "core/transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <glog/logging.h>
#include <zmq_addon.hpp>

#include <sstream>

namespace embark {

std::string RoutingIdOf(int rank) { return "r" + std::to_string(rank); }

int RankOfRoutingId(const zmq::message_t& id) {
  const char* p = id.data<char>();
  size_t n = id.size();
  if (n < 2 || n > 11 || p[0] != 'r') return -1;
  long v = 0;
  for (size_t i = 1; i < n; ++i) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v > 0x7fffffff ? -1 : static_cast<int>(v);
}

Transport::Transport(int my_rank, int send_timeout_ms, uint64_t max_request_bytes)
    : rank_(my_rank),
      send_timeout_ms_(send_timeout_ms),
      max_frame_bytes_(static_cast<int64_t>(max_request_bytes + kFrameSlackBytes)),
      ctx_(1) {
  // Sockets are closed with linger 0 (Close()), so terminating the context never blocks.
  ctx_.set(zmq::ctxopt::blocky, false);
}

Transport::~Transport() { Close(); }

Status Transport::GenerateCurveKeys(CurveKeys* keys) {
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0) return Status::Internal(std::string("cannot generate CURVE keys: ") + zmq_strerror(zmq_errno()));
  keys->public_key = pub;
  keys->secret_key = sec;
  return Status::OK();
}

Status ReadCurveKeyFile(const std::string& path, CurveKeys* keys) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::NotFound("CURVE key file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Status::IoError("CURVE key file " + path + ": cannot stat: " + std::strerror(errno));
  }
  auto refuse = [&](const std::string& why) {
    close(fd);
    return Status::InvalidArgument("CURVE key file " + path + ": " + why);
  };
  if (!S_ISREG(st.st_mode)) return refuse("not a regular file");
  if (st.st_uid != geteuid())
    return refuse("belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " + std::to_string(geteuid()) + ")");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return refuse(std::string("mode ") + mode + " lets group or others access it; chmod 600 it (and make a new key pair: "
                  "the secret may have been read)");
  }
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n < 0) return Status::IoError("CURVE key file " + path + ": cannot read: " + std::strerror(errno));
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const size_t space = text.find(' ');
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("CURVE key file " + path + ": " + why + " (expected one line \"PUBLIC SECRET\", two "
                                   "40-character Z85 keys; `embark curve-keygen --out=PATH` writes one)");
  };
  if (space == std::string::npos) return bad("no space between the keys");
  CurveKeys k{text.substr(0, space), text.substr(space + 1)};
  uint8_t bin[32];
  if (k.public_key.size() != 40 || k.secret_key.size() != 40 || zmq_z85_decode(bin, k.public_key.c_str()) == nullptr ||
      zmq_z85_decode(bin, k.secret_key.c_str()) == nullptr)
    return bad("malformed keys");
  char derived[41] = {0};
  if (zmq_curve_public(derived, k.secret_key.c_str()) != 0 || k.public_key != derived)
    return bad("the public key is not the secret key's");
  *keys = k;
  return Status::OK();
}

Status WriteCurveKeyFile(const std::string& path, const CurveKeys& keys) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IoError("cannot create CURVE key file " + path + ": " + std::strerror(errno));
  const std::string line = keys.public_key + " " + keys.secret_key + "\n";
  const bool ok = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
  const int err = errno;
  close(fd);
  if (!ok) {
    unlink(path.c_str());
    return Status::IoError("cannot write CURVE key file " + path + ": " + std::strerror(err));
  }
  return Status::OK();
}

Status Transport::EnableCurve(const std::string& server_public, const CurveKeys& own) {
  if (server_public.size() != 40 || own.public_key.size() != 40 || own.secret_key.size() != 40)
    return Status::InvalidArgument("CURVE keys must be 40 Z85 characters");
  uint8_t bin[32];
  if (zmq_z85_decode(bin, own.public_key.c_str()) == nullptr) return Status::InvalidArgument("a CURVE key is not valid Z85");
  server_public_ = server_public;
  own_ = own;
  allowed_client_key_.assign(reinterpret_cast<const char*>(bin), 32);
  try {
    // libzmq asks this endpoint of the socket's context to authenticate every CURVE client.
    zap_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::rep);
    zap_->set(zmq::sockopt::linger, 0);
    zap_->bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    return Status::IoError(std::string("cannot start the CURVE authenticator: ") + e.what());
  }
  zap_thread_ = std::thread([this] { ZapLoop(); });
  return Status::OK();
}

void Transport::ZapLoop() {
  // ZAP request (RFC 27): version, request id, domain, address, routing id, mechanism, then the
  // mechanism's credentials (CURVE: the client's 32-byte public key).
  std::set<std::string> refused;
  while (!zap_stop_.load()) {
    zmq::pollitem_t item{static_cast<void*>(*zap_), 0, ZMQ_POLLIN, 0};
    try {
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
      std::vector<zmq::message_t> req;
      if (!zmq::recv_multipart(*zap_, std::back_inserter(req), zmq::recv_flags::dontwait)) continue;
      const bool ok = req.size() >= 7 && req[5].to_string() == "CURVE" && req[6].to_string() == allowed_client_key_;
      const std::string address = req.size() > 3 ? req[3].to_string() : "?";
      if (!ok && refused.insert(address).second)
        LOG(WARNING) << "rank " << rank_ << ": refused a connection from " << address
                     << " without this job's CURVE key (logged once per address)";
      std::vector<zmq::const_buffer> reply = {zmq::buffer(std::string_view("1.0")),
                                              zmq::buffer(req.size() > 1 ? req[1].data() : nullptr, req.size() > 1 ? req[1].size() : 0),
                                              zmq::buffer(std::string_view(ok ? "200" : "400")),
                                              zmq::buffer(std::string_view(ok ? "OK" : "unknown key")),
                                              zmq::buffer(std::string_view("")),
                                              zmq::buffer(std::string_view(""))};
      zmq::send_multipart(*zap_, reply);
    } catch (const zmq::error_t& e) {
      if (zap_stop_.load() || e.num() == ETERM) return;
      LOG(WARNING) << "rank " << rank_ << ": CURVE authenticator: " << e.what();
    }
  }
}

Status Transport::Bind(const std::string& ip, int port, std::string* endpoint) {
  try {
    inbox_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::router);
    inbox_->set(zmq::sockopt::linger, 0);
    inbox_->set(zmq::sockopt::maxmsgsize, max_frame_bytes_);
    if (!own_.secret_key.empty()) {
      inbox_->set(zmq::sockopt::curve_server, true);
      inbox_->set(zmq::sockopt::curve_secretkey, own_.secret_key);
      inbox_->set(zmq::sockopt::zap_domain, "embark");
    }
    inbox_->set(zmq::sockopt::rcvhwm, 0);  // bounded by the senders' own queues and timeouts
    inbox_->set(zmq::sockopt::rcvbuf, 4 << 20);
    std::string addr = "tcp://" + ip + ":" + (port == 0 ? std::string("*") : std::to_string(port));
    inbox_->bind(addr);
    *endpoint = inbox_->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::IoError("cannot bind inbox on " + ip + ":" + std::to_string(port) + ": " + e.what());
  }
  poll_items_.clear();
  poll_peers_.clear();
  poll_items_.push_back({static_cast<void*>(*inbox_), 0, ZMQ_POLLIN, 0});
  return Status::OK();
}

Transport::Outbox* Transport::GetOutbox(int peer_rank) const {
  std::lock_guard<std::mutex> lock(outboxes_mu_);
  if (peer_rank < 0 || peer_rank >= static_cast<int>(outboxes_.size())) return nullptr;
  return outboxes_[peer_rank].get();
}

bool Transport::IsConnected(int peer_rank) const { return GetOutbox(peer_rank) != nullptr; }

Status Transport::Connect(int peer_rank, const std::string& endpoint) {
  if (peer_rank < 0) return Status::InvalidArgument("negative peer rank");
  if (Outbox* existing = GetOutbox(peer_rank)) {
    if (existing->endpoint == endpoint) return Status::OK();
    return Status::InvalidArgument("rank " + std::to_string(peer_rank) + " already connected to " +
                                   existing->endpoint + ", not " + endpoint);
  }
  auto box = std::make_unique<Outbox>();
  try {
    box->socket = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    box->socket->set(zmq::sockopt::linger, 0);
    box->socket->set(zmq::sockopt::maxmsgsize, max_frame_bytes_);  // a DEALER here only sends; bounded all the same
    box->socket->set(zmq::sockopt::routing_id, RoutingIdOf(rank_));
    box->socket->set(zmq::sockopt::sndhwm, 0);  // Send() bounds waiting with sndtimeo instead
    box->socket->set(zmq::sockopt::sndtimeo, send_timeout_ms_);
    box->socket->set(zmq::sockopt::sndbuf, 4 << 20);
    box->socket->set(zmq::sockopt::reconnect_ivl, 100);
    if (!own_.secret_key.empty()) {
      box->socket->set(zmq::sockopt::curve_serverkey, server_public_);
      box->socket->set(zmq::sockopt::curve_publickey, own_.public_key);
      box->socket->set(zmq::sockopt::curve_secretkey, own_.secret_key);
    }
    std::string mon_addr = "inproc://embark-monitor-" + std::to_string(rank_) + "-" + std::to_string(peer_rank) +
                           "-" + std::to_string(monitor_seq_++);
    if (zmq_socket_monitor(static_cast<void*>(*box->socket), mon_addr.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
      return Status::IoError("cannot monitor the socket to rank " + std::to_string(peer_rank) + ": " +
                             zmq_strerror(zmq_errno()));
    }
    box->monitor = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
    box->monitor->set(zmq::sockopt::linger, 0);
    box->monitor->set(zmq::sockopt::maxmsgsize, max_frame_bytes_);
    box->monitor->connect(mon_addr);
    box->socket->connect(endpoint);
  } catch (const zmq::error_t& e) {
    return Status::IoError("cannot connect to rank " + std::to_string(peer_rank) + " at " + endpoint + ": " + e.what());
  }
  box->endpoint = endpoint;
  poll_items_.push_back({static_cast<void*>(*box->monitor), 0, ZMQ_POLLIN, 0});
  poll_peers_.push_back(peer_rank);
  std::lock_guard<std::mutex> lock(outboxes_mu_);
  if (static_cast<int>(outboxes_.size()) <= peer_rank) outboxes_.resize(peer_rank + 1);
  outboxes_[peer_rank] = std::move(box);
  return Status::OK();
}

Status Transport::Send(int peer_rank, MsgHeader header, std::vector<zmq::message_t>* frames) {
  Outbox* box = GetOutbox(peer_rank);
  if (box == nullptr) return Status::Internal("no connection to rank " + std::to_string(peer_rank));
  header.sender = static_cast<uint32_t>(rank_);
  header.num_frames = frames ? static_cast<uint32_t>(frames->size()) : 0;
  std::lock_guard<std::mutex> lock(box->mu);
  if (closed_) return Status::Aborted("transport closed");
  try {
    const bool more = header.num_frames > 0;
    auto r = box->socket->send(zmq::const_buffer(&header, sizeof(header)),
                               more ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (!r) goto timeout;
    for (uint32_t i = 0; i < header.num_frames; ++i) {
      const bool last = i + 1 == header.num_frames;
      r = box->socket->send((*frames)[i], last ? zmq::send_flags::none : zmq::send_flags::sndmore);
      // Once the first frame is queued ZeroMQ delivers the whole message atomically, so a
      // timeout can only happen on the first frame.
      if (!r) goto timeout;
    }
  } catch (const zmq::error_t& e) {
    return Status::IoError("send to rank " + std::to_string(peer_rank) + " failed: " + e.what());
  }
  return Status::OK();
timeout:
  return Status::Timeout("send to rank " + std::to_string(peer_rank) + " at " + box->endpoint +
                         " blocked for " + std::to_string(send_timeout_ms_) + " ms");
}

Status Transport::Send(int peer_rank, MsgHeader header) { return Send(peer_rank, header, nullptr); }

Status Transport::SendString(int peer_rank, MsgHeader header, const std::string& payload) {
  std::vector<zmq::message_t> frames;
  frames.emplace_back(payload.data(), payload.size());
  return Send(peer_rank, header, &frames);
}

bool Transport::ReadMonitorEvent(zmq::socket_t& monitor, int* event) {
  // A monitor event is two frames: 6 bytes (uint16 event, uint32 value), then the address.
  zmq::message_t first, second;
  if (!monitor.recv(first, zmq::recv_flags::dontwait)) return false;
  if (first.more()) (void)monitor.recv(second, zmq::recv_flags::dontwait);
  if (first.size() < 2) return false;
  uint16_t ev;
  std::memcpy(&ev, first.data(), 2);
  *event = ev;
  return true;
}

Transport::PollResult Transport::Poll(int timeout_ms, Message* msg) {
  PollResult result;
  if (closed_ || !inbox_) {
    result.event = Event::kBadMessage;
    result.status = Status::Aborted("transport closed");
    return result;
  }
  int n = 0;
  try {
    n = zmq::poll(poll_items_.data(), poll_items_.size(), std::chrono::milliseconds(timeout_ms));
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return result;  // a signal: report a timeout, the caller re-checks flags
    result.event = Event::kBadMessage;
    result.status = Status::IoError(std::string("poll failed: ") + e.what());
    return result;
  }
  if (n == 0) return result;
  for (size_t i = 1; i < poll_items_.size(); ++i) {
    if (poll_items_[i].revents & ZMQ_POLLIN) {
      Outbox* box = GetOutbox(poll_peers_[i - 1]);
      int ev = 0;
      if (box && ReadMonitorEvent(*box->monitor, &ev) && ev == ZMQ_EVENT_DISCONNECTED) {
        result.event = Event::kPeerDisconnected;
        result.peer = poll_peers_[i - 1];
        return result;
      }
    }
  }
  if (!(poll_items_[0].revents & ZMQ_POLLIN)) return result;

  std::vector<zmq::message_t> parts;
  try {
    auto got = zmq::recv_multipart(*inbox_, std::back_inserter(parts), zmq::recv_flags::dontwait);
    if (!got) return result;
  } catch (const zmq::error_t& e) {
    result.event = Event::kBadMessage;
    result.status = Status::IoError(std::string("receive failed: ") + e.what());
    return result;
  }
  // parts[0] is the routing id added by our ROUTER, always present.
  result.peer = RankOfRoutingId(parts[0]);
  if (result.peer < 0) {
    result.event = Event::kBadMessage;
    result.status = Status::InvalidArgument("message from an unknown peer (routing id '" +
                                            parts[0].to_string().substr(0, 32) + "')");
    return result;
  }
  if (parts.size() < 2) {
    result.event = Event::kBadMessage;
    result.status = Status::Corruption("empty message (no header frame)");
    return result;
  }
  Status st = ParseHeader(parts[1].data(), parts[1].size(), &msg->header);
  if (st.ok() && static_cast<int>(msg->header.sender) != result.peer) {
    st = Status::InvalidArgument("header claims sender rank " + std::to_string(msg->header.sender) +
                                 " but the connection belongs to rank " + std::to_string(result.peer));
  }
  if (st.ok() && msg->header.num_frames != parts.size() - 2) {
    st = Status::Corruption("header announces " + std::to_string(msg->header.num_frames) +
                            " frames but " + std::to_string(parts.size() - 2) + " arrived");
  }
  if (!st.ok()) {
    result.event = Event::kBadMessage;
    result.status = st;
    return result;
  }
  msg->peer = result.peer;
  msg->frames.clear();
  for (size_t i = 2; i < parts.size(); ++i) {
    // Readers view frames as uint64_t/float arrays. ZeroMQ may hand out a frame that points
    // into its receive buffer at any offset; such a frame is copied into its own (malloc'ed,
    // aligned) buffer, since an unaligned uint64_t load is undefined behaviour (UBSan reports it).
    if (reinterpret_cast<uintptr_t>(parts[i].data()) % alignof(uint64_t) != 0) {
      zmq::message_t aligned(parts[i].data(), parts[i].size());
      msg->frames.push_back(std::move(aligned));
    } else {
      msg->frames.push_back(std::move(parts[i]));
    }
  }
  result.event = Event::kMessage;
  return result;
}

void Transport::Close(int linger_ms) {
  {
    std::lock_guard<std::mutex> lock(outboxes_mu_);
    for (auto& box : outboxes_) {
      if (!box) continue;
      std::lock_guard<std::mutex> l(box->mu);
      if (box->socket) {
        zmq_socket_monitor(static_cast<void*>(*box->socket), nullptr, 0);
        if (linger_ms > 0) box->socket->set(zmq::sockopt::linger, linger_ms);
        box->socket->close();
      }
      if (box->monitor) box->monitor->close();
    }
    closed_ = true;
  }
  if (inbox_) inbox_->close();
  poll_items_.clear();
  if (zap_thread_.joinable()) {
    zap_stop_ = true;
    zap_thread_.join();
  }
  if (zap_) zap_->close();
}

}  // namespace embark
