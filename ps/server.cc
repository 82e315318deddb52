#include "ps/server.h"

#include "core/shm_slot.h"
#include "ps/checkpoint_shard.h"
#include "ps/row_eviction.h"
#include "ps/server_protocol.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/hash.h"
#include <sstream>

namespace embark {

Server::Server(Transport* transport, ControlPlane* control, const Placement& placement,
               int server_index, const ServerOptions& opts)
    : transport_(transport),
      control_(control),
      placement_(placement),
      server_index_(server_index),
      opts_(opts),
      pool_(opts.threads),
      cache_(opts.key_set_cache) {
  const auto& tables = placement_.tables();
  shards_.resize(pool_.parts());
  positions_.resize(pool_.parts());
  dense_.resize(tables.size());
  for (auto& shard : shards_) shard.sparse.resize(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    if (tables[t].dense) {
      dense_[t] = std::make_unique<DenseBlockStore>(tables[t], opts_.seed, placement_.DenseLayout(t), server_index_);
    } else {
      for (auto& shard : shards_)
        shard.sparse[t] = std::make_unique<SparseTable>(tables[t], opts_.seed, &opts_.memory, pool_.parts());
    }
  }
  table_step_.assign(tables.size(), 0);
  epoch_end_steps_.resize(tables.size());
  if (bounded()) {
    for (const auto& store : dense_)
      if (store) fixed_bytes_ += store->MemoryBytes();
    for (const auto& shard : shards_)
      for (const auto& table : shard.sparse)
        if (table) fixed_bytes_ += table->SketchBytes();
    const uint64_t budget = opts_.memory.budget_bytes;
    if (budget > 0) {
      // At least one byte: a budget below the fixed bytes evicts every row, it does not disable.
      sub_shard_budget_ = std::max<uint64_t>(1, budget > fixed_bytes_ ? (budget - fixed_bytes_) / pool_.parts() : 0);
      if (budget <= fixed_bytes_)
        LOG(WARNING) << "server " << server_index_ << ": --server_memory=" << budget << " does not even cover the "
                     << fixed_bytes_ << " fixed bytes (dense tables and admission sketches); every row will be evicted";
    }
  }
}

Server::~Server() = default;

size_t Server::RowsHeld(uint32_t table) const {
  size_t n = 0;
  for (const auto& shard : shards_)
    if (shard.sparse[table]) n += shard.sparse[table]->size();
  return n;
}

std::string Server::Report() const {
  std::ostringstream m;
  for (size_t t = 0; t < placement_.tables().size(); ++t) {
    const TableConfig& cfg = placement_.table(t);
    m << "table " << cfg.name << ": ";
    if (cfg.dense) {
      m << "dense, " << cfg.dense_size << " floats in blocks of " << placement_.RowWidth(t);
    } else {
      m << RowsHeld(t) << " rows, " << shards_[0].sparse[t]->BytesPerRow() << " bytes/row";
    }
    m << (t + 1 < placement_.tables().size() ? "; " : "");
  }
  return m.str();
}

Status Server::CheckRequestSize(const Message& request) const {
  const uint64_t cap = opts_.max_request_bytes;
  auto over = [&](const std::string& what, uint64_t bytes) {
    std::ostringstream m;
    m << what << " is " << bytes << " bytes, over the cap of " << cap << " bytes per message (--max_request_mb="
      << cap / (1 << 20) << "); send fewer keys per request";
    return Status::InvalidArgument(m.str());
  };
  for (const auto& frame : request.frames) {
    if (frame.size() > cap) return over(std::string("a frame of a ") + MsgTypeName(request.type()), frame.size());
  }
  const MsgHeader& h = request.header;
  const uint64_t keys_bytes = uint64_t{h.num_keys} * sizeof(uint64_t);
  const uint64_t rows_bytes = uint64_t{h.num_keys} * h.val_len * sizeof(float);  // < 2^48: no overflow
  const MsgType t = request.type();
  const bool carries_values = t == MsgType::kPush || t == MsgType::kPushPull || t == MsgType::kPushDelta;
  const bool replies_rows = t == MsgType::kPull || t == MsgType::kPushPull || t == MsgType::kPullRows;
  const std::string shape = std::to_string(h.num_keys) + " keys of " + std::to_string(h.val_len) + " floats";
  if (keys_bytes + (carries_values ? rows_bytes : 0) > cap)
    return over(std::string("a ") + MsgTypeName(t) + " of " + shape, keys_bytes + (carries_values ? rows_bytes : 0));
  if (replies_rows && rows_bytes > cap) return over(std::string("the reply to a ") + MsgTypeName(t) + " of " + shape, rows_bytes);
  return Status::OK();
}

Status Server::Validate(const Message& request, bool keys_known_good) const {
  const MsgHeader& h = request.header;
  const bool stored_rows = IsStoredRowRequest(request.type());
  if (request.type() != MsgType::kPull && request.type() != MsgType::kPush && request.type() != MsgType::kPushPull &&
      !stored_rows) {
    return Status::InvalidArgument(std::string("servers do not accept ") + MsgTypeName(request.type()) + " messages");
  }
  if (!placement_.HasTable(h.table)) {
    return Status::InvalidArgument("unknown table id " + std::to_string(h.table) + " (the job has " +
                                   std::to_string(placement_.tables().size()) + " tables)");
  }
  if (stored_rows && bounded()) {
    return Status::InvalidArgument(std::string(MsgTypeName(request.type())) +
                                   ": local-update training (--sync=local) does not combine with bounded memory "
                                   "(--min_count, --admit_probability, --ttl, --server_memory); use --sync=exact");
  }
  EMBARK_RETURN_IF_ERROR(ValidateDataMessage(
      request, stored_rows ? placement_.StoredRowWidth(h.table) : placement_.RowWidth(h.table)));
  const uint64_t* keys = request.keys(0);
  for (uint32_t i = 0; i < h.num_keys && !keys_known_good; ++i) {
    const int owner = placement_.ServerOf(h.table, keys[i]);
    if (owner != server_index_) {
      std::ostringstream m;
      m << "key " << keys[i] << " of table " << placement_.table(h.table).name << " belongs to "
        << (owner < 0 ? std::string("no server (dense block out of range)") : "server " + std::to_string(owner))
        << ", not to server " << server_index_ << " (a stale or foreign shard map?)";
      return Status::InvalidArgument(m.str());
    }
  }
  if (request.type() != MsgType::kPull && request.type() != MsgType::kPullRows) {
    const float* vals = request.values(1);
    const size_t n = size_t{h.num_keys} * h.val_len;
    // v - v is 0 for every finite v and NaN for NaN and infinities; this form vectorises
    // (a branch per value or std::isfinite would not), so the check is one streaming pass.
    // The culprit is located only on failure.
    int non_finite = 0;
    for (size_t i = 0; i < n; ++i) {
      const float d = vals[i] - vals[i];
      non_finite |= !(d == 0.0f);
    }
    if (non_finite) {
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(vals[i])) {
          std::ostringstream m;
          m << "non-finite gradient " << vals[i] << " for key " << keys[i / h.val_len] << " of table "
            << placement_.table(h.table).name << " (column " << i % h.val_len
            << "); if training diverged, lower --lr";
          return Status::InvalidArgument(m.str());
        }
      }
    }
  }
  return Status::OK();
}

