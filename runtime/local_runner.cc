#include "runtime/local_runner.h"

#include <glog/logging.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "partition/shard_map.h"
#include "ps/placement.h"
#include "ps/server.h"
#include "scheduler/train_app.h"
#include "worker/kv_client.h"
#include "worker/train_protocol.h"
#include "worker/trainer.h"

namespace embark {

namespace {

constexpr int kServerRank = 1;  // rank 0 scheduler, rank 1 the server, rank 2 the worker
constexpr int kWorkerRank = 2;

// Both ends of the scheduler link in one process: the worker's AppChannel and the app's
// SchedulerHandle. Messages to the scheduler call the app at once; messages to the worker
// are queued for WaitApp; messages to the server (bounded memory's epoch end) are answered by
// the server at once and the answer is given to the app after its current callback returns.
class LocalLink : public AppChannel, public SchedulerHandle {
 public:
  LocalLink(SchedulerApp* app, Server* server) : app_(app), server_(server) {
    table_.num_servers = 1;
    table_.num_workers = 1;
    for (int r = 0; r < 3; ++r) {
      NodeInfo n;
      n.rank = r;
      n.role = RoleOfRank(r, 1, &n.role_index);
      n.host = "local";
      table_.nodes.push_back(n);
    }
  }

  // AppChannel (worker side)
  Status Barrier(BarrierGroup, double) override { return Status::OK(); }  // one worker
  Status SendToScheduler(uint64_t subtype, const std::string& payload) override {
    Message msg;
    msg.header = MakeHeader(MsgType::kApp, kWorkerRank);
    msg.header.aux = subtype;
    msg.header.num_frames = 1;
    msg.frames.emplace_back(payload.data(), payload.size());
    msg.peer = kWorkerRank;
    app_->OnApp(this, msg);
    while (!to_scheduler_from_server_.empty()) {
      Message reply;
      reply.header = MakeHeader(MsgType::kApp, kServerRank);
      reply.header.aux = to_scheduler_from_server_.front().first;
      reply.header.num_frames = 1;
      const std::string& text = to_scheduler_from_server_.front().second;
      reply.frames.emplace_back(text.data(), text.size());
      reply.peer = kServerRank;
      to_scheduler_from_server_.pop_front();
      app_->OnApp(this, reply);
    }
    app_->OnTick(this);
    return Status::OK();
  }
  Status WaitApp(uint64_t subtype, std::string* payload, double) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto& q = inbox_[subtype];
    if (q.empty()) return Status::Timeout("no message from the (local) scheduler");
    *payload = std::move(q.front());
    q.pop_front();
    return Status::OK();
  }

  // SchedulerHandle (app side)
  const ClusterTable& table() const override { return table_; }
  Status SendApp(int rank, uint64_t subtype, const std::string& payload) override {
    if (rank == kServerRank) {
      // Runs on the worker's thread inside SendToScheduler, between its requests.
      if (subtype != kServerEpochEnd) return Status::InvalidArgument("the single-process server only takes epoch ends");
      to_scheduler_from_server_.emplace_back(kServerMemory, "epoch=" + payload + " " + server_->OnEpochEnd());
      return Status::OK();
    }
    std::lock_guard<std::mutex> lock(mu_);
    inbox_[subtype].push_back(payload);
    return Status::OK();
  }
  Status BroadcastAppToWorkers(uint64_t subtype, const std::string& payload) override {
    return SendApp(kWorkerRank, subtype, payload);
  }
  [[noreturn]] void Abort(const std::string& reason, int code) override { DieNow("training failed: " + reason, code); }

 private:
  SchedulerApp* const app_;
  Server* const server_;
  std::deque<std::pair<uint64_t, std::string>> to_scheduler_from_server_;
  ClusterTable table_;
  std::mutex mu_;
  std::map<uint64_t, std::deque<std::string>> inbox_;
};

}  // namespace

int RunLocalTrain(const TrainOptions& opts, const Model& model, uint64_t seed) {
  const std::vector<TableConfig> tables = model.Tables();
  Placement placement(ShardMap::Balanced(1), tables);
  ServerOptions sopts;
  sopts.seed = seed;
  sopts.memory = opts.server_memory;
  Server server(nullptr, nullptr, placement, 0, sopts);
  if (opts.server_memory.enabled()) LOG(INFO) << server.MemoryStartReport();
  KVClient kv(nullptr, nullptr, placement, 60);
  kv.AttachLocalServer(&server);

  TrainApp app(opts);
  LocalLink link(&app, &server);
  app.OnStart(&link);
  WorkerContext ctx{&kv, &link, 0, 1, 1};
  Trainer trainer(opts, model, ctx);
  Status st = trainer.Run();
  if (!st.ok()) DieNow("training failed: " + st.ToString(), st.code() == Status::Code::kTimeout ? kExitAborted : kExitUsage);
  LOG(INFO) << "single-process server: " << server.Report();
  if (opts.server_memory.enabled()) LOG(INFO) << server.MemoryEndReport();
  return app.OnAllWorkersDone(&link);
}

}  // namespace embark
