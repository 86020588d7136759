// The Redis Cluster remote tier (store/remote/redis_cluster_tier.h) against
// clusters of its own (scripts/redis-cluster.sh): sharing between stores,
// corrupt and foreign values, a node killed, failover, a reshard under
// load, a wrong password.
#include "store/remote/redis_cluster_tier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "serde/block_hash.h"
#include "store/disk_tier.h"
#include "store/remote/redis_keys.h"
#include "store/store.h"
#include "tests/store/redis_cluster_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::RedisClusterProcess;
using testing::TempDir;
using testing::TestModel;

constexpr size_t kBlock = 16;

// `path` empty: no disk tier, so every load reaches the cluster.
std::unique_ptr<Store> OpenStore(const std::string& path, const std::string& remote,
                                 const std::string& token = "") {
  StoreOptions options;
  options.path = path;
  options.device = "cpu";
  options.remote = remote;
  options.remote_token = token;
  options.promote_on_hit = false;
  auto store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

// The chained hashes of `tokens`' blocks (the last one partial).
std::vector<BlockHash> ChainOf(const ModelId& model, const std::vector<int32_t>& tokens) {
  std::vector<BlockHash> out;
  BlockHash parent = kRootBlockHash;
  for (size_t p = 0; p < tokens.size(); p += kBlock) {
    const size_t n = std::min(kBlock, tokens.size() - p);
    parent = ComputeBlockHash(model, parent, tokens.data() + p, n);
    out.push_back(parent);
  }
  return out;
}

// Loads `tokens` into `view` through a fresh store with no disk.
Result<LoadResult> LoadFresh(const std::string& remote, const ModelDescription& desc,
                             const std::vector<int32_t>& tokens, const KvCacheView& view,
                             const std::string& token = "") {
  auto store = OpenStore("", remote, token);
  if (store == nullptr) return Status::IOError("store did not open");
  KVSTASH_ASSIGN_OR_RETURN(ModelId model, store->RegisterModel(desc));
  return store->Load(model, tokens, view);
}

RedisClusterOptions OptionsFor(const std::string& address, const std::string& token = "") {
  RedisClusterOptions options = ParseRedisAddress(address, token).value();
  options.retry_after = std::chrono::milliseconds(200);
  return options;
}

// Stores `tokens` (their KV from MakeKv) in the cluster through a store of
// its own, and waits until the background writer has put every block.
void Publish(const std::string& remote, const ModelDescription& desc,
             const std::vector<int32_t>& tokens, const std::string& token = "") {
  TempDir dir;
  auto store = OpenStore(dir.path(), remote, token);
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc).value();
  ASSERT_OK(store->Insert(model, tokens, MakeKv(desc, tokens, tokens.size())).status());
  ASSERT_OK(store->Flush());
  EXPECT_EQ(store->Stats().remote_put_errors, 0u);
}

