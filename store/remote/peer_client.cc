#include "store/remote/peer_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio.hpp>
#include <cstdio>

#include "serde/mutex.h"
#include "serde/wire.h"

namespace kvstash {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Result<PeerOptions> ParsePeerAddress(const std::string& address) {
  PeerOptions options;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Status::InvalidArgument("remote address '" + address + "' is not HOST:PORT");
  }
  options.host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (*end != '\0' || p == 0 || p > 65535) {
    return Status::InvalidArgument("bad port in remote address '" + address + "'");
  }
  options.port = static_cast<uint16_t>(p);
  return options;
}

namespace {

struct Conn {
  explicit Conn(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
};

void SetTimeouts(tcp::socket& s, std::chrono::milliseconds timeout) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

}  // namespace

struct PeerClient::Impl {
  PeerOptions options;
  asio::io_context io;  // only for resolving and socket creation; calls are blocking
  Mutex mu;
  std::vector<std::unique_ptr<Conn>> idle KVSTASH_GUARDED_BY(mu);
  std::chrono::steady_clock::time_point down_until KVSTASH_GUARDED_BY(mu){};
  bool warned KVSTASH_GUARDED_BY(mu) = false;
  std::atomic<uint32_t> next_id{1};
  // Whether the server knows the logits frames: -1 until its first answer to
  // one; 0 if it refused one as an unknown frame type (an older server).
  std::atomic<int> logits_support{-1};

  std::string Where() const { return options.host + ":" + std::to_string(options.port); }

  // One request-response exchange on `conn`; the response frame's type and
  // payload are returned.
  Status Exchange(Conn& conn, FrameType type, std::string_view payload, FrameType* reply_type,
                  std::string* reply) {
    const uint32_t id = next_id++;
    const std::string frame = EncodeFrame(type, id, payload);
    boost::system::error_code ec;
    asio::write(conn.socket, asio::buffer(frame), ec);
    if (ec) return Status::IOError("send to " + Where() + ": " + ec.message());
    char header[kFrameHeaderSize];
    asio::read(conn.socket, asio::buffer(header), ec);
    if (ec) return Status::IOError("receive from " + Where() + ": " + ec.message());
    auto h = DecodeFrameHeader(header, options.max_frame_bytes);
    if (!h.ok()) return h.status().WithContext("response from " + Where());
    reply->resize(size_t{h->payload_len} + kFrameTrailerSize);
    asio::read(conn.socket, asio::buffer(*reply), ec);
    if (ec) return Status::IOError("receive from " + Where() + ": " + ec.message());
    KVSTASH_RETURN_IF_ERROR(VerifyFrameChecksum(
        header, std::string_view(reply->data(), h->payload_len), reply->data() + h->payload_len));
    reply->resize(h->payload_len);
    if (h->request_id != id && h->request_id != 0) {
      return Status::IOError("response from " + Where() + " answers another request");
    }
    *reply_type = h->type;
    return Status::OK();
  }

  Result<std::unique_ptr<Conn>> Connect() {
    {
      MutexLock lock(&mu);
      if (std::chrono::steady_clock::now() < down_until) {
        return Status::IOError("kvstash server " + Where() + " is unreachable (retrying soon)");
      }
    }
    auto conn = std::make_unique<Conn>(io);
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (!ec) asio::connect(conn->socket, endpoints, ec);
    if (!ec) {
      conn->socket.set_option(tcp::no_delay(true), ec);
      SetTimeouts(conn->socket, options.timeout);
      FrameType type;
      std::string reply;
      Status s = Exchange(*conn, FrameType::kHello, HelloPayload(kWireVersion, options.token),
                          &type, &reply);
      if (s.ok() && type == FrameType::kError) return ParseError(reply);
      if (s.ok() && type != FrameType::kHelloOk) {
        s = Status::IOError("server answered hello with " + std::string(FrameTypeName(type)));
      }
      if (s.ok()) {
        MutexLock lock(&mu);
        if (warned) std::fprintf(stderr, "kvstash: remote %s is back\n", Where().c_str());
        warned = false;
        return conn;
      }
      MarkDown(s);
      return s;
    }
    Status s = Status::IOError("connect to kvstash server " + Where() + ": " + ec.message());
    MarkDown(s);
    return s;
  }

