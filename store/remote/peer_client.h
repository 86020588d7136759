// PeerClient: the client side of `kvstash serve`, the remote tier of the
// processes of one host (a RemoteTier backend, remote_tier.h).
//
// Keeps a small pool of connections (each said hello once) and sends one
// request at a time per connection. Every call has a timeout. A failed
// connection is dropped and a new one is made on the next call; while the
// server is unreachable, calls fail fast (for `retry_after`) instead of each
// waiting for a connect timeout, and one warning per outage is logged. The
// remote tier turns every failure into a miss, never a failed inference.
//
// Thread-safety: all methods may be called concurrently.
#ifndef KVSTASH_STORE_REMOTE_PEER_CLIENT_H_
#define KVSTASH_STORE_REMOTE_PEER_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serde/block_hash.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/remote/remote_tier.h"

namespace kvstash {

struct PeerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7420;
  std::string token;
  // Per-call limit for connecting, sending and receiving. Default: 5 s.
  std::chrono::milliseconds timeout{5000};
  // After a failure to connect, calls fail fast for this long. Default: 1 s.
  std::chrono::milliseconds retry_after{1000};
  // Idle connections kept. Default: 4.
  size_t max_idle_connections = 4;
  // Largest response payload accepted. Default: 256 MiB.
  uint32_t max_frame_bytes = 256u << 20;
};

// "host:port" -> options (token and limits default).
Result<PeerOptions> ParsePeerAddress(const std::string& address);

class PeerClient : public RemoteTier {
 public:
  explicit PeerClient(const PeerOptions& options);
  ~PeerClient() override;
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;

  const PeerOptions& options() const;

  std::string Describe() const override;
  std::string Backend() const override { return "kvstash-serve"; }
  // How many leading `hashes` the server stores as a chain.
  Result<uint32_t> Match(const ModelId& model, const std::vector<BlockHash>& hashes) override;
  // The stored blob (unverified: decode checks it). NotFound if absent.
  Status Get(const ModelId& model, const BlockHash& hash, std::string* blob) override;
  Status Put(const ModelId& model, const BlockHash& hash, std::string_view blob) override;
  Status Register(const ModelId& model, std::string_view canonical_description) override;
  // Logits records (serde/logits_record.h). GetLogits: unverified; NotFound
  // if absent. A server older than these frames refuses them: from then on
  // GetLogits answers NotFound and PutLogits NotSupported without asking
  // (PutLogits asks with a GetLogits first, so an older server never sees a
  // large frame it cannot read).
  Status GetLogits(const LogitsKey& key, std::string* record) override;
  Status PutLogits(const LogitsKey& key, std::string_view record) override;
  // The server's counters, as JSON text.
  Result<std::string> Stats();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_PEER_CLIENT_H_
