#include "store/remote/server.h"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "serde/block_codec.h"
#include "serde/mutex.h"
#include "serde/wire.h"
#include "store/clock.h"
#include "store/remote/remote_put_queue_internal.h"

namespace kvstash {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Compares secrets in time independent of where they differ.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// What a request asks of the store, and the frame that answers it.
struct Reply {
  std::string frame;
  bool close = false;          // close the connection after sending
  bool authenticated = false;  // a hello with the right token: the connection may go on
  bool may_write = false;      // ... and that token may put (not the read token)
};

}  // namespace

class Connection;

struct Server::Impl {
  DiskTier* disk = nullptr;
  ServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  Mutex mu;
  std::set<std::weak_ptr<Connection>, std::owner_less<std::weak_ptr<Connection>>> connections
      KVSTASH_GUARDED_BY(mu);
  std::atomic<uint64_t> accepted{0}, refused{0}, active{0}, requests{0}, protocol_errors{0},
      blocks_served{0}, bytes_served{0}, blocks_stored{0}, puts_rejected{0}, puts_already_stored{0},
      puts_refused_read_only{0}, bytes_stored{0}, match_found{0}, match_missed{0},
      upstream_blocks{0}, upstream_corrupt{0}, tokens_served_disk{0}, tokens_served_upstream{0};
  LatencyHistogram get_seconds;
  // Puts sent on to options.upstream, off the I/O threads.
  std::unique_ptr<RemotePutQueue> upstream_puts;
  // Put once: a check of what is stored and the write that follows it are
  // one step per key (striped by the key's hash).
  std::array<Mutex, 16> put_mu;
  Mutex* PutLock(const BlockHash& key) { return &put_mu[key.lo % put_mu.size()]; }
  std::atomic<uint64_t> next_connection{0};  // accept order

  void Accept();
  // When full: closes the oldest connection that has not said hello, so
  // idle sockets cannot keep clients out. Returns whether one was found.
  bool EvictOldestUnauthenticated() KVSTASH_REQUIRES(mu);
  // The answer to a frame from a connection that has not said hello, decided
  // from its header alone; nullopt for a hello small enough to read.
  std::optional<Reply> RefuseBeforeHello(const FrameHeader& header);
  // REQUIRES: the connection said hello, or `header` is a hello.
  // `may_write`: its token allows puts.
  Reply Handle(const FrameHeader& header, std::string_view payload, bool may_write);
  Reply HandleMatch(uint32_t id, std::string_view payload);
  Reply HandleGet(uint32_t id, std::string_view payload);
  // The upstream tier's blob for (model, hash), checked like a put and kept
  // on disk. NotFound if it has none or a bad one (dropped there).
  Status FetchUpstream(const ModelId& model, const BlockHash& hash, std::string* blob);
  // Whether (model, hash) is stored and reads back sound (a damaged block
  // may be replaced by a put; a sound one never is).
  bool StoredSound(const ModelId& model, const BlockHash& hash);
  Reply HandlePut(uint32_t id, std::string_view payload);
  Reply HandleRegister(uint32_t id, std::string_view payload);
  Reply HandleGetLogits(uint32_t id, std::string_view payload);
  // Verifies the record against its key before storing it.
  Reply HandlePutLogits(uint32_t id, std::string_view payload);
  Reply Error(uint32_t id, const Status& status, bool close) {
    return Reply{EncodeFrame(FrameType::kError, id, ErrorPayload(status)), close};
  }
};

