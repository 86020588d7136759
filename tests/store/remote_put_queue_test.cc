// Puts to the peer have their own queue (issue 13): a peer that is slow to
// answer never holds up the disk writer, nor Insert through its backpressure.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "serde/wire.h"
#include "store/store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::TempDir;

bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// A peer that speaks the wire protocol but holds every put unanswered until
// Release(): a slow `kvstash serve`, deterministically.
class HeldPeer {
 public:
  HeldPeer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      for (int fd; (fd = ::accept(listen_fd_, nullptr, nullptr)) >= 0;) {
        std::lock_guard<std::mutex> lock(mu_);
        fds_.push_back(fd);
        connections_.emplace_back([this, fd] { Serve(fd); });
      }
    });
  }
  ~HeldPeer() {
    Release();
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : connections_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  int puts_received() const { return puts_received_; }

 private:
  void Serve(int fd) {
    char header[kFrameHeaderSize];
    while (ReadAll(fd, header, sizeof(header))) {
      auto h = DecodeFrameHeader(header, 1u << 30);
      if (!h.ok()) return;
      std::string rest(size_t{h->payload_len} + kFrameTrailerSize, '\0');
      if (!ReadAll(fd, rest.data(), rest.size())) return;
      std::string reply;
      switch (h->type) {
        case FrameType::kHello:
          reply = EncodeFrame(FrameType::kHelloOk, h->request_id,
                              HelloOkPayload(kWireVersion, 1u << 28));
          break;
        case FrameType::kRegister:
          reply = EncodeFrame(FrameType::kRegisterOk, h->request_id, {});
          break;
        case FrameType::kPut: {
          ++puts_received_;
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return released_; });
          reply = EncodeFrame(FrameType::kPutOk, h->request_id, {});
          break;
        }
        default:
          reply = EncodeFrame(FrameType::kError, h->request_id,
                              ErrorPayload(Status::NotSupported("not in this test")));
      }
      if (::write(fd, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) return;
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<int> fds_;
  std::vector<std::thread> connections_;
  std::atomic<int> puts_received_{0};
};

TEST(RemotePutQueueTest, APeerHoldingPutsDoesNotHoldUpDiskWrites) {
  HeldPeer peer;
  TempDir dir;
  StoreOptions options;
  options.path = dir.path();
  options.device = "cpu";
  options.remote = peer.address();
  auto opened = Store::Open(options);
  ASSERT_OK(opened.status());
  auto store = std::move(opened).value();
  const auto desc = testing::TestModel();
  auto model = store->RegisterModel(desc).value();

  // 4 prompts of 3 blocks each, written through to disk and sent to the peer.
  constexpr uint64_t kBlocks = 12;
  for (int p = 0; p < 4; ++p) {
    auto tokens = Iota(48, 1 + 100 * p);
    ASSERT_OK(store->Insert(model, tokens, MakeKv(desc, tokens, 48)).status());
  }
  // Every block reaches the disk while the peer still holds the first put
  // (the peer answers none before Release()).
  // (One writer thread doing both waited for each put before the next disk
  // write: here it would wait out the client's 5 s timeout.)
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((store->Stats().disk_blocks_written < kBlocks || peer.puts_received() < 1) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  StoreStats during = store->Stats();
  EXPECT_EQ(during.disk_blocks_written, kBlocks);
  EXPECT_EQ(during.remote_puts + during.remote_put_errors, 0u)
      << "a put finished before the peer answered any";
  EXPECT_GE(peer.puts_received(), 1);

  peer.Release();
  ASSERT_OK(store->Flush());  // waits for the puts too
  StoreStats after = store->Stats();
  EXPECT_EQ(after.remote_puts, kBlocks);
  EXPECT_EQ(after.remote_put_errors, 0u);
  EXPECT_EQ(peer.puts_received(), static_cast<int>(kBlocks));
}

}  // namespace
}  // namespace kvstash