void Server::Execute(const Message& request, KeySetCache::Entry* cached, bool hit, float* pull_out) {
  const MsgHeader& h = request.header;
  const uint32_t t = h.table;
  const size_t n = h.num_keys;
  const uint64_t* keys = request.keys(0);
  if (IsStoredRowRequest(request.type())) return ExecuteStoredRows(request, pull_out);
  const bool push = request.type() != MsgType::kPull;
  const bool pull = request.type() != MsgType::kPush;
  const float* grads = push ? request.values(1) : nullptr;
  const uint32_t width = h.val_len;

  if (placement_.table(t).dense) {
    // Every push of the request is applied before any row is returned, so a block repeated
    // in a fused request comes back with all of its gradients (as with sparse rows).
    DenseBlockStore& store = *dense_[t];
    for (size_t i = 0; i < n && push; ++i)
      (void)store.Push(static_cast<uint32_t>(keys[i]), grads + i * width);  // ownership checked in Validate
    for (size_t i = 0; i < n && pull; ++i) {
      const uint32_t block = static_cast<uint32_t>(keys[i]);
      float* out = pull_out + i * width;
      const uint32_t len = store.BlockLength(block);
      (void)store.Pull(block, out);
      std::fill(out + len, out + width, 0.0f);  // padding of a short last block
    }
    return;
  }
  const int parts = pool_.parts();
  if (parts == 1 && bounded()) {
    SparseTable& table = *shards_[0].sparse[t];
    if (push) table.PushOrAdmit(keys, n, grads);
    if (pull) table.PullOrInit(keys, n, pull_out);
    return;
  }
  if (parts == 1) {
    SparseTable& table = *shards_[0].sparse[t];
    if (cached == nullptr) {
      if (push) table.Push(keys, n, grads);
      if (pull) table.Pull(keys, n, pull_out);
      return;
    }
    if (!hit) table.FindOrCreateRows(keys, n, cached->rows.data());
    float* const* rows = cached->rows.data();
    if (push) table.optimizer().ApplyBatch(rows, grads, n, static_cast<int>(width));
    if (pull)
      for (size_t i = 0; i < n; ++i) std::memcpy(pull_out + i * width, rows[i], width * sizeof(float));
    return;
  }
  // Several sub-shards: route each key position to the thread that owns its row.
  std::vector<std::vector<uint32_t>>* positions = &positions_;
  if (cached != nullptr) positions = &cached->positions;
  if (cached == nullptr || !hit) {
    positions->resize(parts);
    for (auto& p : *positions) p.clear();
    for (size_t i = 0; i < n; ++i)
      (*positions)[placement_.shards().SubShardOf(keys[i], parts, t)].push_back(static_cast<uint32_t>(i));
  }
  pool_.Run([&](int part) {
    SparseTable& table = *shards_[part].sparse[t];
    const Optimizer& opt = table.optimizer();
    // Row lookups: from the cache on a hit, else from the index (remembered for the cache).
    bool looked_up = cached != nullptr && hit;
    auto row_of = [&](uint32_t i) {
      if (cached == nullptr) return table.FindOrCreate(keys[i]);
      if (!looked_up) cached->rows[i] = table.FindOrCreate(keys[i]);
      return cached->rows[i];
    };
    // All pushes first, then all pulls: a key repeated in a fused request returns its row
    // after every one of its gradients, whatever the thread count.
    if (bounded()) {
      if (push)
        for (uint32_t i : (*positions)[part]) table.PushOrAdmit(keys + i, 1, grads + size_t{i} * width);
      if (pull)
        for (uint32_t i : (*positions)[part]) table.PullOrInit(keys + i, 1, pull_out + size_t{i} * width);
      return;
    }
    if (push) {
      for (uint32_t i : (*positions)[part]) opt.Apply(row_of(i), grads + size_t{i} * width, static_cast<int>(width));
      looked_up = cached != nullptr;
    }
    if (pull)
      for (uint32_t i : (*positions)[part]) std::memcpy(pull_out + size_t{i} * width, row_of(i), width * sizeof(float));
  });
}

