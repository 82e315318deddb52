#include "worker/kv_client.h"

#include <glog/logging.h>

#include "core/hash.h"
#include "core/shm_slot.h"
#include "ps/server.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

namespace embark {

namespace {
void NoFree(void*, void*) {}  // zero-copy frames point into memory the caller keeps alive

// Prepare's working arrays, one set per thread, kept between calls so that preparing a batch
// allocates nothing once they have grown to the batch size.
struct PrepareScratch {
  std::vector<uint64_t> slot_key;                  // open-addressing set of the distinct keys
  std::vector<uint32_t> slot_id;                   // 1 + the key's first-seen index; 0 = empty
  std::vector<uint32_t> id_of_input;               // input position -> first-seen index
  std::vector<std::pair<uint64_t, uint32_t>> uniq; // (key, first-seen index), sorted by key
  std::vector<uint16_t> server_of;                 // per sorted distinct key
  std::vector<uint32_t> cursor;                    // per server: next grouped position
  std::vector<uint32_t> grouped_of_id;             // first-seen index -> grouped position
};
}  // namespace

KVClient::KVClient(Transport* transport, ControlPlane* control, const Placement& placement,
                   double request_timeout_s, size_t max_message_bytes, uint64_t max_request_bytes)
    : transport_(transport),
      control_(control),
      placement_(placement),
      request_timeout_s_(request_timeout_s),
      max_message_bytes_(max_message_bytes),
      max_request_bytes_(max_request_bytes) {}

KVClient::~KVClient() { Stop(); }

void KVClient::EnableSharedMemory(uint64_t segment_bytes) {
  const ClusterTable& table = control_->table();
  const int me = transport_->rank();
  const int removed = RemoveStaleShmSegments();
  if (removed > 0) LOG(INFO) << "removed " << removed << " shared-memory segments left by processes that died";
  shm_.resize(placement_.num_servers());
  for (int s = 0; s < placement_.num_servers(); ++s) {
    const int rank = table.ServerRank(s);
    if (!SameHost(table.nodes[me], table.nodes[rank])) continue;
    std::unique_ptr<ShmChannel> channel;
    Status st = ShmChannel::Create(ShmSegmentName(static_cast<int>(getpid()), me, rank), segment_bytes, &channel);
    if (st.ok()) {
      MsgHeader offer = MakeHeader(MsgType::kShmOffer, me);
      offer.aux = channel->segment().token();
      offer.shm_bytes = channel->segment().total_bytes();
      st = transport_->SendString(rank, offer, channel->segment().name());
    }
    if (!st.ok()) {
      LOG(WARNING) << "no shared memory with " << DescribeServer(s) << ", using TCP: " << st.ToString();
      continue;  // the channel's destructor removes the segment
    }
    shm_[s] = std::move(channel);
  }
}

void KVClient::OnShmAccept(const Message& msg) {
  const int server = msg.peer - 1;
  if (server < 0 || server >= static_cast<int>(shm_.size()) || shm_[server] == nullptr) {
    LOG(WARNING) << "unexpected shm-accept from rank " << msg.peer;
    return;
  }
  if (msg.header.status == 0) {
    shm_[server]->Accept();
    LOG(INFO) << "requests to " << DescribeServer(server) << " go through a " << (shm_[server]->capacity() >> 20)
              << " MiB shared-memory ring";
  } else {
    shm_[server]->Refuse();
    LOG(WARNING) << DescribeServer(server) << " refused shared memory, using TCP: "
                 << (msg.frames.empty() ? std::string("no reason given") : msg.FrameString(0));
  }
}

void KVClient::Start() { receiver_ = std::thread([this] { ReceiveLoop(); }); }

void KVClient::Stop() {
  stop_ = true;
  if (receiver_.joinable()) receiver_.join();
}

void KVClient::Prepare(uint32_t table, const uint64_t* keys, size_t n, PreparedKeys* out) const {
  out->table = table;
  const int servers = placement_.num_servers();
  // The key set's id is a hash of its content: servers cache the row lookups of recent key
  // sets by id (the pull and the push of one batch share a key set) and compare the keys
  // before trusting the cache, so a collision costs a lookup, never a wrong row.
  bool sorted_unique_input = true;
  uint64_t id = HashCombine(table, n);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) sorted_unique_input &= keys[i - 1] < keys[i];
    id = id * 0x9e3779b97f4a7c15ULL + keys[i];
  }
  out->id = Mix64(id) | 1;  // never 0, which means "no key set"
  if (servers == 1 && sorted_unique_input) {
    // One server and sorted unique keys: the prepared order is the input order.
    out->keys.assign(keys, keys + n);
    out->server_begin.assign({0, static_cast<uint32_t>(n)});
    out->index_of_input.resize(n);
    std::iota(out->index_of_input.begin(), out->index_of_input.end(), 0u);
    return;
  }
  // 1. Deduplicate with an open-addressing set (keys in first-seen order), then sort only the
  //    distinct keys: a CTR batch repeats its few low-cardinality features in every example,
  //    so this sorts a fraction of the input and maps each input key back with one probe
  //    instead of a binary search. The scratch is per thread and reused across batches.
  thread_local PrepareScratch scratch;
  PrepareScratch& sc = scratch;
  int bits = 4;
  while ((size_t{1} << bits) < 2 * n) ++bits;
  const size_t mask = (size_t{1} << bits) - 1;
  sc.slot_id.assign(mask + 1, 0);
  sc.slot_key.resize(mask + 1);
  sc.uniq.clear();
  sc.id_of_input.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = keys[i];
    size_t h = static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> (64 - bits));
    while (sc.slot_id[h] != 0 && sc.slot_key[h] != key) h = (h + 1) & mask;
    if (sc.slot_id[h] == 0) {
      sc.slot_key[h] = key;
      sc.slot_id[h] = static_cast<uint32_t>(sc.uniq.size()) + 1;
      sc.uniq.emplace_back(key, static_cast<uint32_t>(sc.uniq.size()));
    }
    sc.id_of_input[i] = sc.slot_id[h] - 1;
  }
  // Sorted unique input is already in order (first-seen order is input order).
  if (!sorted_unique_input) std::sort(sc.uniq.begin(), sc.uniq.end());
  // 2. Group by server with a stable counting sort (each group stays sorted).
  const size_t u = sc.uniq.size();
  sc.server_of.resize(u);
  out->server_begin.assign(servers + 1, 0);
  for (size_t i = 0; i < u; ++i) {
    const int server = placement_.ServerOf(table, sc.uniq[i].first);
    // Only a dense table has keys without a server: block indices past its last block.
    CHECK_GE(server, 0) << "key " << sc.uniq[i].first << " is not a block of dense table "
                        << placement_.table(table).name << " (" << placement_.NumDenseBlocks(table) << " blocks)";
    sc.server_of[i] = static_cast<uint16_t>(server);
    ++out->server_begin[sc.server_of[i] + 1];
  }
  for (int s = 0; s < servers; ++s) out->server_begin[s + 1] += out->server_begin[s];
  sc.cursor.assign(out->server_begin.begin(), out->server_begin.end() - 1);
  sc.grouped_of_id.resize(u);
  out->keys.resize(u);
  for (size_t i = 0; i < u; ++i) {
    const uint32_t dst = sc.cursor[sc.server_of[i]]++;
    out->keys[dst] = sc.uniq[i].first;
    sc.grouped_of_id[sc.uniq[i].second] = dst;
  }
  // 3. Every input position to its key's grouped index.
  out->index_of_input.resize(n);
  for (size_t i = 0; i < n; ++i) out->index_of_input[i] = sc.grouped_of_id[sc.id_of_input[i]];
}

