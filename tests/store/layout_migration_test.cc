// Stores written by kvstash before layout 2 (layout 1: child links as
// model | parent | hash in a `children` family, no layout record), opened by
// today's code: a read-only view reads them as they are and changes nothing;
// a read-write open migrates them once (child_tokens rebuilt from the metas,
// layout record, `children` dropped), after which loads, verify, prune and
// inserts behave as on a new store; a migration cut short is redone.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gc/block_graph.h"
#include "gc/prune.h"
#include "gc/verify.h"
#include "serde/le_coding.h"
#include "store/disk_tier.h"
#include "store/store.h"
#include "tests/raw_store.h"
#include "tests/store/legacy_store.h"
#include "tests/store/store_open_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::LegacyPrompt;
using testing::LegacyStoreContents;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::RawStore;
using testing::TempDir;

constexpr uint32_t kBlock = 16;
constexpr uint64_t kRecentMs = 1'700'000'000'000ull;
constexpr uint64_t kOldMs = 1'000'000'000'000ull;
const std::string kLayoutKey = "layout/version";
const std::string kMigratedLine = "index migrated to layout 2";

ModelDescription Desc() { return testing::TestModel(DType::kF32, kBlock); }

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A: 40 tokens (blocks of 16, 16, 8: a partial last block).
// B: shares A's first block and the first 8 tokens of its second, then
//    diverges (two children under A's first block); 48 tokens, 3 full blocks.
// C: 32 tokens of its own. D: 20 tokens of its own (16 + a partial 4).
// Logits records after A, B and C. C and D were last used long ago.
const std::vector<int32_t> kA = Iota(40, 1);
const std::vector<int32_t> kB = Concat(Iota(24, 1), Iota(24, 9001));
const std::vector<int32_t> kC = Iota(32, 20001);
const std::vector<int32_t> kD = Iota(20, 30001);

std::vector<LegacyPrompt> Prompts() {
  std::vector<LegacyPrompt> p(4);
  p[0].tokens = kA;
  p[0].logits = true;
  p[0].access_ms = kRecentMs;
  p[1].tokens = kB;
  p[1].logits = true;
  p[1].access_ms = kRecentMs;
  p[2].tokens = kC;
  p[2].logits = true;
  p[2].access_ms = kOldMs;
  p[3].tokens = kD;
  p[3].access_ms = kOldMs;
  return p;
}
constexpr size_t kBlocks = 9;  // A 3, B 2 more, C 2, D 2
constexpr size_t kLogitsRecords = 3;

// New queries and how much of each a store of Prompts() reuses.
struct Query {
  const char* name;
  std::vector<int32_t> tokens;
  size_t expected;
};
std::vector<Query> Queries() {
  return {
      {"A", kA, kA.size()},
      {"B", kB, kB.size()},
      {"C", kC, kC.size()},
      {"D", kD, kD.size()},
      // Diverges from A 12 tokens into its second block (B's sibling shares 8).
      {"A-diverging-in-block-2", Concat(Iota(28, 1), Iota(10, 7001)), 28},
      // A continued: its stored partial block covers the first 8 of block 3.
      {"A-extended", Iota(50, 1), 40},
      // Shares 4 tokens of block 2 with both A's and B's second block.
      {"A-prefix-20", Concat(Iota(20, 1), {5}), 20},
      // C then more: nothing continues C.
      {"C-extended", Iota(36, 20001), 32},
      // Two tokens into D's partial block.
      {"D-prefix-18", Iota(18, 30001), 18},
      {"unknown", Iota(40, 60001), 0},
  };
}

// Every key and value of every column family of the store at `path`.
using StoreDump = std::map<std::string, std::map<std::string, std::string>>;
StoreDump Dump(const std::string& path) {
  StoreDump dump;
  RawStore raw(path);
  EXPECT_TRUE(raw.ok()) << raw.error();
  if (!raw.ok()) return dump;
  for (const char* name : {"default", "blocks", "meta", "children", "child_tokens"}) {
    rocksdb::ColumnFamilyHandle* cf = raw.family(name);
    if (!cf) continue;
    auto& family = dump[name];
    std::unique_ptr<rocksdb::Iterator> it(raw.db()->NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      family[it->key().ToString()] = it->value().ToString();
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  }
  return dump;
}

// Loads `q` into a fresh view: the reused prefix and its bytes.
void ExpectLoad(Store* store, const ModelId& model, const Query& q) {
  SCOPED_TRACE(q.name);
  const ModelDescription d = Desc();
  KvCacheView view = MakeKv(d, {}, q.tokens.size());
  auto loaded = store->Load(model, q.tokens, view);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, q.expected);
  EXPECT_EQ(loaded->corrupt_blocks, 0u);
  EXPECT_EQ(loaded->disk_tokens, q.expected);  // no device tier: all from disk
  EXPECT_TRUE(PrefixEqual(view, MakeKv(d, q.tokens, q.tokens.size()), loaded->tokens))
      << "loaded KV differs from what was stored";
}