void Server::ExecuteStoredRows(const Message& request, float* pull_out) {
  const MsgHeader& h = request.header;
  const uint32_t t = h.table;
  const size_t n = h.num_keys;
  const uint64_t* keys = request.keys(0);
  const bool add = request.type() == MsgType::kPushDelta;
  const float* deltas = add ? request.values(1) : nullptr;
  const uint32_t stored = h.val_len;  // validated: Placement::StoredRowWidth(t)
  if (placement_.table(t).dense) {
    DenseBlockStore& store = *dense_[t];
    const uint32_t width = placement_.RowWidth(t);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t block = static_cast<uint32_t>(keys[i]);  // ownership checked in Validate
      if (add) (void)store.AddStored(block, width, deltas + i * stored);
      else (void)store.PullStored(block, width, stored, pull_out + i * stored);
    }
    return;
  }
  const int dim = static_cast<int>(placement_.RowWidth(t));
  auto serve = [&](SparseTable& table, uint32_t i) {
    float* row = table.FindOrCreate(keys[i]);
    if (add) {
      const float* d = deltas + size_t{i} * stored;
      for (uint32_t j = 0; j < stored; ++j) row[j] += d[j];
      table.optimizer().AfterDelta(row, dim);
    } else {
      std::memcpy(pull_out + size_t{i} * stored, row, stored * sizeof(float));
    }
  };
  const int parts = pool_.parts();
  if (parts == 1) {
    for (uint32_t i = 0; i < n; ++i) serve(*shards_[0].sparse[t], i);
    return;
  }
  positions_.resize(parts);
  for (auto& p : positions_) p.clear();
  for (uint32_t i = 0; i < n; ++i) positions_[placement_.shards().SubShardOf(keys[i], parts, t)].push_back(i);
  pool_.Run([&](int part) {
    for (uint32_t i : positions_[part]) serve(*shards_[part].sparse[t], i);
  });
}

namespace {
void NoFree(void*, void*) {}  // frames viewing a peer's shared-memory slot own nothing
}  // namespace

Status Server::AttachSharedMemory(const Message& offer) {
  const int peer = offer.peer;
  if (peer < 0 || offer.frames.size() != 1) return Status::InvalidArgument("malformed shm-offer");
  const std::string name = offer.FrameString(0);
  // Only names of embark's own form: a peer must not make the server open arbitrary objects.
  if (!IsShmSegmentName(name)) return Status::InvalidArgument("shm-offer names '" + name.substr(0, 80) + "', not an embark segment");
  std::unique_ptr<ShmSegment> segment;
  EMBARK_RETURN_IF_ERROR(ShmSegment::Open(name, offer.header.shm_bytes, offer.header.aux, &segment));
  if (static_cast<int>(peer_shm_.size()) <= peer) peer_shm_.resize(peer + 1);
  peer_shm_[peer] = std::move(segment);
  return Status::OK();
}