TEST(RedisClusterTierTest, TwoStoresShareBlocksThroughTheCluster) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel(DType::kBF16);
  const auto tokens = Iota(70);  // 4 blocks of 16 and a partial of 6
  const auto kv = MakeKv(desc, tokens, 80);
  Publish(cluster.address(), desc, tokens);

  TempDir b;
  auto store = OpenStore(b.path(), cluster.address());
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc).value();
  EXPECT_EQ(store->Match(model, tokens)->remote_tokens, 70u);
  auto dst = MakeKv(desc, {}, 80);
  auto loaded = store->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 70u);
  EXPECT_EQ(loaded->remote_tokens, 70u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 70));
  // What the cluster served is kept on b's disk (in the background): then a
  // prompt that extends the stored one reuses all of it, the partial last
  // block too (a prefix of the longer prompt's block: found on disk; the
  // cluster holds only the exact tail).
  ASSERT_OK(store->Flush());
  auto longer = Iota(90);
  auto dst2 = MakeKv(desc, {}, 96);
  auto extended = store->Load(model, longer, dst2);
  ASSERT_OK(extended.status());
  EXPECT_EQ(extended->tokens, 70u);
  EXPECT_EQ(extended->disk_tokens, 70u);
  EXPECT_TRUE(PrefixEqual(dst2, kv, 70));

  // One key per block, spread over the masters, holding the disk tier's blobs.
  auto tier = RedisClusterTier::Open(OptionsFor(cluster.address()));
  uint64_t blocks = 0;
  size_t nodes_holding = 0;
  for (const RedisNodeCensus& node : tier->Census()) {
    EXPECT_TRUE(node.error.empty()) << node.error;
    blocks += node.blocks;
    nodes_holding += node.blocks > 0;
    EXPECT_GT(node.used_memory, 0u);
  }
  EXPECT_EQ(blocks, 5u);
  EXPECT_GE(nodes_holding, 2u);
  std::string blob;
  ASSERT_OK(tier->Get(model, ChainOf(model, tokens)[4], &blob));
  std::string on_disk;
  ASSERT_OK(store->disk()->GetBlob(model, ChainOf(model, tokens)[4], &on_disk));
  EXPECT_EQ(blob, on_disk);
}

TEST(RedisClusterTierTest, ACorruptValueIsAMissAndIsRemoved) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel();
  const auto tokens = Iota(70);
  const auto kv = MakeKv(desc, tokens, 80);
  Publish(cluster.address(), desc, tokens);
  const ModelId model = desc.Fingerprint().value();
  const std::string key = RedisBlockKey(model, ChainOf(model, tokens)[2]);
  const int port = cluster.Ports()[0];
  ASSERT_EQ(cluster.Cli(port, "SET " + key + " not-a-block"), "OK");

  auto store = OpenStore("", cluster.address());
  ASSERT_NE(store, nullptr);
  store->RegisterModel(desc).value();
  auto dst = MakeKv(desc, {}, 80);
  auto loaded = store->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 32u);  // the prefix ends before the corrupt block
  EXPECT_EQ(loaded->corrupt_blocks, 1u);
  EXPECT_TRUE(PrefixEqual(dst, kv, 32));
  EXPECT_EQ(cluster.Cli(port, "EXISTS " + key), "0");  // removed, so it is stored again

  // The next store to compute it puts it back, and the whole prompt is shared again.
  Publish(cluster.address(), desc, tokens);
  auto again = MakeKv(desc, {}, 80);
  loaded = LoadFresh(cluster.address(), desc, tokens, again);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 70u);
  EXPECT_TRUE(PrefixEqual(again, kv, 70));
}

TEST(RedisClusterTierTest, AnotherModelsValueIsAMiss) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto ours = TestModel();
  const auto theirs = TestModel(DType::kF32, kBlock, "other weights");
  const auto tokens = Iota(40);
  Publish(cluster.address(), theirs, tokens);
  const ModelId their_model = theirs.Fingerprint().value();
  const ModelId our_model = ours.Fingerprint().value();
  ASSERT_NE(their_model, our_model);

  // Their first block, planted under our first block's key.
  auto tier = RedisClusterTier::Open(OptionsFor(cluster.address()));
  std::string blob;
  ASSERT_OK(tier->Get(their_model, ChainOf(their_model, tokens)[0], &blob));
  const BlockHash our_first = ChainOf(our_model, tokens)[0];
  ASSERT_OK(tier->Put(our_model, our_first, blob));

  auto store = OpenStore("", cluster.address());
  ASSERT_NE(store, nullptr);
  store->RegisterModel(ours).value();
  auto dst = MakeKv(ours, {}, 48);
  auto loaded = store->Load(our_model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 0u);
  EXPECT_EQ(loaded->corrupt_blocks, 1u);
  EXPECT_TRUE(tier->Get(our_model, our_first, &blob).IsNotFound());  // dropped
  // Theirs is untouched.
  EXPECT_OK(tier->Get(their_model, ChainOf(their_model, tokens)[0], &blob));
}

