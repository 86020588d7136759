// Verification and repair: bad bytes planted on disk are found, named, and
// removed with everything that depends on them; what is intact still loads.
#include "gc/verify.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "serde/logits_record.h"
#include "tests/gc/gc_test_util.h"
#include "tests/raw_store.h"

namespace kvstash {
namespace {

using testing::TempDir;

constexpr size_t kT = testing::kGcBlockTokens;

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chains_ = testing::BuildStore(dir_.path(), 4, 8, &model_);
    Reopen();
  }
  void Reopen() {
    disk_.reset();
    auto disk = testing::OpenDisk(dir_.path());
    ASSERT_OK(disk.status());
    disk_ = std::move(disk).value();
  }
  BlockHash Hash(int chain, int block) {
    return testing::ChainHashes(model_, chains_[chain])[block];
  }
  // Tokens of `chain` a new Store loads, with bytes equal to what was
  // inserted (SIZE_MAX if they differ).
  size_t Loaded(int chain) {
    disk_.reset();
    const auto desc = testing::GcModel();
    const auto& tokens = chains_[chain];
    size_t n = 0;
    {
      auto store = testing::OpenTestStore(dir_.path());
      EXPECT_OK(store.status());
      auto model = (*store)->RegisterModel(desc);
      auto dst = testing::MakeKv(desc, {}, tokens.size());
      auto loaded = (*store)->Load(*model, tokens, dst);
      EXPECT_OK(loaded.status());
      n = loaded->tokens;
      if (!testing::PrefixEqual(dst, testing::MakeKv(desc, tokens, tokens.size()), n)) n = SIZE_MAX;
    }
    Reopen();
    return n;
  }
  // Rewrites a block with `edit` applied to its meta and blob.
  void Plant(int chain, int block, const std::function<void(BlockMeta*, std::string*)>& edit) {
    const BlockHash h = Hash(chain, block);
    auto meta = disk_->GetMeta(model_, h);
    ASSERT_OK(meta.status());
    std::string blob;
    ASSERT_OK(disk_->GetBlob(model_, h, &blob));
    edit(&*meta, &blob);
    ASSERT_OK(disk_->PutBlocks({{model_, h, *meta, blob}}, /*sync=*/false));
  }
  const BlockProblem* Find(const VerifyReport& r, const BlockHash& h) {
    for (const auto& p : r.problems) {
      if (p.ref.hash == h) return &p;
    }
    return nullptr;
  }

  TempDir dir_;
  ModelId model_;
  std::vector<std::vector<int32_t>> chains_;
  std::unique_ptr<DiskTier> disk_;
};

TEST_F(VerifyTest, IntactStoreIsCleanAndReportsProgress) {
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  VerifyOptions options;
  options.progress = [&](uint64_t done, uint64_t total) { calls.push_back({done, total}); };
  auto report = VerifyStore(disk_.get(), options);
  ASSERT_OK(report.status());
  EXPECT_TRUE(report->clean());
  EXPECT_EQ(report->blocks, 32u);
  EXPECT_EQ(report->models, 1u);
  EXPECT_GT(report->stored_bytes, 32u * 20000);
  ASSERT_EQ(calls.size(), 32u);
  EXPECT_EQ(calls.back(), std::make_pair(uint64_t{32}, uint64_t{32}));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);
}

TEST_F(VerifyTest, FindsACorruptBlobAndAnOrphanAndRepairRemovesThem) {
  // A flipped byte in the payload of chain 1's block 3.
  Plant(1, 3, [](BlockMeta*, std::string* blob) { (*blob)[blob->size() / 2] ^= 0x10; });
  // Chain 2's block 4 deleted: block 5 is orphaned, 6 and 7 hang below it.
  ASSERT_OK(disk_->DeleteBlock(model_, Hash(2, 4), Hash(2, 3)));

  auto report = VerifyStore(disk_.get());
  ASSERT_OK(report.status());
  EXPECT_FALSE(report->clean());
  EXPECT_EQ(report->corrupt, 1u);
  EXPECT_EQ(report->orphans, 1u);
  EXPECT_EQ(report->unreachable, 4u + 2u);  // chain 1: 4..7, chain 2: 6, 7
  const BlockProblem* corrupt = Find(*report, Hash(1, 3));
  ASSERT_NE(corrupt, nullptr);
  EXPECT_EQ(corrupt->kind, BlockProblem::Kind::kCorrupt);
  EXPECT_NE(corrupt->detail.find("checksum"), std::string::npos) << corrupt->detail;
  const BlockProblem* orphan = Find(*report, Hash(2, 5));
  ASSERT_NE(orphan, nullptr);
  EXPECT_EQ(orphan->kind, BlockProblem::Kind::kOrphan);
  EXPECT_NE(orphan->detail.find(Hash(2, 4).ToHex() + " is missing"), std::string::npos);

  auto repaired = Repair(disk_.get(), *report);
  ASSERT_OK(repaired.status());
  EXPECT_EQ(repaired->applied.blocks_deleted, 1u + 4u + 1u + 2u);
  EXPECT_EQ(repaired->unreachable, 6u);
  EXPECT_TRUE(repaired->applied.compacted);

  auto again = VerifyStore(disk_.get());
  ASSERT_OK(again.status());
  EXPECT_TRUE(again->clean()) << (again->problems.empty() ? "" : again->problems[0].detail);
  EXPECT_EQ(again->blocks, 32u - 9u);
  // What is intact still loads, byte for byte, up to the removed blocks.
  EXPECT_EQ(Loaded(0), 8 * kT);
  EXPECT_EQ(Loaded(1), 3 * kT);
  EXPECT_EQ(Loaded(2), 4 * kT);
  EXPECT_EQ(Loaded(3), 8 * kT);
}