Status Server::ViewSharedMemory(const Message& request, Message* view, float** out, uint64_t* out_offset) const {
  const MsgHeader& h = request.header;
  const int peer = request.peer;
  const ShmSlotLayout layout = ShmSlotLayout::For(request.type(), h.num_keys, h.val_len);
  if (!layout.valid) return Status::InvalidArgument(std::string(MsgTypeName(request.type())) + " messages cannot use shared memory");
  const ShmSegment* segment = peer >= 0 && peer < static_cast<int>(peer_shm_.size()) ? peer_shm_[peer].get() : nullptr;
  if (segment == nullptr)
    return Status::InvalidArgument("rank " + std::to_string(peer) + " named a shared-memory slot but offered no segment");
  if (!request.frames.empty() || h.num_frames != 0)
    return Status::InvalidArgument("a shared-memory request carries " + std::to_string(request.frames.size()) + " frames, expected none");
  if (h.shm_bytes != layout.bytes) {
    std::ostringstream m;
    m << "shared-memory slot of " << h.shm_bytes << " bytes from rank " << peer << ", but " << h.num_keys
      << " keys of " << h.val_len << " floats need " << layout.bytes;
    return Status::InvalidArgument(m.str());
  }
  const uint64_t capacity = segment->payload_bytes();
  if (h.shm_offset % SlotRing::kAlign != 0 || h.shm_offset > capacity || h.shm_bytes > capacity - h.shm_offset) {
    std::ostringstream m;
    m << "shared-memory slot [" << h.shm_offset << ", +" << h.shm_bytes << ") from rank " << peer
      << " is not a 64-byte-aligned range inside its " << capacity << "-byte segment";
    return Status::InvalidArgument(m.str());
  }
  uint8_t* slot = segment->payload() + h.shm_offset;
  view->header = h;
  view->peer = peer;
  view->frames.clear();
  view->frames.emplace_back(slot + layout.keys, size_t{h.num_keys} * 8, NoFree, nullptr);
  if (layout.has_values) view->frames.emplace_back(slot + layout.values, size_t{h.num_keys} * h.val_len * 4, NoFree, nullptr);
  view->header.num_frames = static_cast<uint32_t>(view->frames.size());
  *out = layout.has_out ? reinterpret_cast<float*>(slot + layout.out) : nullptr;
  *out_offset = h.shm_offset + layout.out;
  return Status::OK();
}

Status Server::Handle(const Message& incoming, MsgHeader* reply, std::vector<zmq::message_t>* frames) {
  frames->clear();
  auto reject = [&](const Status& st) {
    ++stats_.rejected;
    *reply = MakeHeader(MsgType::kError, 0, incoming.header.request_id);
    reply->table = incoming.header.table;
    reply->status = static_cast<uint32_t>(st.code());
    frames->emplace_back(st.message().data(), st.message().size());
    return st;
  };
  if (incoming.type() == MsgType::kShmOffer) {
    Status st = AttachSharedMemory(incoming);
    *reply = MakeHeader(MsgType::kShmAccept, 0, incoming.header.request_id);
    reply->status = static_cast<uint32_t>(st.code());
    if (!st.ok()) frames->emplace_back(st.message().data(), st.message().size());
    return st;
  }
  ++stats_.requests;
  {
    Status st = CheckRequestSize(incoming);
    if (!st.ok()) return reject(st);
  }
  // A shared-memory request is served through a view whose frames point into the slot, so
  // validation and the optimizer read the worker's arrays in place.
  Message shm_view;
  float* shm_out = nullptr;
  uint64_t shm_out_offset = 0;
  const bool shm = incoming.header.shm_bytes != 0;
  if (shm) {
    Status st = ViewSharedMemory(incoming, &shm_view, &shm_out, &shm_out_offset);
    if (!st.ok()) return reject(st);
    ++stats_.shm_requests;
  }
  const Message& request = shm ? shm_view : incoming;
  const MsgHeader& h = request.header;
  // Key sets are cached for sparse tables only (dense requests are a handful of blocks).
  const bool cacheable = cache_.enabled() && !bounded() && h.aux != 0 && !IsStoredRowRequest(static_cast<MsgType>(h.type)) &&
                         placement_.HasTable(h.table) &&
                         !placement_.table(h.table).dense && !request.frames.empty() &&
                         request.frames[0].size() == size_t{h.num_keys} * sizeof(uint64_t);
  KeySetCache::Entry* cached = cacheable ? cache_.Find(request.peer, h.table, h.aux, request.keys(0), h.num_keys) : nullptr;
  const bool hit = cached != nullptr;
  Status st = Validate(request, hit);
  if (!st.ok()) return reject(st);
  stats_.keys += h.num_keys;
  if (hit) ++stats_.cache_hits;
  if (cacheable && !hit) cached = cache_.Insert(request.peer, h.table, h.aux, request.keys(0), h.num_keys);
  const bool pull = request.type() != MsgType::kPush && request.type() != MsgType::kPushDelta;
  const bool counted_push = bounded() && request.type() != MsgType::kPull && !placement_.table(h.table).dense;
  // Bytes of arrays moved, whichever way they travel (frames or shared memory).
  const uint64_t value_bytes = uint64_t{h.num_keys} * h.val_len * sizeof(float);
  stats_.bytes_in += uint64_t{h.num_keys} * sizeof(uint64_t) + (request.frames.size() > 1 ? value_bytes : 0);
  if (pull) stats_.bytes_out += value_bytes;
  if (counted_push) {
    const uint32_t step = ++table_step_[h.table];
    for (auto& shard : shards_) shard.sparse[h.table]->set_step(step);
  }
  *reply = MakeHeader(pull ? MsgType::kPullReply : MsgType::kPushAck, 0, h.request_id);
  reply->table = h.table;
  reply->num_keys = h.num_keys;
  reply->val_len = h.val_len;
  if (pull && shm) {
    // The rows go straight into the slot's output area; the reply only says where.
    reply->shm_offset = shm_out_offset;
    reply->shm_bytes = uint64_t{h.num_keys} * h.val_len * sizeof(float);
    Execute(request, cached, hit, shm_out);
  } else if (pull) {
    // The reply buffer is allocated by ZeroMQ and filled in place: no copy before sending.
    // Within the cap it can still fail when memory is short: that is this request's error.
    try {
      frames->emplace_back(size_t{h.num_keys} * h.val_len * sizeof(float));
    } catch (const zmq::error_t& e) {
      frames->clear();
      return reject(Status::Internal("cannot allocate the " + std::to_string(uint64_t{h.num_keys} * h.val_len * 4) +
                                     "-byte reply: " + e.what()));
    }
    Execute(request, cached, hit, frames->back().data<float>());
  } else {
    Execute(request, cached, hit, nullptr);
  }
  if (counted_push) EnforceMemory(h.table);
  return Status::OK();
}

