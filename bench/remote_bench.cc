// Loading a 2048-token prefix of the Qwen2.5-0.5B shape (32 bf16 blocks)
// through `kvstash serve` on loopback, next to loading it from the local
// disk tier and next to a raw loopback TCP transfer of the same bytes, all
// in one run (these machines are noisy: compare the ratios). With --redis,
// also through a Redis Cluster (scripts/redis-cluster.sh start prints an
// address): the blocks are put there first.
//
//   kvstash_remote_bench [--rounds N] [--redis redis://HOST:PORT,...]
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/synthetic_kv.h"
#include "serde/block_codec.h"
#include "store/disk_tier.h"
#include "store/remote/peer_client.h"
#include "store/remote/redis_cluster_tier.h"
#include "store/remote/server.h"

using namespace kvstash;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Sends `total` bytes to each client that connects (the raw baseline).
void RawSender(tcp::acceptor* acceptor, const std::string* bytes, int transfers) {
  for (int i = 0; i < transfers; ++i) {
    tcp::socket s(acceptor->get_executor());
    acceptor->accept(s);
    s.set_option(tcp::no_delay(true));
    asio::write(s, asio::buffer(*bytes));
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string redis;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--redis") redis = argv[i + 1];
  }
  constexpr uint32_t kBlocks = 32;  // 2048 tokens
  const std::string dir = std::filesystem::temp_directory_path() / "kvstash-remote-bench";
  std::filesystem::remove_all(dir);

  // Encode 32 blocks of synthetic bf16 KV into a disk tier.
  std::vector<float> kv = bench::MakeKv(kBlocks);
  const size_t block_elems = kv.size() / kBlocks;
  DiskTierOptions disk_options;
  disk_options.path = dir;
  auto disk = std::move(DiskTier::Open(disk_options)).value();
  const ModelId model{1, 2};
  BlockCodec codec;
  std::vector<BlockHash> hashes;
  std::vector<std::string> blobs;
  std::string all_bytes;
  BlockHash parent = kRootBlockHash;
  uint64_t raw_total = 0;
  for (uint32_t b = 0; b < kBlocks; ++b) {
    std::string raw(block_elems * 2, '\0');
    for (size_t i = 0; i < block_elems; ++i) {
      uint16_t v = bench::F32ToBf16(kv[b * block_elems + i]);
      std::memcpy(&raw[2 * i], &v, 2);
    }
    BlockHeader h;
    h.model = model;
    h.parent = parent;
    h.tokens.resize(bench::kTokens);
    for (uint32_t t = 0; t < bench::kTokens; ++t) h.tokens[t] = static_cast<int32_t>(b * 64 + t);
    h.hash = ComputeBlockHash(model, parent, h.tokens.data(), h.tokens.size());
    h.shape = BlockShape{bench::kLayers, bench::kKvHeads, bench::kHeadDim, DType::kBF16};
    std::string blob;
    if (!codec.Encode(h, raw, EncodeOptions{}, &blob).ok()) return 1;
    DiskBlockWrite w;
    w.model = model;
    w.hash = h.hash;
    w.meta.parent = parent;
    w.meta.tokens = h.tokens;
    w.meta.raw_bytes = raw.size();
    w.meta.stored_bytes = blob.size();
    w.blob = blob;
    if (!disk->PutBlocks({w}, false).ok()) return 1;
    hashes.push_back(h.hash);
    all_bytes += blob;
    blobs.push_back(std::move(blob));
    raw_total += raw.size();
    parent = h.hash;
  }

  ServerOptions server_options;
  server_options.port = 0;
  auto server = std::move(Server::Start(disk.get(), server_options)).value();
  PeerOptions remote_options;
  remote_options.port = server->port();
  PeerClient client(remote_options);

  std::unique_ptr<RedisClusterTier> cluster;
  if (!redis.empty()) {
    auto options = ParseRedisAddress(redis, "");
    if (!options.ok()) {
      std::fprintf(stderr, "%s\n", options.status().ToString().c_str());
      return 2;
    }
    cluster = RedisClusterTier::Open(*options);
    for (uint32_t b = 0; b < kBlocks; ++b) {
      cluster->Drop(model, hashes[b]);  // a value left by an earlier run would be kept (NX)
      Status put = cluster->Put(model, hashes[b], blobs[b]);
      if (!put.ok()) {
        std::fprintf(stderr, "put to %s: %s\n", redis.c_str(), put.ToString().c_str());
        return 2;
      }
    }
  }

  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread sender(RawSender, &acceptor, &all_bytes, rounds + 1);

  std::string out(raw_total / kBlocks, '\0');
  std::string blob;
  std::vector<double> raw_ms, remote_get_ms, remote_load_ms, disk_load_ms;
  std::vector<double> redis_get_ms, redis_load_ms;
  // Touched once and reused, like the client's blob buffer, so the baseline
  // does not pay first-touch page faults the other paths avoid.
  std::string raw_buf(all_bytes.size(), '\0');
  for (int r = 0; r <= rounds; ++r) {
    // Raw loopback TCP of the same bytes.
    auto t = std::chrono::steady_clock::now();
    {
      tcp::socket s(io);
      s.connect(acceptor.local_endpoint());
      asio::read(s, asio::buffer(raw_buf));
    }
    double raw = MsSince(t);
    // Through the server: match + get of every block, no decode.
    t = std::chrono::steady_clock::now();
    auto present = client.Match(model, hashes);
    if (!present.ok() || *present != kBlocks) return 2;
    for (const BlockHash& h : hashes) {
      if (!client.Get(model, h, &blob).ok()) return 3;
    }
    double remote_get = MsSince(t);
    // Through the server, decoded into memory (what a warm start does).
    t = std::chrono::steady_clock::now();
    for (const BlockHash& h : hashes) {
      if (!client.Get(model, h, &blob).ok()) return 3;
      if (!codec.Decode(blob, {{0, out.data(), out.size()}}).ok()) return 4;
    }
    double remote_load = MsSince(t);
    // From the local disk tier, decoded.
    t = std::chrono::steady_clock::now();
    for (const BlockHash& h : hashes) {
      if (!disk->GetBlob(model, h, &blob).ok()) return 5;
      if (!codec.Decode(blob, {{0, out.data(), out.size()}}).ok()) return 4;
    }
    double disk_load = MsSince(t);
    // Through the cluster: one pipeline per master, all at once; then the
    // same with each blob decoded as it arrives (on the thread reading that
    // master), as Store::Load does.
    double redis_get = 0, redis_load = 0;
    if (cluster) {
      t = std::chrono::steady_clock::now();
      auto in_cluster = cluster->Match(model, hashes);
      if (!in_cluster.ok() || *in_cluster != kBlocks) return 6;
      std::atomic<size_t> got{0};  // the sink runs on one thread per master
      cluster->GetMany(model, hashes, 8, [&](size_t, Status s, std::string*) { got += s.ok(); });
      if (got != kBlocks) return 6;
      redis_get = MsSince(t);
      t = std::chrono::steady_clock::now();
      std::atomic<size_t> decoded{0};
      cluster->GetMany(model, hashes, 8, [&](size_t, Status s, std::string* b) {
        thread_local BlockCodec thread_codec;
        thread_local std::string thread_out;
        thread_out.resize(out.size());
        if (s.ok() && thread_codec.Decode(*b, {{0, thread_out.data(), thread_out.size()}}).ok()) {
          ++decoded;
        }
      });
      if (decoded != kBlocks) return 7;
      redis_load = MsSince(t);
    }
    if (r == 0) continue;  // warm-up round
    redis_get_ms.push_back(redis_get);
    redis_load_ms.push_back(redis_load);
    raw_ms.push_back(raw);
    remote_get_ms.push_back(remote_get);
    remote_load_ms.push_back(remote_load);
    disk_load_ms.push_back(disk_load);
  }
  sender.join();
  server->Stop();

  const double mb = all_bytes.size() / 1e6;
  std::printf(
      "2048-token prefix, Qwen2.5-0.5B shape, bf16: %u blocks, %.1f MB raw, %.1f MB "
      "stored; median of %d rounds\n",
      kBlocks, raw_total / 1e6, mb, rounds);
  std::printf("%-44s %9s %9s %8s\n", "path", "ms", "MB/s", "ratio");
  const double base = Median(raw_ms);
  auto row = [&](const char* name, const std::vector<double>& v) {
    const double m = Median(v);
    std::printf("%-44s %9.1f %9.0f %7.2fx\n", name, m, mb / (m / 1000), m / base);
  };
  row("raw loopback TCP, same bytes (baseline)", raw_ms);
  row("kvstash serve: match + get (no decode)", remote_get_ms);
  row("kvstash serve: get + decode", remote_load_ms);
  row("local disk tier: get + decode", disk_load_ms);
  if (cluster) {
    row("redis cluster: match + pipelined gets", redis_get_ms);
    row("redis cluster: gets + decode as they arrive", redis_load_ms);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
