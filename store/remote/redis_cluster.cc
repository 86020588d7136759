#include <algorithm>
#include <cstdio>

#include "store/parallel.h"
#include "store/remote/redis_cluster_internal.h"

namespace kvstash {

namespace {

constexpr int kMaxRedirections = 3;

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": false if `text`
// is neither.
bool ParseRedirect(std::string_view text, bool* ask, uint16_t* slot, RedisNodeAddress* to) {
  if (text.rfind("MOVED ", 0) == 0) {
    *ask = false;
    text.remove_prefix(6);
  } else if (text.rfind("ASK ", 0) == 0) {
    *ask = true;
    text.remove_prefix(4);
  } else {
    return false;
  }
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return false;
  const std::string slot_text(text.substr(0, space));
  const std::string node(text.substr(space + 1));
  const size_t colon = node.rfind(':');
  if (colon == std::string::npos) return false;
  char* end = nullptr;
  const unsigned long s = std::strtoul(slot_text.c_str(), &end, 10);
  if (*end != '\0' || s >= kRedisSlots) return false;
  const unsigned long port = std::strtoul(node.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port == 0 || port > 65535) return false;
  *slot = static_cast<uint16_t>(s);
  to->host = node.substr(0, colon);
  to->port = static_cast<uint16_t>(port);
  return true;
}

}  // namespace

struct RedisCluster::Node {
  explicit Node(RedisNodeAddress a) : address(std::move(a)) {}
  const RedisNodeAddress address;
  Mutex mu;
  std::vector<std::unique_ptr<RedisConnection>> idle KVSTASH_GUARDED_BY(mu);
  std::chrono::steady_clock::time_point down_until KVSTASH_GUARDED_BY(mu){};
  bool warned KVSTASH_GUARDED_BY(mu) = false;  // one warning per outage
  std::atomic<uint64_t> failures{0};
};

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(std::move(options)) {
  refresher_ = std::thread([this] { RefreshLoop(); });
}

RedisCluster::~RedisCluster() {
  {
    MutexLock lock(&refresh_mu_);
    stopping_ = true;
  }
  refresh_cv_.SignalAll();
  refresher_.join();
}

RedisCluster::Node* RedisCluster::NodeFor(const RedisNodeAddress& address) {
  for (const auto& n : nodes_) {
    if (n->address == address) return n.get();
  }
  nodes_.push_back(std::make_unique<Node>(address));
  return nodes_.back().get();
}

RedisCluster::Node* RedisCluster::NodeForLocked(const RedisNodeAddress& address) {
  MutexLock lock(&map_mu_);
  return NodeFor(address);
}

Result<std::unique_ptr<RedisConnection>> RedisCluster::TakeConnection(Node* node, bool* reused) {
  {
    MutexLock lock(&node->mu);
    if (std::chrono::steady_clock::now() < node->down_until) {
      return Status::IOError("redis node " + node->address.ToString() +
                             " failed moments ago; not asked again yet");
    }
    if (!node->idle.empty()) {
      std::unique_ptr<RedisConnection> conn = std::move(node->idle.back());
      node->idle.pop_back();
      *reused = true;
      return conn;
    }
  }
  *reused = false;
  auto conn = RedisConnection::Open(node->address, options_);
  if (!conn.ok()) {
    MarkDown(node, conn.status());
    return conn.status();
  }
  MutexLock lock(&node->mu);
  if (node->warned) {
    std::fprintf(stderr, "kvstash: redis node %s answers again\n",
                 node->address.ToString().c_str());
    node->warned = false;
  }
  return conn;
}

void RedisCluster::ReturnConnection(Node* node, std::unique_ptr<RedisConnection> conn) {
  if (conn->broken()) return;
  MutexLock lock(&node->mu);
  if (node->idle.size() < options_.max_idle_connections_per_node) {
    node->idle.push_back(std::move(conn));
  }
}

void RedisCluster::MarkDown(Node* node, const Status& why) {
  ++failures_;
  ++node->failures;
  {
    MutexLock lock(&node->mu);
    node->down_until = std::chrono::steady_clock::now() + options_.retry_after;
    node->idle.clear();  // the node may have restarted: its old connections are dead
    if (!node->warned) {
      node->warned = true;
      std::fprintf(stderr,
                   "kvstash: warning: %s; the blocks it holds are misses until it answers\n",
                   why.message().c_str());
    }
  }
  WantRefresh();
}

void RedisCluster::WantRefresh() {
  {
    MutexLock lock(&refresh_mu_);
    refresh_wanted_ = true;
  }
  refresh_cv_.Signal();
}

void RedisCluster::RefreshLoop() {
  refresh_mu_.Lock();
  while (!stopping_) {
    if (!refresh_wanted_) {
      refresh_cv_.Wait(&refresh_mu_);
      continue;
    }
    refresh_wanted_ = false;
    refresh_mu_.Unlock();
    const Status s = Refresh();
    refresh_mu_.Lock();
    // A cluster that does not answer is asked again after retry_after, for
    // as long as it does not (nodes come back; a replica takes over).
    if (!s.ok() && !stopping_) {
      refresh_wanted_ = true;
      refresh_cv_.WaitFor(&refresh_mu_, options_.retry_after);
    }
  }
  refresh_mu_.Unlock();
}

Status RedisCluster::LoadSlotsFrom(Node* node) {
  bool reused = false;
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> conn, TakeConnection(node, &reused));
  auto reply = conn->Command({"CLUSTER", "SLOTS"});
  if (!reply.ok()) {
    MarkDown(node, reply.status());
    return reply.status();
  }
  struct SlotRange {
    size_t first, last;  // [first, last]
    RedisNodeAddress master;
  };
  std::vector<SlotRange> ranges;
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_ERROR) {
    const std::string text(ReplyText(r));
    ReturnConnection(node, std::move(conn));
    if (text.find("cluster support disabled") == std::string::npos) {
      return Status::IOError("redis node " + node->address.ToString() +
                             " answered CLUSTER SLOTS with " + text);
    }
    // A single Redis without cluster mode serves every slot itself.
    MutexLock lock(&map_mu_);
    slots_.fill(node);
    have_map_ = true;
    return Status::OK();
  }
  if (r.type != REDIS_REPLY_ARRAY) {
    return Status::IOError("redis node " + node->address.ToString() +
                           ": CLUSTER SLOTS reply is not an array");
  }
  for (size_t i = 0; i < r.elements; ++i) {
    const redisReply* e = r.element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
        e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
        e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
      return Status::IOError("redis node " + node->address.ToString() +
                             ": malformed CLUSTER SLOTS entry");
    }
    const long long first = e->element[0]->integer;
    const long long last = e->element[1]->integer;
    const long long port = e->element[2]->element[1]->integer;
    if (first < 0 || last >= kRedisSlots || first > last || port <= 0 || port > 65535) {
      return Status::IOError("redis node " + node->address.ToString() +
                             ": CLUSTER SLOTS entry out of range");
    }
    RedisNodeAddress master;
    master.host = std::string(ReplyText(*e->element[2]->element[0]));
    // An empty or "?" endpoint: the node does not know its own address;
    // it is the one asked.
    if (master.host.empty() || master.host == "?") master.host = node->address.host;
    master.port = static_cast<uint16_t>(port);
    ranges.push_back({static_cast<size_t>(first), static_cast<size_t>(last), std::move(master)});
  }
  ReturnConnection(node, std::move(conn));
  MutexLock lock(&map_mu_);
  slots_.fill(nullptr);  // a slot in no range is unserved
  for (const SlotRange& range : ranges) {
    std::fill(slots_.begin() + range.first, slots_.begin() + range.last + 1, NodeFor(range.master));
  }
  have_map_ = true;
  return Status::OK();
}