void KVClient::SumDuplicates(const PreparedKeys& keys, const float* input_rows, uint32_t width,
                             std::vector<float>* out) {
  out->assign(keys.size() * width, 0.0f);
  for (size_t i = 0; i < keys.index_of_input.size(); ++i) {
    float* dst = out->data() + size_t{keys.index_of_input[i]} * width;
    const float* src = input_rows + i * width;
    for (uint32_t j = 0; j < width; ++j) dst[j] += src[j];
  }
}

int KVClient::Issue(MsgType type, const PreparedKeys& keys, const float* vals, float* out) {
  const bool stored = type == MsgType::kPullRows || type == MsgType::kPushDelta;
  const uint32_t width = stored ? placement_.StoredRowWidth(keys.table) : placement_.RowWidth(keys.table);
  const int servers = placement_.num_servers();
  const bool with_values = type != MsgType::kPull && type != MsgType::kPullRows;
  // Keys per chunk: about max_message_bytes_ of keys and values, never fewer than 1024 keys;
  // and never more than half the servers' cap per message, which they would refuse.
  const size_t bytes_per_key = 8 + size_t{width} * 4;
  const uint64_t cap_keys = std::max<uint64_t>(1, max_request_bytes_ / 2 / bytes_per_key);
  const uint64_t wanted_keys = max_message_bytes_ == 0 ? UINT32_MAX : std::max<size_t>(1024, max_message_bytes_ / bytes_per_key);
  const uint32_t chunk_keys = static_cast<uint32_t>(std::min<uint64_t>({wanted_keys, cap_keys, UINT32_MAX}));
  std::vector<Chunk> chunks;
  for (int s = 0; s < servers; ++s) {
    for (uint32_t b = keys.server_begin[s]; b < keys.server_begin[s + 1];) {
      const uint32_t n = std::min(chunk_keys, keys.server_begin[s + 1] - b);
      chunks.push_back({s, b, n, false});
      b += n;
    }
  }
  CHECK_LT(chunks.size(), kMaxChunks) << "request of " << keys.size() << " keys is too large";
  // Chunks to a same-host server go through its shared-memory ring when there is room.
  for (Chunk& chunk : chunks) {
    ShmChannel* channel = chunk.server < static_cast<int>(shm_.size()) ? shm_[chunk.server].get() : nullptr;
    if (channel == nullptr || !channel->ready()) continue;
    if (!channel->Reserve(ShmSlotLayout::For(type, chunk.count, width).bytes, &chunk.slot)) chunk.slot = kNoSlot;
  }
  int ts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ts = next_ts_++;
    Pending& p = pending_[ts];
    p.out = out;
    p.keys = &keys;
    p.width = width;
    p.what = MsgTypeName(type);
    p.type = type;
    p.chunks = chunks;
    p.remaining = static_cast<int>(chunks.size());
  }
  const bool replies_rows = type == MsgType::kPull || type == MsgType::kPullRows || type == MsgType::kPushPull;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& chunk = chunks[c];
    const uint64_t value_bytes = uint64_t{chunk.count} * width * sizeof(float);
    bytes_sent_.fetch_add(uint64_t{chunk.count} * sizeof(uint64_t) + (with_values ? value_bytes : 0), std::memory_order_relaxed);
    if (replies_rows) bytes_received_.fetch_add(value_bytes, std::memory_order_relaxed);
    if (type == MsgType::kPullRows) rows_pulled_.fetch_add(chunk.count, std::memory_order_relaxed);
    MsgHeader h = MakeHeader(type, transport_ ? transport_->rank() : 0,
                             static_cast<uint64_t>(ts) * kMaxChunks + c);
    h.table = keys.table;
    h.num_keys = chunk.count;
    h.val_len = width;
    h.aux = Mix64(keys.id + c) | 1;  // each chunk is its own key set for the server's cache
    std::vector<zmq::message_t> frames;
    if (chunk.slot != kNoSlot) {
      // One copy into the slot replaces the two copies through the kernel's loopback TCP.
      const ShmSlotLayout layout = ShmSlotLayout::For(type, chunk.count, width);
      uint8_t* slot = shm_[chunk.server]->at(chunk.slot);
      std::memcpy(slot + layout.keys, keys.keys.data() + chunk.begin, size_t{chunk.count} * 8);
      if (with_values) std::memcpy(slot + layout.values, vals + size_t{chunk.begin} * width, size_t{chunk.count} * width * 4);
      h.shm_offset = chunk.slot;
      h.shm_bytes = layout.bytes;
    } else {
      frames.emplace_back(const_cast<uint64_t*>(keys.keys.data() + chunk.begin), size_t{chunk.count} * 8, NoFree, nullptr);
    }
    if (with_values && chunk.slot == kNoSlot) {
      frames.emplace_back(const_cast<float*>(vals + size_t{chunk.begin} * width), size_t{chunk.count} * width * 4,
                          NoFree, nullptr);
    }
    if (local_server_ != nullptr) {
      Message request, reply;
      request.header = h;
      request.header.num_frames = static_cast<uint32_t>(frames.size());
      request.frames = std::move(frames);
      request.peer = -1;
      (void)local_server_->Handle(request, &reply.header, &reply.frames);
      reply.header.num_frames = static_cast<uint32_t>(reply.frames.size());
      reply.peer = 1 + chunk.server;
      OnReply(reply);
      continue;
    }
    Status st = transport_->Send(control_->table().ServerRank(chunk.server), h, &frames);
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      Pending& p = pending_[ts];
      if (p.error.ok()) p.error = st;
      if (!p.chunks[c].done) {
        p.chunks[c].done = true;
        // The message never left (only a first frame can time out), so the server never saw the slot.
        if (chunk.slot != kNoSlot) shm_[chunk.server]->Release(chunk.slot);
        if (--p.remaining == 0) cv_.notify_all();
      }
    }
  }
  return ts;
}

