#include "store/remote/remote_tier.h"

#include "store/remote/peer_client.h"

namespace kvstash {

Result<std::unique_ptr<RemoteTier>> OpenRemoteTier(const std::string& address,
                                                   const std::string& token) {
  if (address.find("://") != std::string::npos) {
    return Status::InvalidArgument("remote '" + address +
                                   "': this kvstash reaches a `kvstash serve` peer, written "
                                   "HOST:PORT, and no other remote tier");
  }
  KVSTASH_ASSIGN_OR_RETURN(PeerOptions options, ParsePeerAddress(address));
  options.token = token;
  return std::unique_ptr<RemoteTier>(std::make_unique<PeerClient>(options));
}

}  // namespace kvstash