// One client connection. Every handler runs on the connection's strand (the
// socket's executor), so its state needs no lock.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl* server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        order_(server->next_connection++) {}
  ~Connection() { --server_->active; }

  void Start() { ReadHeader(); }

  // Readable from any thread (the accept handler picks whom to evict).
  bool authenticated() const { return authenticated_.load(); }
  uint64_t order() const { return order_; }

  // Closes the socket now, whatever is in flight.
  void Evict() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->CloseSocket(); });
  }

  // Closes now if idle, else after the response in flight.
  void Shutdown() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->CloseSocket();
    });
  }

 private:
  void Arm(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->CloseSocket();  // expired: idle, or a peer that stalls
    });
  }

  void CloseSocket() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  void ReadHeader() {
    if (closing_) return CloseSocket();
    busy_ = false;
    Arm(authenticated_ ? server_->options.idle_timeout : server_->options.hello_timeout);
    asio::async_read(socket_, asio::buffer(header_, kFrameHeaderSize),
                     [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                       self->OnHeader(ec);
                     });
  }

  void OnHeader(const boost::system::error_code& ec) {
    if (ec) return CloseSocket();
    busy_ = true;
    auto header = DecodeFrameHeader(header_, server_->options.max_frame_bytes);
    if (!header.ok()) {
      ++server_->protocol_errors;
      return Send(server_->Error(0, header.status(), /*close=*/true));
    }
    header_info_ = *header;
    if (!authenticated_) {
      if (std::optional<Reply> refused = server_->RefuseBeforeHello(*header)) {
        return Send(std::move(*refused));
      }
    }
    payload_.resize(size_t{header->payload_len} + kFrameTrailerSize);
    Arm(server_->options.io_timeout);
    asio::async_read(socket_, asio::buffer(payload_),
                     [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                       self->OnPayload(ec);
                     });
  }

  void OnPayload(const boost::system::error_code& ec) {
    if (ec) return CloseSocket();
    const size_t len = header_info_.payload_len;
    std::string_view payload(payload_.data(), len);
    Status ok = VerifyFrameChecksum(header_, payload, payload_.data() + len);
    if (!ok.ok()) {
      ++server_->protocol_errors;
      return Send(server_->Error(header_info_.request_id, ok, /*close=*/true));
    }
    ++server_->requests;
    Reply reply = server_->Handle(header_info_, payload, may_write_);
    if (reply.authenticated) {
      authenticated_ = true;
      may_write_ = reply.may_write;
    }
    // A large frame's buffer is not kept by an idle connection.
    if (payload_.capacity() > (1u << 20)) std::string().swap(payload_);
    Send(std::move(reply));
  }

  void Send(Reply reply) {
    response_ = std::move(reply.frame);
    const bool close = reply.close;
    Arm(server_->options.io_timeout);
    asio::async_write(
        socket_, asio::buffer(response_),
        [self = shared_from_this(), close](const boost::system::error_code& ec, size_t) {
          if (ec || close) return self->CloseSocket();
          self->ReadHeader();
        });
  }

  Server::Impl* server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  char header_[kFrameHeaderSize];
  FrameHeader header_info_;
  std::string payload_;   // payload + trailer of the frame being read
  std::string response_;  // the frame being written
  std::atomic<bool> authenticated_{false};
  bool may_write_ = false;
  const uint64_t order_;
  bool busy_ = false;     // between a frame's first byte and its response
  bool closing_ = false;  // the server is stopping
};

void Server::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(io),
                        [this](const boost::system::error_code& ec, tcp::socket socket) {
                          if (ec || stopping) return;  // the acceptor was closed
                          ++accepted;
                          bool full = active >= options.max_connections;
                          if (full) {
                            MutexLock lock(&mu);
                            full = !EvictOldestUnauthenticated();
                          }
                          if (full) {
                            ++refused;
                            boost::system::error_code ignored;
                            socket.close(ignored);
                          } else {
                            ++active;
                            boost::system::error_code ignored;
                            socket.set_option(tcp::no_delay(true), ignored);
                            auto conn = std::make_shared<Connection>(this, std::move(socket));
                            {
                              MutexLock lock(&mu);
                              for (auto it = connections.begin(); it != connections.end();) {
                                it = it->expired() ? connections.erase(it) : std::next(it);
                              }
                              connections.insert(conn);
                            }
                            conn->Start();
                          }
                          Accept();
                        });
}