uint64_t Server::SubShardHeldBytes(int part) const {
  uint64_t bytes = 0;
  for (const auto& table : shards_[part].sparse)
    if (table) bytes += table->HeldBytes();
  return bytes;
}

void Server::EnforceMemory(int t) {
  const BoundedMemoryOptions& m = opts_.memory;
  // A row lives N to 1.25 N steps after its last push (sweeps every N/4 steps).
  const uint64_t ttl_sweep_every = std::max<uint64_t>(1, m.ttl_steps / 4);
  const bool ttl_sweep = t >= 0 && m.ttl_steps > 0 && table_step_[t] % ttl_sweep_every == 0;
  uint64_t held = fixed_bytes_;
  bool over = false;
  for (int part = 0; part < pool_.parts(); ++part) {
    const uint64_t b = SubShardHeldBytes(part);
    held += b;
    over |= sub_shard_budget_ > 0 && b > sub_shard_budget_;
  }
  peak_bytes_ = std::max(peak_bytes_, held);
  if (!ttl_sweep && !over) return;
  cache_.Clear();  // rows are about to be erased (the cache is off in bounded mode anyway)
  pool_.Run([&](int part) {
    if (ttl_sweep) shards_[part].sparse[t]->EvictIdle(static_cast<uint32_t>(m.ttl_steps + 1), SparseTable::EvictReason::kTtl);
    const uint64_t bytes = SubShardHeldBytes(part);
    if (sub_shard_budget_ == 0 || bytes <= sub_shard_budget_) return;
    // Down to the low watermark, 90 % of the share: the next sweep is 10 % of the budget away.
    const uint64_t target = sub_shard_budget_ / 10 * 9;
    std::vector<SparseTable*> tables;
    for (const auto& table : shards_[part].sparse) tables.push_back(table.get());
    EvictColdest(tables, bytes - target);
  });
}

MemoryStats Server::Memory(int table) const {
  MemoryStats s;
  for (const auto& shard : shards_) {
    for (size_t t = 0; t < shard.sparse.size(); ++t) {
      const SparseTable* st = shard.sparse[t].get();
      if (st == nullptr || (table >= 0 && static_cast<size_t>(table) != t)) continue;
      s.rows_held += st->size();
      s.admitted += st->counters().admitted;
      s.rejected_pushes += st->counters().rejected_pushes;
      s.evicted_ttl += st->counters().evicted_ttl;
      s.evicted_memory += st->counters().evicted_memory;
      s.held_bytes += st->HeldBytes();
    }
  }
  if (table < 0) {
    s.held_bytes += fixed_bytes_;
    s.peak_bytes = std::max(peak_bytes_, s.held_bytes);
  }
  return s;
}

std::string Server::OnEpochEnd() {
  const uint32_t ttl = opts_.memory.ttl_epochs;
  for (size_t t = 0; t < placement_.tables().size(); ++t) {
    if (placement_.table(t).dense) continue;
    std::vector<uint32_t>& ends = epoch_end_steps_[t];
    ends.push_back(table_step_[t]);
    if (ttl == 0 || ends.size() < ttl) continue;
    // Evict the rows not pushed during the last `ttl` epochs: stamps up to the step at the end
    // of epoch E - ttl (0, the start, when E == ttl).
    const uint32_t before = ends.size() == ttl ? 0 : ends[ends.size() - 1 - ttl];
    const uint32_t min_age = table_step_[t] - before;
    cache_.Clear();
    pool_.Run([&](int part) { shards_[part].sparse[t]->EvictIdle(min_age, SparseTable::EvictReason::kTtl); });
  }
  const MemoryStats m = Memory();
  std::ostringstream out;
  out << "rows_held=" << m.rows_held << " rows_admitted=" << m.admitted << " rejected_pushes=" << m.rejected_pushes
      << " rows_evicted_ttl=" << m.evicted_ttl << " rows_evicted_memory=" << m.evicted_memory
      << " held_bytes=" << m.held_bytes << " peak_bytes=" << m.peak_bytes;
  return out.str();
}

