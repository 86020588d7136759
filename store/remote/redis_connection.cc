#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>

#include <cerrno>

#include "store/remote/redis_connection_internal.h"

namespace kvstash {

namespace {

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

// hiredis writes with write(2): a node that closed its end would kill the
// process with SIGPIPE. Blocks the signal in this thread for the scope and
// consumes one raised meanwhile, so the write fails with EPIPE instead.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

std::string_view ReplyText(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string_view(reply.str, reply.len);
    default:
      return {};
  }
}

RedisConnection::RedisConnection(redisContext* context, RedisNodeAddress node)
    : context_(context), node_(std::move(node)) {}

RedisConnection::~RedisConnection() { redisFree(context_); }

Result<std::unique_ptr<RedisConnection>> RedisConnection::Open(const RedisNodeAddress& node,
                                                               const RedisClusterOptions& options) {
  const timeval tv = ToTimeval(options.timeout);
  redisContext* c = redisConnectWithTimeout(node.host.c_str(), node.port, tv);
  if (c == nullptr) return Status::ResourceExhausted("connect to " + node.ToString());
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    return Status::IOError("connect to redis node " + node.ToString() + ": " + why);
  }
  std::unique_ptr<RedisConnection> conn(new RedisConnection(c, node));
  if (redisSetTimeout(c, tv) != REDIS_OK || redisEnableKeepAlive(c) != REDIS_OK) {
    return Status::IOError("set up connection to redis node " + node.ToString());
  }
  if (options.password.empty()) return conn;
  std::vector<std::string_view> auth = {"AUTH"};
  if (!options.user.empty()) auth.push_back(options.user);
  auth.push_back(options.password);
  KVSTASH_ASSIGN_OR_RETURN(RedisReply reply, conn->Command(auth));
  if (reply->type == REDIS_REPLY_ERROR) {
    return Status::InvalidArgument("redis node " + node.ToString() +
                                   " refused AUTH: " + std::string(ReplyText(*reply)));
  }
  return conn;
}

void RedisConnection::Append(const std::vector<std::string_view>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (std::string_view a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), args.data(), lens.data()) !=
      REDIS_OK) {
    broken_ = true;
  }
}

Result<RedisReply> RedisConnection::Read() {
  if (broken_) return Status::IOError("redis node " + node_.ToString() + ": connection broken");
  void* raw = nullptr;
  int rc;
  {
    ScopedSigpipeBlock no_sigpipe;
    rc = redisGetReply(context_, &raw);
  }
  if (rc != REDIS_OK || raw == nullptr) {
    broken_ = true;
    std::string why = context_->err != 0 ? context_->errstr : "no reply";
    if (context_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      why = "timed out";
    }
    return Status::IOError("redis node " + node_.ToString() + ": " + why);
  }
  return RedisReply(static_cast<redisReply*>(raw));
}

Result<RedisReply> RedisConnection::Command(const std::vector<std::string_view>& argv) {
  Append(argv);
  return Read();
}

}  // namespace kvstash