void ExpectAllLoads(Store* store, const ModelId& model) {
  for (const Query& q : Queries()) ExpectLoad(store, model, q);
}

// The logits stored after each prompt that has them.
void ExpectLogits(Store* store, const LegacyStoreContents& contents) {
  ASSERT_EQ(contents.logits.size(), kLogitsRecords);
  const std::vector<int32_t>* prompts[] = {&kA, &kB, &kC};
  for (const std::vector<int32_t>* p : prompts) {
    auto logits = store->LoadLogits(contents.model, *p);
    ASSERT_OK(logits.status());
    ASSERT_TRUE(logits->defined()) << "no logits after a prompt of " << p->size() << " tokens";
    const std::vector<float> want = testing::LegacyLogitsValues(*p, Desc().vocab_size);
    ASSERT_EQ(logits->numel(), static_cast<int64_t>(want.size()));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), logits->data_ptr<float>()));
  }
}

std::unique_ptr<Store> OpenReadOnlyStore(const std::string& path) {
  StoreOptions options;
  options.path = path;
  options.device = "cpu";
  options.device_budget_bytes = 0;
  options.read_only = true;
  auto store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// What a read-write open of a layout-1 store must leave on disk: the links
// of layout 2 (exactly one per block, naming the block's parent and tokens),
// the layout record, and no `children` family.
void ExpectLayout2OnDisk(const std::string& path, const LegacyStoreContents& contents,
                         size_t expected_blocks = kBlocks) {
  RawStore raw(path);
  ASSERT_TRUE(raw.ok()) << raw.error();
  EXPECT_FALSE(raw.has("children")) << "layout 1's family is still there";
  ASSERT_TRUE(raw.has("child_tokens"));
  std::string layout;
  ASSERT_TRUE(raw.db()->Get(rocksdb::ReadOptions(), kLayoutKey, &layout).ok());
  std::string two;
  PutFixed32(&two, 2);
  EXPECT_EQ(layout, two) << "layout record must be u32 LE 2";

  std::set<BlockHash> linked;
  std::unique_ptr<rocksdb::Iterator> it(
      raw.db()->NewIterator(rocksdb::ReadOptions(), raw.family("child_tokens")));
  size_t links = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++links;
    const std::string key = it->key().ToString();
    ASSERT_EQ(it->value().size(), 16u);
    ASSERT_GT(key.size(), 32u);
    ASSERT_EQ((key.size() - 32) % 4, 0u);
    EXPECT_EQ(Hash128::DecodeFrom(key.data()), contents.model);
    const BlockHash child = Hash128::DecodeFrom(it->value().data());
    auto block = contents.blocks.find(child);
    ASSERT_NE(block, contents.blocks.end()) << "link to a block never written";
    EXPECT_EQ(key,
              testing::Layout2LinkKey(contents.model, block->second.first, block->second.second));
    EXPECT_TRUE(linked.insert(child).second) << "two links to one block";
  }
  ASSERT_TRUE(it->status().ok());
  EXPECT_EQ(links, expected_blocks);
  // Each link's block is still there.
  for (const BlockHash& h : linked) {
    std::string meta;
    EXPECT_TRUE(raw.db()
                    ->Get(rocksdb::ReadOptions(), raw.family("meta"),
                          testing::LegacyBlockKey(contents.model, h), &meta)
                    .ok());
  }
}

void ExpectVerifyClean(DiskTier* disk, uint64_t blocks, uint64_t logits) {
  auto report = VerifyStore(disk);
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->clean()) << report->problems.size() << " problems, first: "
                               << (report->problems.empty() ? "" : report->problems[0].detail);
  EXPECT_EQ(report->blocks, blocks);
  EXPECT_EQ(report->dangling_links, 0u);
  EXPECT_EQ(report->logits_records, logits);
}

class LayoutMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(testing::WriteLegacyStore(path(), Desc(), Prompts(), &contents_));
    ASSERT_EQ(contents_.blocks.size(), kBlocks);
    auto id = Desc().Fingerprint();
    ASSERT_OK(id.status());
    ASSERT_EQ(*id, contents_.model);
  }
  std::string path() const { return dir_.Sub("store"); }
  // Opens the store read-write (device tier off); `*err` gets what the open
  // printed on stderr (the migration line, if any).
  std::unique_ptr<Store> OpenWritable(std::string* err) {
    ::testing::internal::CaptureStderr();
    std::unique_ptr<Store> store = testing::OpenCpuStore(path(), 0);
    *err = ::testing::internal::GetCapturedStderr();
    return store;
  }

  TempDir dir_;
  LegacyStoreContents contents_;
};

// The fixture really is layout 1: what the helper wrote is what old kvstash
// wrote, read back with raw RocksDB.
TEST_F(LayoutMigrationTest, FixtureIsALayout1Store) {
  const StoreDump dump = Dump(path());
  ASSERT_EQ(dump.count("children"), 1u);
  EXPECT_EQ(dump.count("child_tokens"), 0u);
  EXPECT_EQ(dump.at("default").count(kLayoutKey), 0u);
  EXPECT_EQ(dump.at("children").size(), kBlocks);
  for (const auto& [key, value] : dump.at("children")) {
    EXPECT_EQ(key.size(), 48u);
    EXPECT_TRUE(value.empty());
  }
  EXPECT_EQ(dump.at("meta").size(), kBlocks);
  EXPECT_EQ(dump.at("blocks").size(), kBlocks);
}

// A read-only Store (what `kvstash run --read-only` and readers beside a
// writer open) serves a layout-1 store fully and leaves it exactly as it was.
TEST_F(LayoutMigrationTest, ReadOnlyStoreLoadsLayout1AndChangesNothing) {
  const StoreDump before = Dump(path());
  {
    ::testing::internal::CaptureStderr();
    std::unique_ptr<Store> store = OpenReadOnlyStore(path());
    const std::string err = ::testing::internal::GetCapturedStderr();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(CountLines(err, kMigratedLine), 0u) << err;
    ASSERT_NE(store->disk(), nullptr);
    EXPECT_EQ(store->disk()->layout_at_open(), 1u);
    auto model = store->RegisterModel(Desc());
    ASSERT_OK(model.status());
    ASSERT_EQ(*model, contents_.model);
    ExpectAllLoads(store.get(), *model);
    ExpectLogits(store.get(), contents_);
    // Loading twice (now with access records pending) changes nothing either.
    ExpectAllLoads(store.get(), *model);
    EXPECT_TRUE(store->Insert(*model, kA, MakeKv(Desc(), kA, kA.size())).status().IsNotSupported());
    // A Refresh() rebuilds the same view.
    ASSERT_OK(store->Refresh());
    EXPECT_EQ(store->disk()->layout_at_open(), 1u);
    ExpectAllLoads(store.get(), *model);
    ASSERT_OK(store->Close());
  }
  const StoreDump after = Dump(path());
  EXPECT_EQ(after.count("children"), 1u);
  EXPECT_EQ(after.count("child_tokens"), 0u);
  EXPECT_EQ(after.at("default").count(kLayoutKey), 0u);
  EXPECT_TRUE(before == after) << "a read-only open changed the store";
}