std::string Server::MemoryStartReport() const {
  std::ostringstream out;
  out << "server " << server_index_ << " memory start: budget_bytes=" << opts_.memory.budget_bytes
      << " fixed_bytes=" << fixed_bytes_ << " sub_shards=" << pool_.parts();
  for (size_t t = 0; t < placement_.tables().size(); ++t) {
    const TableConfig& cfg = placement_.table(t);
    out << " | " << cfg.name;
    if (cfg.dense) {
      out << " dense_bytes=" << dense_[t]->MemoryBytes();
      continue;
    }
    const SparseTable& table = *shards_[0].sparse[t];
    // Index slots are 16 bytes at a load of 5/8 (just before the index doubles) to 5/16 (just
    // after): 26 to 51 bytes per row.
    out << " bytes_per_row=" << table.RowBytes() + 26 << " weights=" << cfg.dim * sizeof(float)
        << " optimizer=" << (table.row_floats() - cfg.dim) * sizeof(float)
        << " stamp=" << table.RowBytes() - table.row_floats() * sizeof(float) << " index=26..51";
  }
  return out.str();
}

std::string Server::MemoryEndReport() const {
  const MemoryStats m = Memory();
  std::ostringstream out;
  out << "server " << server_index_ << " memory end: rows_held=" << m.rows_held << " rows_admitted=" << m.admitted
      << " rejected_pushes=" << m.rejected_pushes << " rows_evicted_ttl=" << m.evicted_ttl
      << " rows_evicted_memory=" << m.evicted_memory << " held_bytes=" << m.held_bytes << " peak_bytes=" << m.peak_bytes
      << " budget_bytes=" << opts_.memory.budget_bytes;
  for (size_t t = 0; t < placement_.tables().size(); ++t) {
    if (placement_.table(t).dense) continue;
    const MemoryStats s = Memory(static_cast<int>(t));
    out << " | " << placement_.table(t).name << " rows_held=" << s.rows_held << " rows_admitted=" << s.admitted
        << " rejected_pushes=" << s.rejected_pushes << " rows_evicted_ttl=" << s.evicted_ttl
        << " rows_evicted_memory=" << s.evicted_memory;
  }
  return out.str();
}

// Floats per row in a checkpoint: a sparse row, or the widest block of a dense table (blocks of
// one table differ only in the last one's length).
uint32_t Server::CheckpointRowFloats(uint32_t t) const {
  const TableConfig& cfg = placement_.table(t);
  if (!cfg.dense) return static_cast<uint32_t>(shards_[0].sparse[t]->row_floats());
  const uint32_t width = placement_.RowWidth(t);
  return width + static_cast<uint32_t>(Optimizer::Create(cfg.optimizer)->StateFloats(static_cast<int>(width)));
}

namespace {
uint64_t RowHash(uint64_t key, const float* row, size_t floats) {
  return HashCombine(key, HashBytes(std::string_view(reinterpret_cast<const char*>(row), floats * sizeof(float))));
}
}  // namespace

void Server::RecordRowHashes() {
  for (auto& shard : shards_) {
    shard.saved_hash.resize(placement_.tables().size());
    for (size_t t = 0; t < placement_.tables().size(); ++t) {
      if (!shard.sparse[t]) continue;
      const SparseTable& table = *shard.sparse[t];
      std::vector<uint64_t>& hashes = shard.saved_hash[t];
      hashes.assign(table.ordinal_bound(), 0);
      table.ForEachWithOrdinal([&](uint64_t key, const float* row, size_t ordinal) {
        hashes[ordinal] = RowHash(key, row, table.row_floats());
      });
    }
  }
}

