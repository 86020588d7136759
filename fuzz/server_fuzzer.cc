// Feeds a running `kvstash serve` server (Server, over loopback TCP, on a
// real disk tier) a client's byte stream: the frame reader, the hello gate,
// every request handler and the disk writes behind put, put-logits and
// register. Needs the store library, so it is built only from the top level
// (the `fuzz` preset), not by the torch-free short run.
//
// Input: control byte | bytes sent on one connection. Control bit 0: send a
// valid hello (empty token) first, so the fuzzer starts authenticated. Bit 1:
// recompute the trailer of each frame the bytes hold before sending. The
// client then half-closes and reads until the server closes. The store lives
// in a private directory under $TMPDIR (default /dev/shm if writable, else
// /tmp), removed at exit.
//
// Properties: the server neither crashes, leaks nor hits UB; it closes the
// connection once the client is done (no hang); everything it sends is a
// sequence of well-formed frames (header, checksum) of the types a server
// sends; and after each input it still serves a new client (hello, stats).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "serde/wire.h"
#include "store/disk_tier.h"
#include "store/remote/server.h"

namespace kvstash::fuzz {
namespace {

// Limits the server is run with: small enough that the fuzzer reaches them.
constexpr uint32_t kMaxFrame = 1u << 20;

struct ScratchServer {
  std::string dir;
  std::unique_ptr<DiskTier> disk;
  std::unique_ptr<Server> server;
  ScratchServer() {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp ? tmp : "/tmp";
    if (!(tmp && *tmp) && ::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    std::string pattern = base + "/kvstash-fuzz-server-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed");
    dir = pattern;
    DiskTierOptions disk_options;
    disk_options.path = dir + "/store";
    disk_options.read_cache_bytes = 1u << 20;
    Result<std::unique_ptr<DiskTier>> opened = DiskTier::Open(disk_options);
    if (!opened.ok()) Die(opened.status().ToString());
    disk = std::move(opened).value();
    ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.max_frame_bytes = kMaxFrame;
    options.hello_timeout = std::chrono::seconds(5);
    options.io_timeout = std::chrono::seconds(5);
    options.idle_timeout = std::chrono::seconds(5);
    Result<std::unique_ptr<Server>> started = Server::Start(disk.get(), options);
    if (!started.ok()) Die(started.status().ToString());
    server = std::move(started).value();
  }
  ~ScratchServer() {
    server.reset();
    disk.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  [[noreturn]] static void Die(const std::string& what) {
    std::fprintf(stderr, "server fuzzer setup: %s\n", what.c_str());
    std::abort();
  }
};

// Sends `bytes` on a new connection, half-closes, returns all it got back.
std::string Exchange(uint16_t port, std::string_view bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  timeval timeout{10, 0};  // the server's own timeouts are 5 s
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int connected;
  do {
    connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } while (connected != 0 && errno == EINTR);
  FUZZ_CHECK_MSG(connected == 0, std::strerror(errno));
  // The server may close early (a bad frame); what it did not read is lost.
  size_t sent = 0;
  // EINTR: libFuzzer's timeout alarm interrupts blocking calls.
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      FUZZ_CHECK_MSG(errno == ECONNRESET,
                     "the server kept the connection open: " + std::string(std::strerror(errno)));
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return got;
}

bool ServerSends(FrameType type) {
  switch (type) {
    case FrameType::kHelloOk:
    case FrameType::kMatchOk:
    case FrameType::kGetOk:
    case FrameType::kPutOk:
    case FrameType::kStatsOk:
    case FrameType::kRegisterOk:
    case FrameType::kGetLogitsOk:
    case FrameType::kPutLogitsOk:
    case FrameType::kError:
      return true;
    default:
      return false;
  }
}

// Checks that `reply` is whole, well-formed frames; returns their types.
std::vector<FrameType> CheckReplies(std::string_view reply) {
  std::vector<FrameType> types;
  size_t pos = 0;
  while (pos < reply.size()) {
    FUZZ_CHECK_MSG(reply.size() - pos >= kFrameHeaderSize, "a truncated reply header");
    Result<FrameHeader> h = DecodeFrameHeader(reply.data() + pos, UINT32_MAX);
    FUZZ_CHECK_MSG(h.ok(), h.status().ToString());
    FUZZ_CHECK_MSG(ServerSends(h->type), std::string("the server sent ") + FrameTypeName(h->type));
    const size_t size = kFrameHeaderSize + size_t{h->payload_len} + kFrameTrailerSize;
    FUZZ_CHECK_MSG(reply.size() - pos >= size, "a truncated reply");
    const std::string_view payload = reply.substr(pos + kFrameHeaderSize, h->payload_len);
    FUZZ_CHECK(VerifyFrameChecksum(reply.data() + pos, payload,
                                   reply.data() + pos + kFrameHeaderSize + payload.size())
                   .ok());
    if (h->type == FrameType::kError) FUZZ_CHECK(!ParseError(payload).ok());
    types.push_back(h->type);
    pos += size;
  }
  return types;
}

// Recomputes the trailer of each frame `bytes` holds, up to the first header
// that does not decode or a frame cut short.
void FixFrameTrailers(std::string* bytes) {
  size_t pos = 0;
  while (bytes->size() - pos >= kFrameHeaderSize) {
    Result<FrameHeader> h = DecodeFrameHeader(bytes->data() + pos, UINT32_MAX);
    if (!h.ok()) return;
    const size_t size = kFrameHeaderSize + size_t{h->payload_len} + kFrameTrailerSize;
    if (bytes->size() - pos < size) return;
    const size_t covered = size - kFrameTrailerSize;
    EncodeFixed64(bytes->data() + pos + covered, Xxh3Hash64(bytes->data() + pos, covered));
    pos += size;
  }
}

}  // namespace
}  // namespace kvstash::fuzz

// The server frees a connection on its own threads, after the client has
// seen the close, so libFuzzer's per-input leak check (malloc and free counts
// differ) would run LeakSanitizer on nearly every input: 30 exec/s instead
// of ~500. Default -detect_leaks=0 (leaks are still checked at exit); a
// -detect_leaks given on the command line wins, coming later.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  static std::vector<char*> args;
  static char no_leak_checks[] = "-detect_leaks=0";
  args.assign(*argv, *argv + *argc);
  args.insert(args.begin() + 1, no_leak_checks);
  args.push_back(nullptr);
  *argc = static_cast<int>(args.size()) - 1;
  *argv = args.data();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  static ScratchServer* scratch = new ScratchServer();
  static const bool registered = (std::atexit([] { delete scratch; }), true);
  (void)registered;
  if (size < 1) return 0;
  const std::string hello = EncodeFrame(FrameType::kHello, 0, HelloPayload(kWireVersion, ""));
  std::string bytes(AsView(data + 1, size - 1));
  if (data[0] & 2) FixFrameTrailers(&bytes);
  if (data[0] & 1) bytes = hello + bytes;

  const uint16_t port = scratch->server->port();
  CheckReplies(Exchange(port, bytes));

  // Still serving.
  const std::string stats = hello + EncodeFrame(FrameType::kStats, 1, {});
  const std::vector<FrameType> replies = CheckReplies(Exchange(port, stats));
  FUZZ_CHECK(replies.size() == 2 && replies[0] == FrameType::kHelloOk &&
             replies[1] == FrameType::kStatsOk);
  return 0;
}
