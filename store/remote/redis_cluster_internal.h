// RedisCluster: a Redis Cluster client on hiredis, for the remote tier
// (redis_cluster_tier.h). It keeps the slot map (CLUSTER SLOTS), routes each
// command to the master serving its key's slot, pipelines the commands for
// one node and talks to several nodes at once, and follows MOVED and ASK
// redirections.
//
// Failures never hang or throw: a node that cannot be reached or fails
// mid-reply makes its commands fail with IOError (the tier counts them as
// misses) and is not asked again for `retry_after`; a slot no node serves
// fails the same way. Any failure or MOVED asks a background thread to
// reload the slot map, so a failover (a replica promoted) or a reshard is
// followed without a restart.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_REMOTE_REDIS_CLUSTER_INTERNAL_H_
#define KVSTASH_STORE_REMOTE_REDIS_CLUSTER_INTERNAL_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "serde/mutex.h"
#include "serde/status.h"
#include "serde/thread_annotations.h"
#include "store/remote/redis_address.h"
#include "store/remote/redis_connection_internal.h"
#include "store/remote/redis_slots.h"

namespace kvstash {

class RedisCluster {
 public:
  struct Command {
    std::string key;                     // routes the command (its slot)
    std::vector<std::string_view> argv;  // the whole command, key included
  };
  // Called once per command with its reply or why there is none. Calls for
  // different commands may come from several threads at once.
  using ReplySink = std::function<void(size_t index, Result<RedisReply> reply)>;

  // Starts the background refresher; loads the slot map only when asked
  // (Refresh) or on first use.
  explicit RedisCluster(RedisClusterOptions options);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  const RedisClusterOptions& options() const { return options_; }

  // Loads the slot map from the first node (known masters, then the seeds)
  // that answers. OK, or the last node's error (InvalidArgument when a node
  // refused the credentials).
  Status Refresh();

  // Runs `commands` (argv views must stay valid until Run returns): each on
  // the master serving its key, pipelined per node, up to `max_threads`
  // nodes at once. Redirections are followed up to 3 times per command.
  void Run(const std::vector<Command>& commands, size_t max_threads, const ReplySink& sink);
  // One command.
  Result<RedisReply> RunOne(const Command& command);
  // One command on one node, whatever its slots (SCAN, INFO, DBSIZE).
  Result<RedisReply> RunOnNode(const RedisNodeAddress& node,
                               const std::vector<std::string_view>& argv);

  struct MasterView {
    RedisNodeAddress address;
    size_t slots = 0;       // slots it serves
    uint64_t failures = 0;  // connection failures and timeouts since open
    bool down = false;      // not asked now (failed within retry_after)
  };
  // The masters of the current slot map (loading it if there is none).
  std::vector<MasterView> Masters();

  // Connection failures and timeouts, all nodes. Redirections followed.
  uint64_t failures() const { return failures_.load(); }
  uint64_t redirections() const { return redirections_.load(); }

 private:
  struct Node;
  struct Target {
    Node* node = nullptr;
    bool asking = false;  // precede the command with ASKING (an ASK redirection)
  };
  struct Redirect {
    size_t index;
    bool ask;
    uint16_t slot;
    RedisNodeAddress to;
  };

  Node* NodeFor(const RedisNodeAddress& address) KVSTASH_REQUIRES(map_mu_);
  Node* NodeForLocked(const RedisNodeAddress& address) KVSTASH_EXCLUDES(map_mu_);
  bool EnsureMap();
  Result<std::unique_ptr<RedisConnection>> TakeConnection(Node* node, bool* reused);
  void ReturnConnection(Node* node, std::unique_ptr<RedisConnection> conn);
  void MarkDown(Node* node, const Status& why);
  void RunOnNodeGroup(Node* node, const std::vector<size_t>& indices,
                      const std::vector<Target>& targets, const std::vector<Command>& commands,
                      const ReplySink& sink, Mutex* redirect_mu, std::vector<Redirect>* redirects);
  Status LoadSlotsFrom(Node* node);
  void WantRefresh();
  void RefreshLoop();

  const RedisClusterOptions options_;
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> redirections_{0};
  std::atomic<bool> refreshed_once_{false};  // Refresh ran (EnsureMap waits for it once)

  Mutex map_mu_;
  // Nodes are never removed, so a Node* stays valid for the client's life.
  std::vector<std::unique_ptr<Node>> nodes_ KVSTASH_GUARDED_BY(map_mu_);
  std::array<Node*, kRedisSlots> slots_ KVSTASH_GUARDED_BY(map_mu_){};
  bool have_map_ KVSTASH_GUARDED_BY(map_mu_) = false;

  Mutex refresh_mu_;
  CondVar refresh_cv_;
  bool refresh_wanted_ KVSTASH_GUARDED_BY(refresh_mu_) = false;
  bool stopping_ KVSTASH_GUARDED_BY(refresh_mu_) = false;
  Mutex refresh_run_mu_;  // one Refresh at a time
  std::thread refresher_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REDIS_CLUSTER_INTERNAL_H_