Status Server::SaveShard(const std::string& path, uint64_t* checksum, bool delta) {
  std::vector<std::string> names;
  std::vector<bool> dense;
  std::vector<uint32_t> floats;
  for (uint32_t t = 0; t < placement_.tables().size(); ++t) {
    names.push_back(placement_.table(t).name);
    dense.push_back(placement_.table(t).dense);
    floats.push_back(CheckpointRowFloats(t));
  }
  // New hashes are kept aside and adopted only once the file is written.
  std::vector<std::vector<std::vector<uint64_t>>> hashes(shards_.size());
  uint64_t rows_written = 0;
  Status st = WriteShardFile(path, names, dense, floats, [&](const std::function<void(const ShardRow&)>& emit) {
    for (size_t t = 0; t < placement_.tables().size(); ++t) {
      const uint32_t table = static_cast<uint32_t>(t);
      if (dense[t]) {
        dense_[t]->ForEach([&](const DenseBlock& b, const float* row) {
          emit({table, b.block, row, static_cast<uint32_t>(dense_[t]->RowFloats(b.block))});
          ++rows_written;
        });
        continue;
      }
      for (size_t s = 0; s < shards_.size(); ++s) {
        const SparseTable& sparse = *shards_[s].sparse[t];
        const uint32_t n = static_cast<uint32_t>(sparse.row_floats());
        const std::vector<uint64_t>* old = shards_[s].saved_hash.size() > t ? &shards_[s].saved_hash[t] : nullptr;
        hashes[s].resize(placement_.tables().size());
        std::vector<uint64_t>& now = hashes[s][t];
        now.assign(sparse.ordinal_bound(), 0);
        sparse.ForEachWithOrdinal([&](uint64_t key, const float* row, size_t ordinal) {
          const uint64_t h = RowHash(key, row, n);
          now[ordinal] = h;
          // A row created since the last save has no old hash and is always written.
          const bool changed = !delta || old == nullptr || ordinal >= old->size() || (*old)[ordinal] != h;
          if (!changed) return;
          emit({table, key, row, n});
          ++rows_written;
        });
      }
    }
  }, checksum);
  if (!st.ok()) return st;
  for (size_t s = 0; s < shards_.size(); ++s) shards_[s].saved_hash = std::move(hashes[s]);
  LOG(INFO) << "server " << server_index_ << " wrote " << (delta ? "delta" : "full") << " checkpoint shard " << path << ": "
            << rows_written << " rows";
  return Status::OK();
}

Status Server::LoadShards(const std::vector<std::string>& paths, const std::vector<uint64_t>* expected_checksums) {
  std::vector<std::string> names;
  std::vector<uint32_t> floats;
  for (uint32_t t = 0; t < placement_.tables().size(); ++t) {
    names.push_back(placement_.table(t).name);
    floats.push_back(CheckpointRowFloats(t));
  }
  cache_.Clear();  // rows are about to be overwritten
  size_t loaded = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    const uint64_t* expected = expected_checksums != nullptr && i < expected_checksums->size() ? &(*expected_checksums)[i] : nullptr;
    EMBARK_RETURN_IF_ERROR(ReadShardFile(path, names, floats, [&](const ShardRow& r) -> Status {
      // A dense key is a block index of this table's layout. One past the layout (2^32 + b
      // among them: the store indexes blocks in 32 bits) is damage, not another server's
      // block: skipping it would restore the block's initial values without a word.
      if (placement_.table(r.table).dense && r.key >= placement_.DenseLayout(r.table).size())
        return Status::Corruption("checkpoint shard " + path + ": dense block " + std::to_string(r.key) + " of table " +
                                  names[r.table] + " is out of range (the table has " +
                                  std::to_string(placement_.DenseLayout(r.table).size()) + " blocks)");
      if (placement_.ServerOf(r.table, r.key) != server_index_) return Status::OK();  // another server's row now
      ++loaded;
      if (placement_.table(r.table).dense) {
        if (r.floats != dense_[r.table]->RowFloats(static_cast<uint32_t>(r.key)))
          return Status::Corruption("checkpoint shard " + path + ": dense block " + std::to_string(r.key) + " has the wrong size");
        return dense_[r.table]->AssignRow(static_cast<uint32_t>(r.key), r.row);
      }
      if (r.floats != floats[r.table])
        return Status::Corruption("checkpoint shard " + path + ": a row of table " + names[r.table] + " has " +
                                  std::to_string(r.floats) + " floats, expected " + std::to_string(floats[r.table]));
      const int part = placement_.shards().SubShardOf(r.key, pool_.parts(), r.table);
      shards_[part].sparse[r.table]->AssignRows(&r.key, 1, r.row);
      return Status::OK();
    }, expected));
  }
  // The next delta is relative to what was just restored.
  RecordRowHashes();
  LOG(INFO) << "server " << server_index_ << " restored " << loaded << " rows from " << paths.size() << " shard files";
  return Status::OK();
}