// A read-only DiskTier answers the child queries from the index it builds
// in memory.
TEST_F(LayoutMigrationTest, ReadOnlyDiskTierAnswersChildQueriesOfLayout1) {
  const ModelId m = contents_.model;
  const BlockHash a1 = ComputeBlockHash(m, kRootBlockHash, kA.data(), kBlock);
  const BlockHash a2 = ComputeBlockHash(m, a1, kA.data() + kBlock, kBlock);
  const BlockHash a3 = ComputeBlockHash(m, a2, kA.data() + 2 * kBlock, 8);
  const BlockHash b2 = ComputeBlockHash(m, a1, kB.data() + kBlock, kBlock);
  const BlockHash c1 = ComputeBlockHash(m, kRootBlockHash, kC.data(), kBlock);
  const BlockHash d1 = ComputeBlockHash(m, kRootBlockHash, kD.data(), kBlock);
  {
    DiskTierOptions options;
    options.path = path();
    options.read_only = true;
    auto disk = DiskTier::Open(options);
    ASSERT_OK(disk.status());
    EXPECT_EQ((*disk)->layout_at_open(), 1u);

    auto roots = (*disk)->Children(m, kRootBlockHash);
    ASSERT_OK(roots.status());
    ASSERT_EQ(roots->size(), 3u);  // in token order: A, C, D
    EXPECT_EQ((*roots)[0].hash, a1);
    EXPECT_EQ((*roots)[1].hash, c1);
    EXPECT_EQ((*roots)[2].hash, d1);
    EXPECT_EQ((*roots)[0].tokens, Iota(16, 1));

    auto under_a1 = (*disk)->Children(m, a1);
    ASSERT_OK(under_a1.status());
    ASSERT_EQ(under_a1->size(), 2u);
    EXPECT_EQ((*under_a1)[0].hash, a2);  // 17..24, 25.. sorts before 17..24, 9001..
    EXPECT_EQ((*under_a1)[1].hash, b2);

    const std::vector<int32_t> q = Concat(Iota(12, 17), Iota(4, 7001));
    auto longest = (*disk)->LongestChild(m, a1, q);
    ASSERT_OK(longest.status());
    ASSERT_TRUE(longest->has_value());
    EXPECT_EQ((*longest)->hash, a2);
    EXPECT_EQ((*longest)->common, 12u);
    EXPECT_EQ((*longest)->block_tokens, 16u);

    auto shorter = (*disk)->ShorterChildren(m, a2, Iota(16, 33));
    ASSERT_OK(shorter.status());
    ASSERT_EQ(shorter->size(), 1u);
    EXPECT_EQ((*shorter)[0].hash, a3);
    EXPECT_EQ((*shorter)[0].tokens, Iota(8, 33));

    auto none = (*disk)->LongestChild(m, a3, Iota(4, 1));
    ASSERT_OK(none.status());
    EXPECT_FALSE(none->has_value());
  }
  const StoreDump after = Dump(path());
  EXPECT_EQ(after.count("child_tokens"), 0u);
  EXPECT_EQ(after.at("default").count(kLayoutKey), 0u);
}

// A read-write open migrates once, says so in one line, and the store then
// serves, verifies and takes inserts as any layout-2 store.
TEST_F(LayoutMigrationTest, ReadWriteOpenMigratesOnce) {
  {
    std::string err;
    std::unique_ptr<Store> store = OpenWritable(&err);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(CountLines(err, kMigratedLine), 1u) << err;
    EXPECT_EQ(CountLines(err, "\n"), 1u) << "one stderr line, got: " << err;
    EXPECT_NE(err.find("(9 child links"), std::string::npos) << err;
    EXPECT_NE(err.find(path()), std::string::npos) << err;
    EXPECT_EQ(store->disk()->layout_at_open(), 1u);
    auto model = store->RegisterModel(Desc());
    ASSERT_OK(model.status());
    ExpectAllLoads(store.get(), *model);
    ExpectLogits(store.get(), contents_);
    ExpectVerifyClean(store->disk(), kBlocks, kLogitsRecords);
    ASSERT_OK(store->Close());
  }
  ExpectLayout2OnDisk(path(), contents_);

  // The second open finds layout 2: no migration, same answers.
  {
    std::string err;
    std::unique_ptr<Store> store = OpenWritable(&err);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(CountLines(err, kMigratedLine), 0u) << err;
    EXPECT_EQ(store->disk()->layout_at_open(), 2u);
    auto model = store->RegisterModel(Desc());
    ASSERT_OK(model.status());
    ExpectAllLoads(store.get(), *model);
    ExpectLogits(store.get(), contents_);
    ASSERT_OK(store->Close());
  }
  // And so does a read-only view of the migrated store.
  {
    std::unique_ptr<Store> store = OpenReadOnlyStore(path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->disk()->layout_at_open(), 2u);
    ExpectAllLoads(store.get(), contents_.model);
  }
  ExpectLayout2OnDisk(path(), contents_);
}