Status RedisCluster::Refresh() {
  MutexLock one_at_a_time(&refresh_run_mu_);
  refreshed_once_ = true;
  std::vector<Node*> candidates;
  {
    MutexLock lock(&map_mu_);
    for (Node* n : slots_) {
      if (n != nullptr && std::find(candidates.begin(), candidates.end(), n) == candidates.end()) {
        candidates.push_back(n);
      }
    }
    for (const RedisNodeAddress& seed : options_.seeds) {
      Node* n = NodeFor(seed);
      if (std::find(candidates.begin(), candidates.end(), n) == candidates.end()) {
        candidates.push_back(n);
      }
    }
  }
  Status last = Status::IOError("redis cluster " + DescribeRedisSeeds(options_) + ": no node");
  for (Node* n : candidates) {
    last = LoadSlotsFrom(n);
    if (last.ok()) return last;
    if (last.IsInvalidArgument()) return last;  // credentials refused: every node would say so
  }
  return last;
}

bool RedisCluster::EnsureMap() {
  {
    MutexLock lock(&map_mu_);
    if (have_map_) return true;
  }
  // After one failed try, requests do not wait for the cluster: the
  // background thread keeps asking it.
  if (refreshed_once_.exchange(true)) {
    WantRefresh();
    return false;
  }
  (void)Refresh();
  MutexLock lock(&map_mu_);
  return have_map_;
}