int KVClient::Pull(const PreparedKeys& keys, float* out) { return Issue(MsgType::kPull, keys, nullptr, out); }
int KVClient::Push(const PreparedKeys& keys, const float* vals) { return Issue(MsgType::kPush, keys, vals, nullptr); }
int KVClient::PullRows(const PreparedKeys& keys, float* out) { return Issue(MsgType::kPullRows, keys, nullptr, out); }
int KVClient::PushDelta(const PreparedKeys& keys, const float* deltas) {
  return Issue(MsgType::kPushDelta, keys, deltas, nullptr);
}
int KVClient::PushPull(const PreparedKeys& keys, const float* vals, float* out) {
  return Issue(MsgType::kPushPull, keys, vals, out);
}

Status KVClient::Wait(int ts, double timeout_s) {
  if (timeout_s < 0) timeout_s = request_timeout_s_;
  std::unique_lock<std::mutex> lock(mu_);
  auto it = pending_.find(ts);
  if (it == pending_.end()) return Status::InvalidArgument("unknown or already waited request " + std::to_string(ts));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (it->second.remaining > 0) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && it->second.remaining > 0) {
      std::ostringstream m;
      m << it->second.what << " request " << ts << " of table " << placement_.table(it->second.keys->table).name
        << ": no reply within " << timeout_s << " s from";
      int last = -1;
      for (const Chunk& c : it->second.chunks) {
        if (c.done || c.server == last) continue;
        m << " " << DescribeServer(c.server);
        last = c.server;
      }
      // The request stays registered: a late reply must not write into a buffer the caller
      // may reuse, so the entry's output pointer is dropped (and a copy in progress finished).
      it->second.out = nullptr;
      cv_.wait(lock, [&] { return it->second.copying == 0; });
      return Status::Timeout(m.str());
    }
  }
  Status st = it->second.error;
  pending_.erase(it);
  return st;
}