bool Server::Impl::EvictOldestUnauthenticated() {
  std::shared_ptr<Connection> oldest;
  for (const std::weak_ptr<Connection>& weak : connections) {
    std::shared_ptr<Connection> c = weak.lock();
    if (c && !c->authenticated() && (!oldest || c->order() < oldest->order())) oldest = c;
  }
  if (!oldest) return false;
  // Counted as refused: a connection the server turned away.
  ++refused;
  connections.erase(oldest);
  oldest->Evict();
  return true;
}

std::optional<Reply> Server::Impl::RefuseBeforeHello(const FrameHeader& header) {
  // Nothing but a small hello is read before the token is checked: a
  // stranger's header cannot make the server reserve 64 MiB.
  Status refused;
  if (header.type != FrameType::kHello) {
    refused = Status::InvalidArgument("say hello (version and token) first");
  } else if (header.payload_len > kMaxHelloPayloadBytes) {
    refused = Status::InvalidArgument("hello payload of " + std::to_string(header.payload_len) +
                                      " bytes exceeds the limit of " +
                                      std::to_string(kMaxHelloPayloadBytes));
  }
  if (refused.ok()) return std::nullopt;
  ++protocol_errors;
  return Error(header.request_id, refused, /*close=*/true);
}

Reply Server::Impl::Handle(const FrameHeader& header, std::string_view payload, bool may_write) {
  const uint32_t id = header.request_id;
  if (header.type == FrameType::kHello) {
    uint16_t version = 0;
    std::string token;
    Status s = ParseHello(payload, &version, &token);
    if (!s.ok()) {
      ++protocol_errors;
      return Error(id, s, true);
    }
    if (version < kWireMinVersion || version > kWireVersion) {
      return Error(id,
                   Status::NotSupported("client speaks protocol " + std::to_string(version) +
                                        ", server " + std::to_string(kWireMinVersion) + ".." +
                                        std::to_string(kWireVersion)),
                   true);
    }
    const bool writer = SameToken(token, options.token);
    if (!writer && (options.read_token.empty() || !SameToken(token, options.read_token))) {
      ++protocol_errors;
      return Error(id, Status::InvalidArgument("bad token"), true);
    }
    Reply ok{EncodeFrame(FrameType::kHelloOk, id,
                         HelloOkPayload(kWireVersion, options.max_frame_bytes))};
    ok.authenticated = true;
    ok.may_write = writer;
    return ok;
  }
  if (!may_write && (header.type == FrameType::kPut || header.type == FrameType::kPutLogits ||
                     header.type == FrameType::kRegister)) {
    ++puts_refused_read_only;
    return Error(id,
                 Status::NotSupported(std::string(FrameTypeName(header.type)) +
                                      ": this connection's token may only read"),
                 false);
  }
  switch (header.type) {
    case FrameType::kMatch:
      return HandleMatch(id, payload);
    case FrameType::kGet:
      return HandleGet(id, payload);
    case FrameType::kPut:
      return HandlePut(id, payload);
    case FrameType::kRegister:
      return HandleRegister(id, payload);
    case FrameType::kGetLogits:
      return HandleGetLogits(id, payload);
    case FrameType::kPutLogits:
      return HandlePutLogits(id, payload);
    case FrameType::kStats: {
      char buf[512];
      std::snprintf(buf, sizeof(buf),
                    "{\"connections_active\":%llu,\"requests\":%llu,\"blocks_served\":%llu,"
                    "\"bytes_served\":%llu,\"blocks_stored\":%llu,\"puts_rejected\":%llu,"
                    "\"puts_already_stored\":%llu,\"puts_refused_read_only\":%llu,"
                    "\"protocol_errors\":%llu}",
                    static_cast<unsigned long long>(active.load()),
                    static_cast<unsigned long long>(requests.load()),
                    static_cast<unsigned long long>(blocks_served.load()),
                    static_cast<unsigned long long>(bytes_served.load()),
                    static_cast<unsigned long long>(blocks_stored.load()),
                    static_cast<unsigned long long>(puts_rejected.load()),
                    static_cast<unsigned long long>(puts_already_stored.load()),
                    static_cast<unsigned long long>(puts_refused_read_only.load()),
                    static_cast<unsigned long long>(protocol_errors.load()));
      return Reply{EncodeFrame(FrameType::kStatsOk, id, buf)};
    }
    default:
      ++protocol_errors;
      return Error(id,
                   Status::InvalidArgument(std::string("unexpected ") + FrameTypeName(header.type) +
                                           " frame from a client"),
                   true);
  }
}

