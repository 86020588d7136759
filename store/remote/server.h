// Server: the asynchronous (Boost.Asio) TCP server behind `kvstash serve`,
// sharing one store's disk tier with every inference process that connects.
//
// Protocol: serde/wire.h; grammar in docs/format.md. A client must say hello
// (protocol version, shared token) before anything else. Blocks travel as
// stored; a put is checked (checksum, header against key, the block hash
// recomputed from the header's parent and tokens) before it is written, so a
// broken client cannot store a block under another block's key.
//
// Trust (docs/architecture.md, "Trust"): a client holding the write token can
// store K/V that is well-formed but wrong (nothing but the model can tell).
// So blocks and logits records are put once: a put of a key that is already
// stored (and reads back sound) changes nothing, and what honest clients
// stored first cannot be replaced. Clients that only read get the read token
// (ServerOptions::read_token), which cannot put or register anything.
// `kvstash verify --recompute` finds K/V that is well-formed but wrong.
//
// Hostile input gets an error frame or a closed connection, never a crash or
// unbounded memory: frame payloads are bounded (max_frame_bytes, checked
// before reading; before hello only a hello of kMaxHelloPayloadBytes),
// connections are bounded (max_connections; when full, a new connection
// replaces the oldest one that has not said hello, else it is closed at
// once), a connection must say hello within hello_timeout, idle connections
// time out, and a peer that stops reading is dropped after io_timeout.
//
// Thread-safety: Start() and Stop() from one thread; the server runs on its
// own `threads` threads.
#ifndef KVSTASH_STORE_REMOTE_SERVER_H_
#define KVSTASH_STORE_REMOTE_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serde/status.h"
#include "store/disk_tier.h"
#include "store/latency_histogram.h"
#include "store/remote/remote_tier.h"

namespace kvstash {

struct ServerOptions {
  // Address to bind. Default: loopback; anything else is an explicit choice.
  std::string host = "127.0.0.1";
  // Port; 0 picks a free one (see Server::port()). Default: 7420.
  uint16_t port = 7420;
  // Shared secret every client must present; empty: none. Default: empty.
  std::string token;
  // A second secret that allows only reading (match, get, get-logits,
  // stats): puts and registrations are refused. Empty: none. Default: empty.
  std::string read_token;
  // I/O threads. Default: 2.
  int threads = 2;
  // Largest frame payload accepted. Default: 64 MiB.
  uint32_t max_frame_bytes = 64u << 20;
  // Connections served at once. When full, a new connection takes the place
  // of the oldest one that has not said hello yet; if every connection has,
  // the new one is closed on accept. Default: 256.
  size_t max_connections = 256;
  // An authenticated connection with no request for this long is closed.
  // Default: 120 s.
  std::chrono::milliseconds idle_timeout{120000};
  // A new connection must say hello within this long, or it is closed.
  // Until then it may send only a hello of at most kMaxHelloPayloadBytes:
  // nothing larger is read or allocated for a peer that has not proved it
  // holds the token. Default: 10 s.
  std::chrono::milliseconds hello_timeout{10000};
  // Reading a started frame or writing a response may take this long.
  // Default: 30 s.
  std::chrono::milliseconds io_timeout{30000};
  // A remote tier behind the disk (a Redis Cluster many hosts share), or
  // null. Blocks and logits records the disk lacks are matched and fetched
  // there, checked like a put (a bad one is dropped there and is a miss) and
  // kept on disk; every put the server stores (and every registration) is
  // sent on to it on a queue of its own, bounded by `upstream_queue_bytes`.
  // Not owned; outlives the server. Default: null.
  RemoteTier* upstream = nullptr;
  // Default: 256 MiB.
  uint64_t upstream_queue_bytes = 256ull << 20;
};

// The largest hello payload accepted (version and token).
inline constexpr uint32_t kMaxHelloPayloadBytes = 4096;

struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t connections_active = 0;
  uint64_t requests = 0;
  uint64_t protocol_errors = 0;  // malformed or hostile frames
  uint64_t blocks_served = 0;
  uint64_t bytes_served = 0;
  uint64_t blocks_stored = 0;
  uint64_t puts_rejected = 0;
  uint64_t puts_already_stored = 0;  // put once: the stored block or record was kept
  uint64_t puts_refused_read_only = 0;
  uint64_t bytes_stored = 0;               // blob bytes of blocks_stored
  uint64_t match_blocks_found = 0;         // blocks asked for by match and held (disk or upstream)
  uint64_t match_blocks_missed = 0;        // blocks asked for by match and not held
  uint64_t upstream_blocks = 0;            // served from the upstream tier (then kept on disk)
  uint64_t tokens_served_disk = 0;         // tokens of the blocks served from disk
  uint64_t tokens_served_upstream = 0;     // tokens of the blocks served from upstream
  uint64_t upstream_corrupt = 0;           // upstream blocks or records that failed the check
  uint64_t upstream_puts = 0;              // sent on to the upstream tier
  uint64_t upstream_put_errors = 0;        // failed or dropped (queue full)
  uint64_t upstream_queue_bytes = 0;       // waiting to be sent on
  LatencyHistogram::Snapshot get_seconds;  // handling one get (disk or upstream)
};

class Server {
 public:
  // Binds and starts serving `disk` (which must outlive the server).
  // IOError naming the address if it cannot bind.
  static Result<std::unique_ptr<Server>> Start(DiskTier* disk, const ServerOptions& options);
  // Stops if running.
  ~Server();

  uint16_t port() const;
  ServerStats Stats() const;

  // Stops accepting, lets requests in flight finish (up to `grace`), closes
  // every connection and joins the threads. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

 private:
  friend class Connection;  // server.cc's per-connection state machine
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_SERVER_H_