std::string KVClient::DescribeServer(int server) const {
  if (control_ == nullptr) return "server " + std::to_string(server);
  return control_->table().Describe(control_->table().ServerRank(server));
}

void KVClient::OnReply(const Message& msg) {
  const int server = msg.peer - 1;
  const int ts = static_cast<int>(msg.header.request_id / kMaxChunks);
  const size_t c = msg.header.request_id % kMaxChunks;
  // The reply is copied into the caller's buffer outside the lock (the chunk's rows belong to
  // this reply alone); only the bookkeeping is locked.
  float* dst = nullptr;
  const float* src = nullptr;
  size_t bytes = 0;
  Status error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(ts);
    if (it == pending_.end() || c >= it->second.chunks.size() || it->second.chunks[c].done ||
        it->second.chunks[c].server != server) {
      LOG(WARNING) << "unexpected " << MsgTypeName(msg.type()) << " for request " << ts << " from "
                   << DescribeServer(server);
      return;
    }
    Pending& p = it->second;
    const Chunk& chunk = p.chunks[c];
    if (msg.type() == MsgType::kError) {
      error = Status::Aborted(DescribeServer(server) + " rejected the " + p.what + " request: " +
                              (msg.frames.empty() ? std::string() : msg.FrameString(0)));
    } else if (msg.type() == MsgType::kPullReply) {
      Status st;
      bytes = size_t{chunk.count} * p.width * 4;
      if (chunk.slot != kNoSlot) {
        // The rows are in this chunk's own slot; the reply must name exactly its output area.
        const uint64_t expected = chunk.slot + ShmSlotLayout::For(p.type, chunk.count, p.width).out;
        if (msg.header.shm_offset != expected || msg.header.shm_bytes != bytes ||
            !msg.frames.empty() || msg.header.num_keys != chunk.count || msg.header.val_len != p.width) {
          st = Status::Corruption("reply names shared memory at " + std::to_string(msg.header.shm_offset) + " (" +
                                  std::to_string(msg.header.shm_bytes) + " bytes), not this request's slot");
        } else {
          src = reinterpret_cast<const float*>(shm_[server]->at(msg.header.shm_offset));
        }
      } else {
        st = ValidateDataMessage(msg, p.width);
        if (st.ok() && msg.header.num_keys != chunk.count)
          st = Status::Corruption("reply has " + std::to_string(msg.header.num_keys) + " rows, expected " + std::to_string(chunk.count));
        if (st.ok()) src = msg.values(0);
      }
      if (!st.ok()) error = Status::Corruption("bad reply from " + DescribeServer(server) + ": " + st.message());
      else if (p.out != nullptr) dst = p.out + size_t{chunk.begin} * p.width;
    }
    if (dst != nullptr) ++p.copying;
  }
  if (dst != nullptr) std::memcpy(dst, src, bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(ts);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  if (dst != nullptr) --p.copying;
  if (!error.ok() && p.error.ok()) p.error = error;
  // Any reply (rows, ack or error) means the server is done with the slot.
  if (p.chunks[c].slot != kNoSlot) shm_[server]->Release(p.chunks[c].slot);
  p.chunks[c].done = true;
  --p.remaining;
  cv_.notify_all();
}

