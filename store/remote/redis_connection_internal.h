// RedisConnection: one authenticated hiredis connection to one Redis node,
// used blocking, with a timeout on connect and on every read and write.
// Commands may be pipelined: Append() queues them, each Read() sends what is
// queued and returns the next reply in order.
//
// A connection whose Read() failed with IOError is broken (its stream
// position is lost): drop it. SIGPIPE from writing to a closed socket is
// kept from the process (blocked and consumed in the calling thread).
//
// Thread-safety: a connection is used by one thread at a time.
#ifndef KVSTASH_STORE_REMOTE_REDIS_CONNECTION_INTERNAL_H_
#define KVSTASH_STORE_REMOTE_REDIS_CONNECTION_INTERNAL_H_

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serde/status.h"
#include "store/remote/redis_address.h"

namespace kvstash {

struct RedisReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// The reply's text, for string, status and error replies; empty otherwise.
std::string_view ReplyText(const redisReply& reply);

class RedisConnection {
 public:
  // Connects to `node` and, if `options` has a password, authenticates.
  // IOError if the node cannot be reached in time; InvalidArgument if it
  // refuses the credentials (the message holds its answer, never the
  // password).
  static Result<std::unique_ptr<RedisConnection>> Open(const RedisNodeAddress& node,
                                                       const RedisClusterOptions& options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  const RedisNodeAddress& node() const { return node_; }

  // Queues one command; nothing is sent until Read().
  void Append(const std::vector<std::string_view>& argv);
  // Sends what is queued and returns the next reply (an error reply is a
  // reply, not a failed Status). IOError when the node closed, failed or
  // timed out: the connection is then broken.
  Result<RedisReply> Read();
  // Append + Read.
  Result<RedisReply> Command(const std::vector<std::string_view>& argv);
  bool broken() const { return broken_; }

 private:
  RedisConnection(redisContext* context, RedisNodeAddress node);

  redisContext* context_;
  RedisNodeAddress node_;
  bool broken_ = false;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REDIS_CONNECTION_INTERNAL_H_
