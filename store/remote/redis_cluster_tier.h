// RedisClusterTier: the remote tier on a Redis Cluster, shared by the
// processes of many hosts (StoreOptions::remote = "redis://HOST:PORT,...").
//
// A block has one key in the whole cluster (redis_keys.h): the model id and
// its chained hash. Values are the block blobs of the disk tier, checked by
// the Store on every fetch; one that fails (corrupt, another model's) is a
// miss and is deleted (Drop). Puts keep the first value (SET NX). Blocks
// spread over the masters; a prefix's blocks are fetched pipelined from
// every master at once and handed over as they arrive.
//
// Capacity and eviction are the cluster's (maxmemory, allkeys-lru): a block
// evicted in the middle of a chain ends the matched prefix there.
// A node that is down, slow or refusing makes the blocks it holds misses,
// never errors or hangs (redis_cluster_internal.h); Open never fails for
// one: it prints why (unreachable, credentials refused) and goes on.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_REMOTE_REDIS_CLUSTER_TIER_H_
#define KVSTASH_STORE_REMOTE_REDIS_CLUSTER_TIER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/remote/redis_address.h"
#include "store/remote/remote_tier.h"

namespace kvstash {

// What one master holds for kvstash (RedisClusterTier::Census).
struct RedisNodeCensus {
  RedisNodeAddress address;
  size_t slots = 0;
  std::string error;  // empty if the node answered
  uint64_t blocks = 0;
  uint64_t block_bytes = 0;  // value bytes
  uint64_t logits = 0;
  uint64_t logits_bytes = 0;
  uint64_t models = 0;
  uint64_t used_memory = 0;  // INFO memory
  uint64_t maxmemory = 0;    // 0: no limit
  std::string maxmemory_policy;
  uint64_t evicted_keys = 0;  // INFO stats: keys Redis evicted for maxmemory
};

// Counters since open.
struct RedisTierStats {
  uint64_t node_failures = 0;  // connections refused, broken or timed out
  uint64_t redirections = 0;   // MOVED and ASK followed
  uint64_t dropped = 0;        // values deleted as corrupt or mismatched
};

class RedisClusterTier : public RemoteTier {
 public:
  // Connects and loads the slot map; on failure prints why to stderr and
  // returns a tier that answers misses until the cluster answers.
  static std::unique_ptr<RedisClusterTier> Open(RedisClusterOptions options);
  ~RedisClusterTier() override;

  std::string Describe() const override;
  std::string Backend() const override { return "redis"; }
  // Every master of the slot map.
  std::vector<RemoteNodeHealth> Health() override;
  Result<uint32_t> Match(const ModelId& model, const std::vector<BlockHash>& hashes) override;
  Status Get(const ModelId& model, const BlockHash& hash, std::string* blob) override;
  // One pipeline per master, all masters at once; `parallelism` bounds the
  // threads (one per master at most).
  void GetMany(const ModelId& model, const std::vector<BlockHash>& hashes, size_t parallelism,
               const BlobSink& sink) override;
  void Drop(const ModelId& model, const BlockHash& hash) override;
  Status Put(const ModelId& model, const BlockHash& hash, std::string_view blob) override;
  Status Register(const ModelId& model, std::string_view canonical_description) override;
  Status GetLogits(const LogitsKey& key, std::string* record) override;
  Status PutLogits(const LogitsKey& key, std::string_view record) override;

  // Walks every master's kvstash keys (SCAN) and sizes them: seconds for a
  // million blocks. A master that does not answer has `error` set.
  std::vector<RedisNodeCensus> Census();
  RedisTierStats Stats() const;

 private:
  struct Impl;
  explicit RedisClusterTier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REDIS_CLUSTER_TIER_H_