void Server::ServeCheckpointRequests() {
  std::string payload;
  if (control_->WaitApp(kServerSave, &payload, 0).ok()) {
    // "PATH" (a full shard) or "PATH\ndelta".
    const size_t nl = payload.find('\n');
    const std::string path = payload.substr(0, nl);
    const bool delta = nl != std::string::npos && payload.substr(nl + 1) == "delta";
    uint64_t checksum = 0;
    Status st = SaveShard(path, &checksum, delta);
    (void)control_->SendToScheduler(kServerSaved, st.ok() ? "ok " + std::to_string(checksum) : st.ToString());
  }
  if (control_->WaitApp(kServerLoad, &payload, 0).ok()) {
    // One shard file per line, in load order, optionally followed by its MANIFEST checksum.
    std::vector<std::string> paths;
    std::vector<uint64_t> checksums;
    bool all_checksums = true;
    std::stringstream in(payload);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const size_t sp = line.rfind(' ');
      if (sp == std::string::npos) {
        paths.push_back(line);
        all_checksums = false;
      } else {
        paths.push_back(line.substr(0, sp));
        checksums.push_back(std::strtoull(line.c_str() + sp + 1, nullptr, 10));
      }
    }
    Status st = LoadShards(paths, all_checksums ? &checksums : nullptr);
    if (st.ok() && bounded()) EnforceMemory(-1);  // restored rows may exceed the budget
    (void)control_->SendToScheduler(kServerLoaded, st.ok() ? "ok" : st.ToString());
  }
  if (control_->WaitApp(kServerEpochEnd, &payload, 0).ok()) {
    (void)control_->SendToScheduler(kServerMemory, "epoch=" + payload + " " + OnEpochEnd());
  }
}

Status Server::Run() {
  std::ostringstream layout;
  for (size_t t = 0; t < placement_.tables().size(); ++t) {
    const TableConfig& cfg = placement_.table(t);
    layout << (t ? "; " : "") << cfg.name << " ";
    if (cfg.dense) {
      layout << "dense " << cfg.dense_size << " floats";
    } else {
      const SparseTable& table = *shards_[0].sparse[t];
      layout << table.BytesPerRow() << " bytes/row (" << cfg.dim << " weights + "
             << table.row_floats() - cfg.dim << " optimizer floats + index)";
    }
  }
  LOG(INFO) << "server " << server_index_ << " serving " << placement_.tables().size() << " tables with "
            << pool_.parts() << " sub-shard threads: " << layout.str();
  if (bounded()) LOG(INFO) << MemoryStartReport();
  while (!control_->shutdown_requested()) {
    Message msg;
    auto res = transport_->Poll(100, &msg);
    control_->NoteProgress();
    if (res.event == Transport::Event::kPeerDisconnected) {
      control_->OnPeerDisconnected(res.peer);
      continue;
    }
    if (res.event == Transport::Event::kBadMessage) {
      LOG(WARNING) << "server " << server_index_ << ": bad message from "
                   << (res.peer >= 0 ? control_->table().Describe(res.peer) : std::string("an unknown peer"))
                   << ": " << res.status.ToString();
      if (res.peer >= 0 && transport_->IsConnected(res.peer)) {
        MsgHeader h = MakeHeader(MsgType::kError, 0);
        h.status = static_cast<uint32_t>(res.status.code());
        (void)transport_->SendString(res.peer, h, res.status.message());
      }
      continue;
    }
    if (res.event != Transport::Event::kMessage) continue;
    if (control_->Handle(msg)) {
      if (msg.type() == MsgType::kApp) ServeCheckpointRequests();
      continue;
    }
    MsgHeader reply;
    std::vector<zmq::message_t> frames;
    Status st;
    try {
      st = Handle(msg, &reply, &frames);
    } catch (const std::exception& e) {
      // Whatever one request did (an allocation that failed), the server goes on serving.
      st = Status::Internal(std::string("request failed: ") + e.what());
      frames.clear();
      reply = MakeHeader(MsgType::kError, 0, msg.header.request_id);
      reply.table = msg.header.table;
      reply.status = static_cast<uint32_t>(st.code());
      frames.emplace_back(st.message().data(), st.message().size());
    }
    if (!st.ok()) {
      LOG(WARNING) << "server " << server_index_ << ": rejected a " << MsgTypeName(msg.type()) << " from "
                   << control_->table().Describe(msg.peer) << ": " << st.message();
    }
    if (!transport_->IsConnected(msg.peer)) {
      LOG(WARNING) << "server " << server_index_ << ": cannot reply to rank " << msg.peer << " (not a worker)";
      continue;
    }
    Status sent = transport_->Send(msg.peer, reply, &frames);
    if (!sent.ok()) LOG(WARNING) << "server " << server_index_ << ": reply failed: " << sent.ToString();
  }
  size_t bytes = 0;
  for (const auto& shard : shards_)
    for (const auto& table : shard.sparse)
      if (table) bytes += table->MemoryBytes();
  for (const auto& store : dense_)
    if (store) bytes += store->MemoryBytes();
  LOG(INFO) << "server " << server_index_ << " done: " << bytes / (1 << 20) << " MiB of tables, " << stats_.requests << " requests, " << stats_.keys
            << " keys, " << stats_.rejected << " rejected, " << stats_.cache_hits << " key-set cache hits, "
            << stats_.shm_requests << " through shared memory, " << stats_.bytes_in << " bytes in, " << stats_.bytes_out
            << " bytes out; " << Report();
  if (bounded()) LOG(INFO) << MemoryEndReport();
  control_->AckShutdown();
  return Status::OK();
}

}  // namespace embark