Reply Server::Impl::HandleMatch(uint32_t id, std::string_view payload) {
  ModelId model;
  std::vector<BlockHash> hashes;
  Status s = ParseMatch(payload, &model, &hashes);
  if (!s.ok()) {
    ++protocol_errors;
    return Error(id, s, true);
  }
  // Leading hashes present as a chain: each stored block's parent is the
  // previous hash.
  uint32_t present = 0;
  BlockHash parent = kRootBlockHash;
  for (const BlockHash& hash : hashes) {
    auto meta = disk->GetMeta(model, hash);
    if (!meta.ok() || meta->parent != parent) break;
    parent = hash;
    ++present;
  }
  // The rest of the chain may be upstream (fetched by the gets that follow).
  if (options.upstream != nullptr && present < hashes.size()) {
    const std::vector<BlockHash> rest(hashes.begin() + present, hashes.end());
    auto more = options.upstream->Match(model, rest);
    if (more.ok()) present += std::min<uint32_t>(*more, static_cast<uint32_t>(rest.size()));
  }
  match_found += present;
  match_missed += hashes.size() - present;
  return Reply{EncodeFrame(FrameType::kMatchOk, id, U32Payload(present))};
}

Reply Server::Impl::HandleGet(uint32_t id, std::string_view payload) {
  ModelId model;
  BlockHash hash;
  std::string_view tail;
  Status s = ParseKey(payload, &model, &hash, &tail);
  if (!s.ok() || !tail.empty()) {
    ++protocol_errors;
    return Error(id, s.ok() ? Status::InvalidArgument("get: trailing bytes") : s, true);
  }
  const auto start = std::chrono::steady_clock::now();
  std::string blob;
  s = disk->GetBlob(model, hash, &blob);
  bool from_upstream = false;
  if (s.IsNotFound() && options.upstream != nullptr) {
    s = FetchUpstream(model, hash, &blob);
    from_upstream = s.ok();
  }
  get_seconds.Record(std::chrono::steady_clock::now() - start);
  if (!s.ok()) return Error(id, s, false);
  ++blocks_served;
  bytes_served += blob.size();
  // Tokens served, per tier (metrics), from the header (the client checks
  // the rest).
  if (auto header = ParseBlockHeader(blob, /*verify_checksum=*/false); header.ok()) {
    (from_upstream ? tokens_served_upstream : tokens_served_disk) += header->tokens.size();
  }
  return Reply{EncodeFrame(FrameType::kGetOk, id, blob)};
}

namespace {

// The header of `blob` if it is a sound block of (model, hash): checksum,
// then header against the key. What a put, an upstream block and a stored
// block must all pass.
Result<BlockHeader> SoundBlock(const ModelId& model, const BlockHash& hash, std::string_view blob) {
  KVSTASH_ASSIGN_OR_RETURN(BlockHeader header, ParseBlockHeader(blob, /*verify_checksum=*/true));
  KVSTASH_RETURN_IF_ERROR(CheckBlockKey(header, model, hash));
  return header;
}

}  // namespace

