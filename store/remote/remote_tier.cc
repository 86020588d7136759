#include "store/remote/remote_tier.h"

#include <atomic>
#include <system_error>
#include <thread>

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
  std::vector<std::thread> helpers;
  const size_t threads = std::min(std::max<size_t>(parallelism, 1), hashes.size());
  for (size_t t = 1; t < threads; ++t) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // the threads started, and this one, do it all
    }
  }
  work();
  for (std::thread& t : helpers) t.join();
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
