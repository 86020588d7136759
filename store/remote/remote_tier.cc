#include "store/remote/remote_tier.h"

#include <algorithm>
#include <atomic>

#include "store/parallel.h"
#include "store/remote/peer_client.h"
#include "store/remote/redis_address.h"
#include "store/remote/redis_cluster_tier.h"

namespace kvstash {

void RemoteTier::GetMany(const ModelId& model, const std::vector<BlockHash>& hashes,
                         size_t parallelism, const BlobSink& sink) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::string blob;
    for (size_t i; (i = next.fetch_add(1)) < hashes.size();) {
      Status s = Get(model, hashes[i], &blob);
      sink(i, std::move(s), &blob);
    }
  };
  RunOnThreads(std::min(std::max<size_t>(parallelism, 1), hashes.size()), work);
}

Result<std::unique_ptr<RemoteTier>> OpenRemoteTier(const std::string& address,
                                                   const std::string& token) {
  if (IsRedisAddress(address)) {
    KVSTASH_ASSIGN_OR_RETURN(RedisClusterOptions options, ParseRedisAddress(address, token));
    return std::unique_ptr<RemoteTier>(RedisClusterTier::Open(std::move(options)));
  }
  if (address.find("://") != std::string::npos) {
    return Status::InvalidArgument("remote '" + address +
                                   "': a remote tier is a `kvstash serve` peer, HOST:PORT, or a "
                                   "Redis Cluster, redis://HOST:PORT[,HOST:PORT...]");
  }
  KVSTASH_ASSIGN_OR_RETURN(PeerOptions options, ParsePeerAddress(address));
  options.token = token;
  return std::unique_ptr<RemoteTier>(std::make_unique<PeerClient>(options));
}

}  // namespace kvstash