// Redis as an LRU cache (maxmemory, allkeys-lru) evicts blocks from the
// middle of chains: a load then ends where its chain is broken, and what it
// loads is right.
TEST(RedisClusterTierTest, BlocksEvictedByRedisEndThePrefixThereAndNothingWrongIsServed) {
  RedisClusterProcess cluster("--maxmemory 3mb --policy allkeys-lru");
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel();
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 120; ++i) prompts.push_back(Iota(70, 100 * (i + 1)));
  {
    auto store = OpenStore("", cluster.address());
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc).value();
    for (const auto& p : prompts) {
      ASSERT_OK(store->Insert(model, p, MakeKv(desc, p, 70)).status());
    }
    ASSERT_OK(store->Flush());
  }
  auto tier = RedisClusterTier::Open(OptionsFor(cluster.address()));
  uint64_t evicted = 0, blocks = 0;
  for (const RedisNodeCensus& node : tier->Census()) {
    evicted += node.evicted_keys;
    blocks += node.blocks;
    EXPECT_EQ(node.maxmemory_policy, "allkeys-lru");
  }
  ASSERT_GT(evicted, 0u) << "maxmemory too large for the test to evict";
  EXPECT_LT(blocks, prompts.size() * 5);

  auto store = OpenStore("", cluster.address());
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc).value();
  size_t whole = 0, partial = 0, none = 0;
  for (const auto& p : prompts) {
    auto dst = MakeKv(desc, {}, 70);
    auto loaded = store->Load(model, p, dst);
    ASSERT_OK(loaded.status());
    EXPECT_EQ(loaded->corrupt_blocks, 0u);
    ASSERT_TRUE(loaded->tokens == 70 || loaded->tokens % kBlock == 0) << loaded->tokens;
    EXPECT_TRUE(PrefixEqual(dst, MakeKv(desc, p, 70), loaded->tokens));
    (loaded->tokens == 70 ? whole : loaded->tokens > 0 ? partial : none) += 1;
  }
  EXPECT_GT(whole + partial, 0u);
  std::printf("evicted %llu keys; of %zu prompts: %zu whole, %zu partial, %zu missed\n",
              static_cast<unsigned long long>(evicted), prompts.size(), whole, partial, none);
}

// The port of the master holding `key`.
int NodeHolding(const RedisClusterProcess& cluster, const std::string& key) {
  for (int port : cluster.Ports()) {
    if (cluster.CliRaw(port, "EXISTS " + key) == "1") return port;
  }
  return -1;
}

TEST(RedisClusterTierTest, ANodeKilledIsAMissAndRecovers) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel();
  const auto tokens = Iota(16 * 12);  // 12 blocks: every master holds some
  const auto kv = MakeKv(desc, tokens, tokens.size());
  Publish(cluster.address(), desc, tokens);
  const ModelId model = desc.Fingerprint().value();
  const auto chain = ChainOf(model, tokens);
  // Kill the master holding block 3; the blocks before it live elsewhere
  // or on it, and the prefix ends at the first block it holds.
  const int victim = NodeHolding(cluster, RedisBlockKey(model, chain[3]));
  ASSERT_GT(victim, 0);
  size_t first_on_victim = 0;
  while (NodeHolding(cluster, RedisBlockKey(model, chain[first_on_victim])) != victim) {
    ++first_on_victim;
  }
  ASSERT_TRUE(cluster.Kill(victim));

  auto store = OpenStore("", cluster.address());
  ASSERT_NE(store, nullptr);
  store->RegisterModel(desc).value();
  for (int round = 0; round < 3; ++round) {
    auto dst = MakeKv(desc, {}, tokens.size());
    const auto start = std::chrono::steady_clock::now();
    auto loaded = store->Load(model, tokens, dst);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_OK(loaded.status());
    EXPECT_EQ(loaded->tokens, first_on_victim * kBlock) << "round " << round;
    EXPECT_TRUE(PrefixEqual(dst, kv, loaded->tokens));
    EXPECT_LT(seconds, 5.0) << "a dead node must not stall a load";
  }
  // Inserts while it is down never fail.
  {
    auto writer = OpenStore("", cluster.address());
    auto m = writer->RegisterModel(desc).value();
    ASSERT_OK(writer->Insert(m, Iota(64, 5000), MakeKv(desc, Iota(64, 5000), 64)).status());
    ASSERT_OK(writer->Flush());
  }

  // Back (empty: no persistence in this cluster): stored again, then hit.
  ASSERT_TRUE(cluster.Restart(victim));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past retry_after
  Publish(cluster.address(), desc, tokens);
  auto dst = MakeKv(desc, {}, tokens.size());
  auto loaded = LoadFresh(cluster.address(), desc, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, tokens.size());
  EXPECT_TRUE(PrefixEqual(dst, kv, tokens.size()));
}

