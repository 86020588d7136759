// Where a Redis Cluster remote tier is and how to reach it: the
// `redis://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]` address of
// StoreOptions::remote and `--remote`, parsed into RedisClusterOptions.
#ifndef KVSTASH_STORE_REMOTE_REDIS_ADDRESS_H_
#define KVSTASH_STORE_REMOTE_REDIS_ADDRESS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "serde/status.h"

namespace kvstash {

struct RedisNodeAddress {
  std::string host;
  uint16_t port = 0;

  // "host:port", "[v6::addr]:port".
  std::string ToString() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  bool operator==(const RedisNodeAddress& o) const { return host == o.host && port == o.port; }
};

struct RedisClusterOptions {
  // Nodes asked for the slot map; any one reachable is enough. Required.
  std::vector<RedisNodeAddress> seeds;
  // ACL user for AUTH; empty: the default user. Default: empty.
  std::string user;
  // AUTH password; empty: no AUTH. Default: empty.
  std::string password;
  // Limit for connecting to a node, and for each pipelined round trip.
  // Default: 2 s.
  std::chrono::milliseconds timeout{2000};
  // After a node fails (refused, timed out, closed), its keys are misses
  // without asking it for this long. Default: 1 s.
  std::chrono::milliseconds retry_after{1000};
  // Idle connections kept per node. Default: 4.
  size_t max_idle_connections_per_node = 4;
  // Commands sent to one node before its replies are read. Default: 32.
  size_t max_pipeline = 32;
};

// True for an address this backend takes (it starts with "redis://").
bool IsRedisAddress(const std::string& address);

// Parses `address`; `token` (from --remote-token-file) is the password when
// the address holds none. InvalidArgument naming what is wrong: not
// redis://, no node, a bad port, a password both in the address and in
// `token`.
Result<RedisClusterOptions> ParseRedisAddress(const std::string& address, const std::string& token);

// "redis://HOST:PORT,...": the address without its credentials, for messages.
std::string DescribeRedisSeeds(const RedisClusterOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REDIS_ADDRESS_H_
