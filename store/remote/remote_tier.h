// RemoteTier: what the Store asks of a remote tier, whichever backend holds
// it. Two backends: a `kvstash serve` peer (peer_client.h), shared by the
// processes of one host, and a Redis Cluster (redis_cluster_tier.h), shared
// by many hosts.
//
// Contract for every backend: blobs and logits records come back
// unverified (the Store checks each like a local block: checksum, header
// against its key); every failure -- a backend down, slow or refusing -- is
// a Status the Store turns into a miss or a counted put error, never a
// failed request, and no call waits longer than the backend's timeout.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_REMOTE_REMOTE_TIER_H_
#define KVSTASH_STORE_REMOTE_REMOTE_TIER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serde/block_hash.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {

// One node of a remote tier, for metrics.
struct RemoteNodeHealth {
  std::string node;       // "host:port"
  uint64_t failures = 0;  // connections refused, broken or timed out since open
  bool down = false;      // not asked now (failed moments ago)
};

class RemoteTier {
 public:
  virtual ~RemoteTier() = default;

  // "redis" or "kvstash-serve": the backend, for metrics labels.
  virtual std::string Backend() const = 0;
  // Per node, where the backend has nodes to report. Default: none.
  virtual std::vector<RemoteNodeHealth> Health() { return {}; }

  // "kvstash serve HOST:PORT": for messages.
  virtual std::string Describe() const = 0;
  // How many leading `hashes` the tier holds as a chain.
  virtual Result<uint32_t> Match(const ModelId& model, const std::vector<BlockHash>& hashes) = 0;
  // The stored blob. NotFound if absent.
  virtual Status Get(const ModelId& model, const BlockHash& hash, std::string* blob) = 0;
  // Called once per hash of GetMany with Get's status and, when OK, the blob
  // (the callee may take it). Calls for different indices may come from
  // several threads at once.
  using BlobSink = std::function<void(size_t index, Status status, std::string* blob)>;
  // Get for every hash, overlapping the fetches (up to `parallelism` at a
  // time where the backend needs threads for that) and handing each blob to
  // `sink` as it arrives. Default: Get from up to `parallelism` threads.
  virtual void GetMany(const ModelId& model, const std::vector<BlockHash>& hashes,
                       size_t parallelism, const BlobSink& sink);
  // Forgets a blob the Store found corrupt or not matching its key, so it is
  // stored again. Default: nothing (a backend that verifies what it is
  // given never holds one).
  virtual void Drop(const ModelId& model, const BlockHash& hash) {}
  // Stores a blob (a tier keeps the first sound one: put once).
  virtual Status Put(const ModelId& model, const BlockHash& hash, std::string_view blob) = 0;
  virtual Status Register(const ModelId& model, std::string_view canonical_description) = 0;
  // Logits records (serde/logits_record.h). NotFound if absent.
  virtual Status GetLogits(const LogitsKey& key, std::string* record) = 0;
  virtual Status PutLogits(const LogitsKey& key, std::string_view record) = 0;
};

// The remote tier at `address` (StoreOptions::remote): "HOST:PORT" is a
// `kvstash serve` peer, `token` its hello token; "redis://..." is a Redis
// Cluster (redis_address.h), `token` its password unless the address has
// one. InvalidArgument for an address no backend takes. A backend that
// cannot be reached is not an error here: its blocks are misses until it
// answers.
Result<std::unique_ptr<RemoteTier>> OpenRemoteTier(const std::string& address,
                                                   const std::string& token);

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REMOTE_TIER_H_