TEST(RedisClusterTierTest, AFailedMasterIsReplacedByItsReplicaAndHitsReturn) {
  RedisClusterProcess cluster("--replicas 1 --node-timeout 1000");
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel();
  const auto tokens = Iota(70);
  const auto kv = MakeKv(desc, tokens, 80);
  Publish(cluster.address(), desc, tokens);
  const ModelId model = desc.Fingerprint().value();
  const std::string first_key = RedisBlockKey(model, ChainOf(model, tokens)[0]);
  const int victim = NodeHolding(cluster, first_key);
  ASSERT_GT(victim, 0);
  // Replication is asynchronous (milliseconds on loopback): give it a second.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(cluster.Kill(victim));

  size_t misses = 0, loads = 0;
  bool hit = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!hit && std::chrono::steady_clock::now() < deadline) {
    auto store = OpenStore("", cluster.address());
    ASSERT_NE(store, nullptr);
    store->RegisterModel(desc).value();
    auto dst = MakeKv(desc, {}, 80);
    auto loaded = store->Load(model, tokens, dst);
    ASSERT_TRUE(loaded.ok()) << "load " << loads << ": " << loaded.status().ToString();
    ++loads;
    EXPECT_TRUE(PrefixEqual(dst, kv, loaded->tokens));
    if (loaded->tokens == 70) {
      hit = true;
    } else {
      // A prefix of whole blocks: where the failed master's blocks start,
      // or, while the replica takes over, wherever a fetch met it.
      EXPECT_EQ(loaded->tokens % kBlock, 0u);
      ++misses;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  EXPECT_TRUE(hit) << "no hit 30 s after the master died (" << loads << " loads)";
  EXPECT_GE(misses, 1u);
}

TEST(RedisClusterTierTest, AReshardWhileLoadingLosesNothing) {
  RedisClusterProcess cluster;
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel();
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 4; ++i) prompts.push_back(Iota(70, 1000 * (i + 1)));
  for (const auto& p : prompts) Publish(cluster.address(), desc, p);
  const ModelId model = desc.Fingerprint().value();
  // A tier whose slot map predates the reshard: it must follow MOVED.
  auto old_map = RedisClusterTier::Open(OptionsFor(cluster.address()));

  std::atomic<bool> done{false};
  std::atomic<size_t> loads{0}, short_loads{0}, failed{0};
  std::thread loader([&] {
    auto store = OpenStore("", cluster.address());
    if (store == nullptr || !store->RegisterModel(desc).ok()) {
      ++failed;
      return;
    }
    while (!done) {
      for (const auto& p : prompts) {
        auto dst = MakeKv(desc, {}, 80);
        auto loaded = store->Load(model, p, dst);
        ++loads;
        if (!loaded.ok()) {
          ++failed;
        } else if (loaded->tokens != 70 || !PrefixEqual(dst, MakeKv(desc, p, 80), 70)) {
          ++short_loads;
        }
      }
    }
  });
  // Most of the first master's slots to the second, the rest to the third.
  const std::vector<int> ports = cluster.Ports();
  std::vector<std::string> ids;
  for (int p : ports) ids.push_back(cluster.CliRaw(p, "CLUSTER MYID"));
  for (const auto& [to, slots] : {std::pair{ids[1], 3000}, std::pair{ids[2], 2000}}) {
    const std::string reshard =
        "redis-cli --cluster reshard 127.0.0.1:" + std::to_string(ports[0]) + " --cluster-from " +
        ids[0] + " --cluster-to " + to + " --cluster-slots " + std::to_string(slots) +
        " --cluster-yes >/dev/null 2>&1";
    ASSERT_EQ(std::system(reshard.c_str()), 0);
  }
  done = true;
  loader.join();
  EXPECT_GT(loads.load(), 0u);
  EXPECT_EQ(failed.load(), 0u);
  EXPECT_EQ(short_loads.load(), 0u) << "of " << loads.load() << " loads";

  std::atomic<size_t> found{0};  // the sink runs on one thread per master
  for (const auto& p : prompts) {
    auto chain = ChainOf(model, p);
    old_map->GetMany(model, chain, 4, [&](size_t, Status s, std::string*) { found += s.ok(); });
  }
  EXPECT_EQ(found.load(), 4u * 5u);
  EXPECT_GT(old_map->Stats().redirections, 0u);
}