// After migration, inserts use the new index: a new prompt, and one whose
// full block supersedes a partial block that layout 1 stored.
TEST_F(LayoutMigrationTest, InsertsAfterMigration) {
  // A continued: its block 3 (33..40 + 8 more) supersedes A's partial 33..40.
  const std::vector<int32_t> a_longer = Concat(kA, Iota(30, 40001));
  const std::vector<int32_t> fresh = Iota(33, 50001);
  const ModelId m = contents_.model;
  const BlockHash a2 = ComputeBlockHash(m, ComputeBlockHash(m, kRootBlockHash, kA.data(), kBlock),
                                        kA.data() + kBlock, kBlock);
  const BlockHash a3 = ComputeBlockHash(m, a2, kA.data() + 2 * kBlock, 8);
  {
    std::unique_ptr<Store> store = testing::OpenCpuStore(path(), 0);
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(Desc());
    ASSERT_OK(model.status());
    for (const auto* t : {&a_longer, &fresh}) {
      auto ins = store->Insert(*model, *t, MakeKv(Desc(), *t, t->size()));
      ASSERT_OK(ins.status());
      EXPECT_EQ(ins->tokens_stored, t->size());
    }
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->Close());
  }
  {
    std::unique_ptr<Store> store = testing::OpenCpuStore(path(), 0);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->disk()->layout_at_open(), 2u);
    auto model = store->RegisterModel(Desc());
    ASSERT_OK(model.status());
    ExpectLoad(store.get(), *model, {"A-longer", a_longer, a_longer.size()});
    ExpectLoad(store.get(), *model, {"fresh", fresh, fresh.size()});
    ExpectAllLoads(store.get(), *model);  // A's 40 now come from the longer block
    // A's partial block was superseded: gone with its link.
    EXPECT_TRUE(store->disk()->GetMeta(m, a3).status().IsNotFound());
    auto under_a2 = store->disk()->Children(m, a2);
    ASSERT_OK(under_a2.status());
    ASSERT_EQ(under_a2->size(), 1u);
    EXPECT_EQ((*under_a2)[0].tokens, Concat(Iota(8, 33), Iota(8, 40001)));
    // 9 - A's partial + 5 (a_longer: 70 tokens, blocks 3..5 new) + 3 (fresh).
    ExpectVerifyClean(store->disk(), kBlocks - 1 + 3 + 3, kLogitsRecords);
    ASSERT_OK(store->Close());
  }
}

// gc on a migrated store: a prune deletes old prompts (blocks, links and
// logits records), what is kept still loads, and verify stays clean.
TEST_F(LayoutMigrationTest, PruneAfterMigration) {
  {
    auto disk = DiskTier::Open(DiskTierOptions{path()});
    ASSERT_OK(disk.status());
    EXPECT_EQ((*disk)->layout_at_open(), 1u);
    auto graph = BlockGraph::Load(disk->get());
    ASSERT_OK(graph.status());
    PruneCriteria c;
    c.older_than = std::chrono::hours(24);
    c.now_ms = kRecentMs + 3'600'000;
    auto plan = PlanPrune(*graph, c);
    ASSERT_OK(plan.status());
    EXPECT_EQ(plan->blocks.size(), 4u);  // C's 2 and D's 2
    auto applied = ApplyPlan(disk->get(), *plan);
    ASSERT_OK(applied.status());
    EXPECT_EQ(applied->blocks_deleted, 4u);
    EXPECT_EQ(applied->blocks_skipped, 0u);
    ExpectVerifyClean(disk->get(), kBlocks - 4, kLogitsRecords - 1);
    auto after = BlockGraph::Load(disk->get());
    ASSERT_OK(after.status());
    EXPECT_TRUE(after->Orphans().empty());
    auto roots = (*disk)->Children(contents_.model, kRootBlockHash);
    ASSERT_OK(roots.status());
    EXPECT_EQ(roots->size(), 1u);  // only A's first block
  }
  LegacyStoreContents kept = contents_;
  for (const auto* t : {&kC, &kD}) {
    BlockHash parent = kRootBlockHash;
    for (size_t pos = 0; pos < t->size(); pos += kBlock) {
      const size_t n = std::min<size_t>(kBlock, t->size() - pos);
      parent = ComputeBlockHash(kept.model, parent, t->data() + pos, n);
      kept.blocks.erase(parent);
    }
  }
  ASSERT_EQ(kept.blocks.size(), kBlocks - 4);
  ExpectLayout2OnDisk(path(), kept, kBlocks - 4);

  std::unique_ptr<Store> store = testing::OpenCpuStore(path(), 0);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->disk()->layout_at_open(), 2u);
  for (Query q : Queries()) {
    const std::string name = q.name;
    if (name.rfind("C", 0) == 0 || name.rfind("D", 0) == 0) q.expected = 0;
    ExpectLoad(store.get(), contents_.model, q);
  }
  auto c_logits = store->LoadLogits(contents_.model, kC);
  ASSERT_OK(c_logits.status());
  EXPECT_FALSE(c_logits->defined()) << "C's logits record outlived its blocks";
}