Status Server::Impl::FetchUpstream(const ModelId& model, const BlockHash& hash, std::string* blob) {
  Status s = options.upstream->Get(model, hash, blob);
  if (!s.ok()) return Status::NotFound("not stored here or upstream: " + s.message());
  auto header = SoundBlock(model, hash, *blob);
  if (!header.ok()) {
    const Status& bad = header.status();
    ++upstream_corrupt;
    options.upstream->Drop(model, hash);
    std::fprintf(stderr, "kvstash serve: warning: %s sent a bad block %s (dropped): %s\n",
                 options.upstream->Describe().c_str(), hash.ToHex().c_str(),
                 bad.ToString().c_str());
    return Status::NotFound("upstream block " + hash.ToHex() + " failed its check");
  }
  ++upstream_blocks;
  // Kept, so the next client on this host finds it here -- if its parent is
  // (a stored block's parent always is; gets fetched out of chain order keep
  // fewer, and the next request keeps the rest).
  const bool parent_stored =
      header->parent == kRootBlockHash || disk->GetMeta(model, header->parent).ok();
  MutexLock lock(PutLock(hash));
  if (parent_stored && !StoredSound(model, hash)) {
    (void)disk->PutBlocks({BlockWriteFromHeader(model, hash, *header, *blob, NowMs())},
                          /*sync=*/false);
  }
  return Status::OK();
}

bool Server::Impl::StoredSound(const ModelId& model, const BlockHash& hash) {
  if (!disk->GetMeta(model, hash).ok()) return false;
  std::string stored;
  if (!disk->GetBlob(model, hash, &stored).ok()) return false;
  return SoundBlock(model, hash, stored).ok();
}

Reply Server::Impl::HandlePut(uint32_t id, std::string_view payload) {
  ModelId model;
  BlockHash hash;
  std::string_view blob;
  Status s = ParseKey(payload, &model, &hash, &blob);
  if (!s.ok()) {
    ++protocol_errors;
    return Error(id, s, true);
  }
  auto header = SoundBlock(model, hash, blob);
  if (!header.ok()) {
    ++puts_rejected;
    return Error(id, header.status(), false);
  }
  MutexLock lock(PutLock(hash));
  if (StoredSound(model, hash)) {
    ++puts_already_stored;
    return Reply{EncodeFrame(FrameType::kPutOk, id, {})};
  }
  s = disk->PutBlocks({BlockWriteFromHeader(model, hash, *header, std::string(blob), NowMs())},
                      /*sync=*/false);
  if (!s.ok()) return Error(id, s, false);
  ++blocks_stored;
  bytes_stored += blob.size();
  if (upstream_puts) upstream_puts->PutBlock(model, hash, std::string(blob));
  return Reply{EncodeFrame(FrameType::kPutOk, id, {})};
}

Reply Server::Impl::HandleGetLogits(uint32_t id, std::string_view payload) {
  LogitsKey key;
  std::string_view rest;
  Status s = ParseLogitsKey(payload, &key, &rest);
  if (!s.ok() || !rest.empty()) {
    ++protocol_errors;
    return Error(id, s.ok() ? Status::InvalidArgument("get-logits: trailing bytes") : s, true);
  }
  std::string record;
  s = disk->GetLogits(key, &record);
  if (s.IsNotFound() && options.upstream != nullptr &&
      options.upstream->GetLogits(key, &record).ok()) {
    if (VerifyLogitsRecord(record, key).ok()) {
      s = Status::OK();
      if (disk->GetMeta(key.model, key.parent).ok()) (void)disk->PutLogits(key, record);
    } else {
      ++upstream_corrupt;
    }
  }
  if (!s.ok()) return Error(id, s, false);
  bytes_served += record.size();
  return Reply{EncodeFrame(FrameType::kGetLogitsOk, id, record)};
}