TEST(RedisClusterTierTest, AWrongPasswordIsAClearErrorAndMisses) {
  TempDir secrets;
  const std::string password_file = secrets.Sub("password");
  std::ofstream(password_file) << "right-password\n";
  RedisClusterProcess cluster("--password-file " + password_file);
  KVSTASH_START_REDIS_CLUSTER(cluster);
  const auto desc = TestModel();
  const auto tokens = Iota(40);
  Publish(cluster.address(), desc, tokens, "right-password");

  ::testing::internal::CaptureStderr();
  auto store = OpenStore("", cluster.address(), "wrong-password");
  const std::string said = ::testing::internal::GetCapturedStderr();
  ASSERT_NE(store, nullptr);
  EXPECT_NE(said.find("refused AUTH"), std::string::npos) << said;
  EXPECT_EQ(said.find("wrong-password"), std::string::npos) << said;
  auto model = store->RegisterModel(desc).value();
  auto dst = MakeKv(desc, {}, 48);
  auto loaded = store->Load(model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 0u);
  ASSERT_OK(store->Insert(model, Iota(40, 900), MakeKv(desc, Iota(40, 900), 48)).status());
  ASSERT_OK(store->Flush());
  EXPECT_GT(store->Stats().remote_put_errors, 0u);

  // The right one, from the token file or the address.
  auto right = LoadFresh(cluster.address(), desc, tokens, dst, "right-password");
  ASSERT_OK(right.status());
  EXPECT_EQ(right->tokens, 40u);
  const std::string inline_password =
      "redis://:right-password@" + cluster.address().substr(std::string("redis://").size());
  right = LoadFresh(inline_password, desc, tokens, dst);
  ASSERT_OK(right.status());
  EXPECT_EQ(right->tokens, 40u);
}

TEST(RedisClusterTierTest, NoClusterAtAllIsMissesNotAHang) {
  // A port nothing listens on (the cluster is stopped when this returns).
  std::string address;
  {
    RedisClusterProcess cluster;
    KVSTASH_START_REDIS_CLUSTER(cluster);
    address = cluster.address();
  }
  const auto desc = TestModel();
  const auto start = std::chrono::steady_clock::now();
  auto store = OpenStore("", address);
  ASSERT_NE(store, nullptr);
  auto model = store->RegisterModel(desc).value();
  auto dst = MakeKv(desc, {}, 48);
  auto loaded = store->Load(model, Iota(40), dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 0u);
  ASSERT_OK(store->Insert(model, Iota(40), MakeKv(desc, Iota(40), 48)).status());
  ASSERT_OK(store->Flush());
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

}  // namespace
}  // namespace kvstash