// Logits records: a good one is counted; a flipped bit and a record whose
// parent block is gone are reported as bad-logits, and repair deletes those
// two and nothing else.
TEST_F(VerifyTest, BadLogitsRecordsAreFoundAndRepairDeletesOnlyThem) {
  std::vector<float> logits(100);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.5f * static_cast<float>(i);
  auto put = [&](int chain, int block) {
    LogitsKey key{model_, Hash(chain, block - 1), Hash(chain, block)};
    std::string record;
    EncodeLogitsRecord(key, logits.data(), 100, &record);
    EXPECT_OK(disk_->PutLogits(key, record));
    return std::make_pair(key, record);
  };
  const auto good = put(0, 7);
  auto flipped = put(1, 7);
  flipped.second[70] ^= 0x01;
  ASSERT_OK(disk_->PutLogits(flipped.first, flipped.second));
  const auto parentless = put(2, 7);
  // Write chain 2's block 6 back without its logits record... by deleting the
  // record's parent through the raw database: DeleteBlock would take the
  // record with it (see DiskTier::DeleteBlock).
  disk_.reset();
  {
    testing::RawStore raw(dir_.path());
    ASSERT_TRUE(raw.ok()) << raw.error();
    std::string key;
    model_.AppendTo(&key);
    Hash(2, 6).AppendTo(&key);
    ASSERT_TRUE(raw.db()->Delete({}, raw.family("meta"), key).ok());
  }
  Reopen();

  auto report = VerifyStore(disk_.get());
  ASSERT_OK(report.status());
  EXPECT_EQ(report->logits_records, 3u);
  EXPECT_EQ(report->bad_logits, 2u);
  auto find_logits = [&](const LogitsKey& key) -> const BlockProblem* {
    for (const auto& p : report->problems) {
      if (p.kind == BlockProblem::Kind::kBadLogits && p.ref.hash == key.tail) return &p;
    }
    return nullptr;
  };
  const BlockProblem* bad = find_logits(flipped.first);
  ASSERT_NE(bad, nullptr);
  EXPECT_NE(bad->detail.find("checksum"), std::string::npos) << bad->detail;
  const BlockProblem* orphan = find_logits(parentless.first);
  ASSERT_NE(orphan, nullptr);
  EXPECT_NE(orphan->detail.find(Hash(2, 6).ToHex() + " is missing"), std::string::npos)
      << orphan->detail;

  auto repaired = Repair(disk_.get(), *report);
  ASSERT_OK(repaired.status());
  EXPECT_EQ(repaired->logits_deleted, 2u);
  std::string record;
  EXPECT_OK(disk_->GetLogits(good.first, &record));
  EXPECT_EQ(record, good.second);
  EXPECT_TRUE(disk_->GetLogits(flipped.first, &record).IsNotFound());
  EXPECT_TRUE(disk_->GetLogits(parentless.first, &record).IsNotFound());
}