void RedisCluster::RunOnNodeGroup(Node* node, const std::vector<size_t>& indices,
                                  const std::vector<Target>& targets,
                                  const std::vector<Command>& commands, const ReplySink& sink,
                                  Mutex* redirect_mu, std::vector<Redirect>* redirects) {
  size_t done = 0;  // indices answered (sink called or redirected)
  // A pooled connection may have died idle (the node restarted): a failure
  // before its first reply is tried once more on a new connection.
  for (int attempt = 0; attempt < 2 && done < indices.size(); ++attempt) {
    bool reused = false;
    auto conn = TakeConnection(node, &reused);
    if (!conn.ok()) break;
    bool failed = false;
    while (done < indices.size() && !failed) {
      const size_t end = std::min(indices.size(), done + options_.max_pipeline);
      for (size_t k = done; k < end; ++k) {
        if (targets[indices[k]].asking) (*conn)->Append({"ASKING"});
        (*conn)->Append(commands[indices[k]].argv);
      }
      for (size_t k = done; k < end; ++k) {
        const size_t i = indices[k];
        Result<RedisReply> reply = (*conn)->Read();
        if (reply.ok() && targets[i].asking) reply = (*conn)->Read();  // past ASKING's +OK
        if (!reply.ok()) {
          if (reused && done == 0) {
            // Retried on a new connection; the other pooled ones date from
            // the same time (the node restarted?): dropped too.
            MutexLock lock(&node->mu);
            node->idle.clear();
            failed = true;
            break;
          }
          MarkDown(node, reply.status());
          for (size_t j = k; j < indices.size(); ++j) sink(indices[j], reply.status());
          return;
        }
        if ((*reply)->type == REDIS_REPLY_ERROR) {
          Redirect r{i, false, 0, {}};
          if (ParseRedirect(ReplyText(**reply), &r.ask, &r.slot, &r.to)) {
            ++redirections_;
            MutexLock lock(redirect_mu);
            redirects->push_back(std::move(r));
            ++done;
            continue;
          }
        }
        sink(i, std::move(*reply));
        ++done;
      }
    }
    if (!failed) {
      ReturnConnection(node, std::move(*conn));
      return;
    }
  }
  if (done < indices.size()) {
    Status down = Status::IOError("redis node " + node->address.ToString() + " unavailable");
    for (size_t j = done; j < indices.size(); ++j) sink(indices[j], down);
  }
}