void KVClient::CancelAll() {
  std::unique_lock<std::mutex> lock(mu_);
  for (auto& [ts, p] : pending_) p.out = nullptr;
  cv_.wait(lock, [&] {
    for (const auto& [ts, p] : pending_)
      if (p.copying > 0) return false;
    return true;
  });
}

void KVClient::ReceiveLoop() {
  while (!stop_) {
    Message msg;
    auto res = transport_->Poll(100, &msg);
    control_->NoteProgress();
    switch (res.event) {
      case Transport::Event::kMessage:
        if (control_->Handle(msg)) break;
        if (msg.type() == MsgType::kPullReply || msg.type() == MsgType::kPushAck || msg.type() == MsgType::kError) {
          OnReply(msg);
        } else if (msg.type() == MsgType::kShmAccept) {
          OnShmAccept(msg);
        } else {
          LOG(WARNING) << "worker ignores a " << MsgTypeName(msg.type()) << " message from " << control_->table().Describe(msg.peer);
        }
        break;
      case Transport::Event::kPeerDisconnected:
        control_->OnPeerDisconnected(res.peer);
        break;
      case Transport::Event::kBadMessage:
        LOG(WARNING) << "bad message from rank " << res.peer << ": " << res.status.ToString();
        break;
      case Transport::Event::kTimeout:
        break;
    }
  }
}

}  // namespace embark