// A migration cut short (some links of layout 2 written, no layout record)
// is read as layout 1 by a read-only view and redone in full by the next
// read-write open.
TEST_F(LayoutMigrationTest, MigrationCutShortIsRedone) {
  {
    RawStore raw(path());
    ASSERT_TRUE(raw.ok()) << raw.error();
    rocksdb::ColumnFamilyHandle* links = nullptr;
    ASSERT_TRUE(
        raw.db()->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "child_tokens", &links).ok());
    // A's links only (its three blocks).
    BlockHash parent = kRootBlockHash;
    for (size_t pos = 0; pos < kA.size(); pos += kBlock) {
      const size_t n = std::min<size_t>(kBlock, kA.size() - pos);
      const std::vector<int32_t> t(kA.begin() + pos, kA.begin() + pos + n);
      const BlockHash h = ComputeBlockHash(contents_.model, parent, t.data(), n);
      std::string value;
      h.AppendTo(&value);
      ASSERT_TRUE(raw.db()
                      ->Put(rocksdb::WriteOptions(), links,
                            testing::Layout2LinkKey(contents_.model, parent, t), value)
                      .ok());
      parent = h;
    }
    ASSERT_TRUE(raw.db()->Flush(rocksdb::FlushOptions(), links).ok());
    ASSERT_TRUE(raw.db()->DestroyColumnFamilyHandle(links).ok());
  }
  const StoreDump before = Dump(path());
  ASSERT_EQ(before.at("child_tokens").size(), 3u);
  ASSERT_EQ(before.count("children"), 1u);

  // A reader beside it: layout 1, every prompt and query served from metas.
  {
    std::unique_ptr<Store> store = OpenReadOnlyStore(path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->disk()->layout_at_open(), 1u);
    ExpectAllLoads(store.get(), contents_.model);
  }
  EXPECT_TRUE(before == Dump(path())) << "a read-only open changed the store";

  {
    std::string err;
    std::unique_ptr<Store> store = OpenWritable(&err);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(CountLines(err, kMigratedLine), 1u) << err;
    EXPECT_EQ(store->disk()->layout_at_open(), 1u);
    auto model = store->RegisterModel(Desc());
    ASSERT_OK(model.status());
    ExpectAllLoads(store.get(), *model);
    ExpectVerifyClean(store->disk(), kBlocks, kLogitsRecords);
    ASSERT_OK(store->Close());
  }
  ExpectLayout2OnDisk(path(), contents_);
}

// Cut short later: links and layout record written, `children` not dropped
// yet. The next read-write open only drops it.
TEST_F(LayoutMigrationTest, MigrationCutShortBeforeTheDropIsFinished) {
  {
    RawStore raw(path());
    ASSERT_TRUE(raw.ok()) << raw.error();
    rocksdb::ColumnFamilyHandle* links = nullptr;
    ASSERT_TRUE(
        raw.db()->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "child_tokens", &links).ok());
    for (const auto& [hash, block] : contents_.blocks) {
      std::string value;
      hash.AppendTo(&value);
      ASSERT_TRUE(raw.db()
                      ->Put(rocksdb::WriteOptions(), links,
                            testing::Layout2LinkKey(contents_.model, block.first, block.second),
                            value)
                      .ok());
    }
    std::string two;
    PutFixed32(&two, 2);
    ASSERT_TRUE(raw.db()->Put(rocksdb::WriteOptions(), kLayoutKey, two).ok());
    ASSERT_TRUE(raw.db()->DestroyColumnFamilyHandle(links).ok());
  }
  {
    std::unique_ptr<Store> store = OpenReadOnlyStore(path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->disk()->layout_at_open(), 2u);
    ExpectAllLoads(store.get(), contents_.model);
  }
  {
    std::string err;
    std::unique_ptr<Store> store = OpenWritable(&err);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(CountLines(err, kMigratedLine), 0u) << err;
    EXPECT_EQ(store->disk()->layout_at_open(), 2u);
    ExpectAllLoads(store.get(), contents_.model);
    ASSERT_OK(store->Close());
  }
  ExpectLayout2OnDisk(path(), contents_);
}

}  // namespace
}  // namespace kvstash