void RedisCluster::Run(const std::vector<Command>& commands, size_t max_threads,
                       const ReplySink& sink) {
  if (commands.empty()) return;
  if (!EnsureMap()) {
    Status none =
        Status::IOError("redis cluster " + DescribeRedisSeeds(options_) + ": no node answers");
    for (size_t i = 0; i < commands.size(); ++i) sink(i, none);
    return;
  }
  std::vector<Target> targets(commands.size());
  std::vector<size_t> pending(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) pending[i] = i;
  {
    MutexLock lock(&map_mu_);
    for (size_t i : pending) targets[i].node = slots_[RedisKeySlot(commands[i].key)];
  }
  for (int round = 0; !pending.empty(); ++round) {
    std::vector<std::pair<Node*, std::vector<size_t>>> groups;
    for (size_t i : pending) {
      Node* n = targets[i].node;
      if (n == nullptr) {
        sink(i, Status::IOError("redis cluster: no node serves slot " +
                                std::to_string(RedisKeySlot(commands[i].key))));
        continue;
      }
      auto it =
          std::find_if(groups.begin(), groups.end(), [n](const auto& g) { return g.first == n; });
      if (it == groups.end()) {
        groups.emplace_back(n, std::vector<size_t>{i});
      } else {
        it->second.push_back(i);
      }
    }
    Mutex redirect_mu;
    std::vector<Redirect> redirects;
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t g; (g = next.fetch_add(1)) < groups.size();) {
        RunOnNodeGroup(groups[g].first, groups[g].second, targets, commands, sink, &redirect_mu,
                       &redirects);
      }
    };
    RunOnThreads(std::min(std::max<size_t>(max_threads, 1), groups.size()), work);

    pending.clear();
    bool moved = false;
    for (const Redirect& r : redirects) {
      if (round + 1 >= kMaxRedirections) {
        sink(r.index, Status::IOError("redis cluster: slot " + std::to_string(r.slot) +
                                      " still redirected after " +
                                      std::to_string(kMaxRedirections) + " tries"));
        continue;
      }
      MutexLock lock(&map_mu_);
      Node* to = NodeFor(r.to);
      targets[r.index] = {to, r.ask};
      // MOVED: the slot lives there now. ASK: only this command goes there
      // (the slot is being migrated); the map stays.
      if (!r.ask) {
        slots_[r.slot] = to;
        moved = true;
      }
      pending.push_back(r.index);
    }
    if (moved) WantRefresh();
  }
}

Result<RedisReply> RedisCluster::RunOne(const Command& command) {
  Result<RedisReply> out = Status::IOError("no reply");
  Run({command}, 1, [&](size_t, Result<RedisReply> reply) { out = std::move(reply); });
  return out;
}

Result<RedisReply> RedisCluster::RunOnNode(const RedisNodeAddress& address,
                                           const std::vector<std::string_view>& argv) {
  Node* node = NodeForLocked(address);
  bool reused = false;
  KVSTASH_ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> conn, TakeConnection(node, &reused));
  auto reply = conn->Command(argv);
  if (!reply.ok()) {
    MarkDown(node, reply.status());
    return reply.status();
  }
  ReturnConnection(node, std::move(conn));
  return reply;
}

std::vector<RedisCluster::MasterView> RedisCluster::Masters() {
  (void)EnsureMap();
  std::vector<MasterView> out;
  std::vector<Node*> order;
  {
    MutexLock lock(&map_mu_);
    for (Node* n : slots_) {
      if (n == nullptr) continue;
      auto it = std::find(order.begin(), order.end(), n);
      if (it == order.end()) {
        order.push_back(n);
        out.push_back({n->address, 1, 0, false});
      } else {
        ++out[it - order.begin()].slots;
      }
    }
  }
  const auto now = std::chrono::steady_clock::now();
  for (size_t i = 0; i < order.size(); ++i) {
    out[i].failures = order[i]->failures.load();
    MutexLock lock(&order[i]->mu);
    out[i].down = now < order[i]->down_until;
  }
  return out;
}

}  // namespace kvstash