  void MarkDown(const Status& why) {
    MutexLock lock(&mu);
    down_until = std::chrono::steady_clock::now() + options.retry_after;
    if (!warned) {
      std::fprintf(stderr, "kvstash: warning: remote tier unavailable, treating it as a miss: %s\n",
                   why.ToString().c_str());
      warned = true;
    }
  }

  // Sends one request, on a pooled connection when one is idle. A request
  // that fails on a pooled connection (the server may have restarted) is
  // retried once on a fresh one.
  Status Call(FrameType type, std::string_view payload, FrameType expect, std::string* reply) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<Conn> conn;
      {
        MutexLock lock(&mu);
        if (!idle.empty()) {
          conn = std::move(idle.back());
          idle.pop_back();
        }
      }
      const bool pooled = conn != nullptr;
      if (!conn) {
        KVSTASH_ASSIGN_OR_RETURN(conn, Connect());
      }
      FrameType got;
      Status s = Exchange(*conn, type, payload, &got, reply);
      if (!s.ok()) {
        if (pooled) continue;  // stale connection: try a fresh one
        MarkDown(s);
        return s;
      }
      {
        MutexLock lock(&mu);
        if (idle.size() < options.max_idle_connections) idle.push_back(std::move(conn));
      }
      if (got == FrameType::kError) return ParseError(*reply);
      if (got != expect) {
        return Status::IOError("server answered " + std::string(FrameTypeName(type)) + " with " +
                               FrameTypeName(got));
      }
      return Status::OK();
    }
    return Status::IOError("kvstash server " + Where() + " closed the connection");
  }
};

PeerClient::PeerClient(const PeerOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}
PeerClient::~PeerClient() = default;

std::string PeerClient::Describe() const { return "kvstash serve " + impl_->Where(); }

const PeerOptions& PeerClient::options() const { return impl_->options; }

Result<uint32_t> PeerClient::Match(const ModelId& model, const std::vector<BlockHash>& hashes) {
  std::string reply;
  KVSTASH_RETURN_IF_ERROR(
      impl_->Call(FrameType::kMatch, MatchPayload(model, hashes), FrameType::kMatchOk, &reply));
  uint32_t present = 0;
  KVSTASH_RETURN_IF_ERROR(ParseU32(reply, &present));
  if (present > hashes.size()) return Status::IOError("server matched more hashes than asked");
  return present;
}

Status PeerClient::Get(const ModelId& model, const BlockHash& hash, std::string* blob) {
  return impl_->Call(FrameType::kGet, KeyPayload(model, hash), FrameType::kGetOk, blob);
}

Status PeerClient::Put(const ModelId& model, const BlockHash& hash, std::string_view blob) {
  std::string reply;
  return impl_->Call(FrameType::kPut, KeyPayload(model, hash, blob), FrameType::kPutOk, &reply);
}

Status PeerClient::Register(const ModelId& model, std::string_view canonical_description) {
  std::string reply;
  return impl_->Call(FrameType::kRegister, ModelPayload(model, canonical_description),
                     FrameType::kRegisterOk, &reply);
}

Status PeerClient::GetLogits(const LogitsKey& key, std::string* record) {
  if (impl_->logits_support == 0) return Status::NotFound("the server keeps no logits records");
  Status s =
      impl_->Call(FrameType::kGetLogits, LogitsKeyPayload(key), FrameType::kGetLogitsOk, record);
  if (s.IsInvalidArgument()) {
    impl_->logits_support = 0;  // "unknown frame type": an older server
    return Status::NotFound("the server keeps no logits records");
  }
  if (s.ok() || s.IsNotFound()) impl_->logits_support = 1;
  return s;
}

Status PeerClient::PutLogits(const LogitsKey& key, std::string_view record) {
  if (impl_->logits_support < 0) {
    // Ask with a small frame first: an older server refuses an unknown frame
    // from its header and closes without reading a 600 KB payload, which
    // would look like a broken connection (and mark the server down).
    std::string probe;
    (void)GetLogits(key, &probe);
  }
  if (impl_->logits_support == 0) {
    return Status::NotSupported("the server keeps no logits records");
  }
  std::string reply;
  return impl_->Call(FrameType::kPutLogits, LogitsKeyPayload(key, record), FrameType::kPutLogitsOk,
                     &reply);
}

Result<std::string> PeerClient::Stats() {
  std::string reply;
  KVSTASH_RETURN_IF_ERROR(impl_->Call(FrameType::kStats, {}, FrameType::kStatsOk, &reply));
  return reply;
}

}  // namespace kvstash