Reply Server::Impl::HandlePutLogits(uint32_t id, std::string_view payload) {
  LogitsKey key;
  std::string_view record;
  Status s = ParseLogitsKey(payload, &key, &record);
  if (!s.ok()) {
    ++protocol_errors;
    return Error(id, s, true);
  }
  Status bad = VerifyLogitsRecord(record, key).status();
  if (bad.ok() && !disk->GetMeta(key.model, key.parent).ok()) {
    // Records are deleted with their parent block: one without it would stay forever.
    bad = Status::NotFound("put-logits: parent block " + key.parent.ToHex() + " is not stored");
  }
  if (!bad.ok()) {
    ++puts_rejected;
    return Error(id, bad, false);
  }
  MutexLock lock(PutLock(key.tail));
  if (std::string stored;
      disk->GetLogits(key, &stored).ok() && VerifyLogitsRecord(stored, key).ok()) {
    ++puts_already_stored;  // put once
    return Reply{EncodeFrame(FrameType::kPutLogitsOk, id, {})};
  }
  s = disk->PutLogits(key, record);
  if (!s.ok()) return Error(id, s, false);
  if (upstream_puts) upstream_puts->PutLogits(key, std::string(record));
  return Reply{EncodeFrame(FrameType::kPutLogitsOk, id, {})};
}

Reply Server::Impl::HandleRegister(uint32_t id, std::string_view payload) {
  ModelId model;
  std::string_view text;
  Status s = ParseModel(payload, &model, &text);
  if (!s.ok()) {
    ++protocol_errors;
    return Error(id, s, true);
  }
  auto description = ModelDescription::FromCanonicalText(text);
  if (!description.ok()) return Error(id, description.status(), false);
  auto fingerprint = description->Fingerprint();
  if (!fingerprint.ok() || *fingerprint != model) {
    return Error(id, Status::InvalidArgument("register: description does not hash to the model id"),
                 false);
  }
  s = disk->PutModel(model, text);
  if (!s.ok()) return Error(id, s, false);
  if (options.upstream != nullptr) (void)options.upstream->Register(model, text);
  return Reply{EncodeFrame(FrameType::kRegisterOk, id, {})};
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Start(DiskTier* disk, const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->disk = disk;
  impl->options = options;
  if (options.upstream != nullptr) {
    impl->upstream_puts =
        std::make_unique<RemotePutQueue>(options.upstream, options.upstream_queue_bytes);
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + options.host + "'");
  tcp::endpoint endpoint(address, options.port);
  const std::string where = options.host + ":" + std::to_string(options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("listen on " + where + ": " + ec.message());
  impl->Accept();
  const int threads = std::max(1, options.threads);
  for (int i = 0; i < threads; ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

ServerStats Server::Stats() const {
  ServerStats s;
  s.connections_accepted = impl_->accepted;
  s.connections_refused = impl_->refused;
  s.connections_active = impl_->active;
  s.requests = impl_->requests;
  s.protocol_errors = impl_->protocol_errors;
  s.blocks_served = impl_->blocks_served;
  s.bytes_served = impl_->bytes_served;
  s.blocks_stored = impl_->blocks_stored;
  s.puts_rejected = impl_->puts_rejected;
  s.puts_already_stored = impl_->puts_already_stored;
  s.puts_refused_read_only = impl_->puts_refused_read_only;
  s.bytes_stored = impl_->bytes_stored;
  s.match_blocks_found = impl_->match_found;
  s.match_blocks_missed = impl_->match_missed;
  s.upstream_blocks = impl_->upstream_blocks;
  s.upstream_corrupt = impl_->upstream_corrupt;
  s.tokens_served_disk = impl_->tokens_served_disk;
  s.tokens_served_upstream = impl_->tokens_served_upstream;
  if (impl_->upstream_puts) {
    s.upstream_puts = impl_->upstream_puts->puts();
    s.upstream_put_errors = impl_->upstream_puts->errors();
    s.upstream_queue_bytes = impl_->upstream_puts->queued_bytes();
  }
  s.get_seconds = impl_->get_seconds.Read();
  return s;
}

void Server::Stop(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->threads.empty()) return;
  impl_->stopping = true;
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  {
    MutexLock lock(&impl_->mu);
    for (const auto& weak : impl_->connections) {
      if (auto conn = weak.lock()) conn->Shutdown();
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (impl_->active > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->upstream_puts.reset();  // sends what is queued
}

}  // namespace kvstash