TEST_F(VerifyTest, HeaderThatDisagreesWithKeyOrMetaIsCorrupt) {
  // Chain 0's block 0 blob (a valid, checksummed blob) under chain 3's key.
  std::string other;
  ASSERT_OK(disk_->GetBlob(model_, Hash(0, 0), &other));
  Plant(3, 0, [&](BlockMeta* meta, std::string* blob) {
    *blob = other;
    meta->stored_bytes = other.size();
  });
  Plant(1, 2, [](BlockMeta* meta, std::string*) { meta->tokens[5] += 1; });
  Plant(2, 7, [](BlockMeta* meta, std::string*) { meta->stored_bytes += 1; });
  Plant(0, 6, [](BlockMeta* meta, std::string*) { meta->parent = BlockHash{1, 2}; });

  auto report = VerifyStore(disk_.get());
  ASSERT_OK(report.status());
  EXPECT_EQ(report->corrupt, 4u);
  EXPECT_NE(Find(*report, Hash(3, 0))->detail.find("header names block " + Hash(0, 0).ToHex()),
            std::string::npos);
  EXPECT_NE(Find(*report, Hash(1, 2))->detail.find("token 5 differs"), std::string::npos);
  EXPECT_NE(Find(*report, Hash(2, 7))->detail.find("meta says"), std::string::npos);
  EXPECT_NE(Find(*report, Hash(0, 6))->detail.find("header names parent"), std::string::npos);

  auto repaired = Repair(disk_.get(), *report);
  ASSERT_OK(repaired.status());
  auto again = VerifyStore(disk_.get());
  ASSERT_OK(again.status());
  EXPECT_TRUE(again->clean()) << again->problems[0].detail;
  EXPECT_EQ(Loaded(3), 0u);
  EXPECT_EQ(Loaded(1), 2 * kT);
  EXPECT_EQ(Loaded(0), 6 * kT);
}

// Damage the DiskTier API cannot make: an undecodable meta, a blob gone
// under its meta, a child link left without its block.
TEST_F(VerifyTest, UnreadableMetaMissingBlobAndDanglingLink) {
  disk_.reset();
  {
    testing::RawStore raw(dir_.path());
    ASSERT_TRUE(raw.ok()) << raw.error();
    rocksdb::DB* db = raw.db();
    rocksdb::ColumnFamilyHandle* blobs = raw.family("blocks");
    rocksdb::ColumnFamilyHandle* metas = raw.family("meta");
    auto key = [&](int chain, int block) {
      std::string k;
      model_.AppendTo(&k);
      Hash(chain, block).AppendTo(&k);
      return k;
    };
    rocksdb::WriteOptions wo;
    ASSERT_TRUE(db->Put(wo, metas, key(0, 7), "\x01\x02").ok());  // truncated meta
    ASSERT_TRUE(db->Delete(wo, blobs, key(1, 7)).ok());           // blob gone
    ASSERT_TRUE(db->Delete(wo, blobs, key(2, 7)).ok());           // only the link left
    ASSERT_TRUE(db->Delete(wo, metas, key(2, 7)).ok());
  }
  Reopen();
  auto report = VerifyStore(disk_.get());
  ASSERT_OK(report.status());
  EXPECT_EQ(report->corrupt, 2u);
  EXPECT_EQ(report->dangling_links, 1u);
  EXPECT_NE(Find(*report, Hash(0, 7))->detail.find("meta: Corruption"), std::string::npos);
  EXPECT_NE(Find(*report, Hash(1, 7))->detail.find("blob missing"), std::string::npos);
  EXPECT_EQ(Find(*report, Hash(2, 7))->kind, BlockProblem::Kind::kDanglingLink);

  auto repaired = Repair(disk_.get(), *report);
  ASSERT_OK(repaired.status());
  EXPECT_EQ(repaired->applied.blocks_deleted, 2u);
  EXPECT_EQ(repaired->links_deleted, 1u);
  auto again = VerifyStore(disk_.get());
  ASSERT_OK(again.status());
  EXPECT_TRUE(again->clean()) << again->problems[0].detail;
  // No link is left under block 6 of chains 0..2.
  for (int chain = 0; chain < 3; ++chain) {
    auto children = disk_->Children(model_, Hash(chain, 6));
    ASSERT_OK(children.status());
    EXPECT_TRUE(children->empty()) << "chain " << chain;
  }
  EXPECT_EQ(Loaded(0), 7 * kT);
}

// What `kvstash verify` does on a live store: a read-only (fixed) view.
TEST_F(VerifyTest, SnapshotViewVerifiesAStoreAnotherWriterHolds) {
  Plant(1, 3, [](BlockMeta*, std::string* blob) { (*blob)[blob->size() - 20] ^= 0x01; });
  disk_.reset();
  auto store = testing::OpenTestStore(dir_.path());
  ASSERT_OK(store.status());
  const auto desc = testing::GcModel();
  ASSERT_OK(testing::InsertChain(store->get(), desc, (*store)->RegisterModel(desc).value(),
                                 testing::ChainTokens(9, 4)));
  ASSERT_OK((*store)->Flush());  // in the writer's WAL, not yet in a blob file
  DiskTierOptions options;
  options.path = dir_.path();
  options.read_only = true;
  for (int round = 0; round < 3; ++round) {
    auto view = DiskTier::Open(options);
    ASSERT_OK(view.status());
    auto report = VerifyStore(view->get());
    ASSERT_OK(report.status());
    EXPECT_EQ(report->blocks, 36u);
    EXPECT_EQ(report->corrupt, 1u);
    EXPECT_EQ(report->unreachable, 4u);
  }
}

}  // namespace
}  // namespace kvstash
