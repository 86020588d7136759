// The store under injected file-system faults (store/fault_injection.h): a
// full disk, I/O errors and short writes at the WAL, blob files, tables, the
// MANIFEST and the info LOG. What must hold: clear errors, reads keep
// working, what Flush() acknowledged survives, a failed write is retried
// until it lands, and nothing wrong is ever served.
#include "store/fault_injection.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/store.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::Iota;
using testing::MakeKv;
using testing::PrefixEqual;
using testing::TempDir;
using testing::TestModel;

constexpr uint32_t kDataFiles =
    ScriptedFaults::Bit(StoreFile::kWal) | ScriptedFaults::Bit(StoreFile::kBlob) |
    ScriptedFaults::Bit(StoreFile::kTable) | ScriptedFaults::Bit(StoreFile::kManifest);

class FaultInjectionTest : public ::testing::Test {
 protected:
  // A store on dir_ whose file operations go through faults_; device
  // memory holds `device_budget` bytes (0: every load reads the disk).
  std::unique_ptr<Store> Open(uint64_t device_budget, bool read_only = false) {
    StoreOptions options;
    options.path = path_;
    options.device = "cpu";
    options.device_budget_bytes = device_budget;
    options.read_only = read_only;
    options.fault_injector_for_testing = faults_;
    auto store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Inserts `tokens` (KV seeded by `seed`) into a store without faults and
  // closes it.
  void Stored(const std::vector<int32_t>& tokens, uint64_t seed) {
    auto store = Open(1ull << 30);
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    ASSERT_OK(store->Insert(*model, tokens, MakeKv(desc_, tokens, 128, seed)).status());
    ASSERT_OK(store->Close());
  }

  // Loads `tokens` and checks that what was loaded equals the KV seeded by
  // `seed`; returns the tokens loaded.
  size_t LoadedEqual(Store* store, const std::vector<int32_t>& tokens, uint64_t seed) {
    auto model = store->RegisterModel(desc_);
    EXPECT_OK(model.status());
    if (!model.ok()) return 0;
    auto dst = MakeKv(desc_, {}, 128);
    auto loaded = store->Load(*model, tokens, dst);
    EXPECT_OK(loaded.status());
    if (!loaded.ok()) return 0;
    EXPECT_TRUE(PrefixEqual(dst, MakeKv(desc_, tokens, 128, seed), loaded->tokens))
        << "a load served bytes that were not stored";
    return loaded->tokens;
  }

  // The faults cleared, the store opened again: what LoadedEqual loads.
  size_t LoadedAfterReopen(const std::vector<int32_t>& tokens, uint64_t seed) {
    faults_->Clear();
    auto store = Open(0);
    EXPECT_NE(store, nullptr);
    return store ? LoadedEqual(store.get(), tokens, seed) : 0;
  }

  TempDir dir_;
  std::string path_ = dir_.Sub("store");
  const ModelDescription desc_ = TestModel();
  std::shared_ptr<ScriptedFaults> faults_ = std::make_shared<ScriptedFaults>();
};

std::vector<int32_t> Prompt(int32_t first, size_t n) {
  std::vector<int32_t> tokens = Iota(n);
  for (int32_t& t : tokens) t += first;
  return tokens;
}

// Issue 12, item 1: RocksDB's own info logger aborted the process
// (WritableFileWriter's assertion) when the disk was full; the store's
// logger drops what it cannot write.
TEST_F(FaultInjectionTest, AFullDiskUnderTheInfoLogDoesNotStopTheStore) {
  faults_->Fail(ScriptedFaults::Bit(StoreFile::kInfoLog),
                ScriptedFaults::Bit(FileOp::kWrite) | ScriptedFaults::Bit(FileOp::kSync),
                Fault::kNoSpace);
  const auto tokens = Prompt(0, 64);
  {
    auto store = Open(0);
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    ASSERT_OK(store->Insert(*model, tokens, MakeKv(desc_, tokens, 128, 1)).status());
    ASSERT_OK(store->Flush());
    EXPECT_EQ(LoadedEqual(store.get(), tokens, 1), 64u);
    ASSERT_OK(store->Close());
  }
  EXPECT_GT(faults_->injected(), 0u) << "the test never reached the info LOG";
  EXPECT_EQ(LoadedAfterReopen(tokens, 1), 64u);
}

// Issue 12, item 1: a store on a full disk cannot be opened for writing (a
// clear ResourceExhausted naming the disk), but a read-only view of it loads
// everything that was stored.
TEST_F(FaultInjectionTest, AFullDiskRefusesWritingOpensButReadOnlyViewsLoad) {
  const auto tokens = Prompt(0, 64);
  Stored(tokens, 1);
  faults_->Fail(ScriptedFaults::kAllFiles, ScriptedFaults::kWrites, Fault::kNoSpace);
  StoreOptions options;
  options.path = path_;
  options.device = "cpu";
  options.fault_injector_for_testing = faults_;
  auto writable = Store::Open(options);
  ASSERT_FALSE(writable.ok());
  EXPECT_TRUE(writable.status().IsResourceExhausted()) << writable.status().ToString();
  EXPECT_NE(writable.status().message().find("No space left on device"), std::string::npos)
      << writable.status().ToString();

  auto store = Open(0, /*read_only=*/true);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LoadedEqual(store.get(), tokens, 1), 64u);
}

// Issue 12, items 1 and 8: the disk fills while a process writes. Flush()
// says so (and keeps saying so); stored blocks keep loading; the blocks
// whose write failed are served from memory meanwhile, even when device
// memory could not hold them, and the first Flush() after space returns
// writes them, so they survive the process.
TEST_F(FaultInjectionTest, BlocksWhoseWriteFailedAreWrittenWhenTheDiskHasSpaceAgain) {
  const auto stored = Prompt(0, 64);
  const auto fresh = Prompt(5000, 80);
  Stored(stored, 1);
  {
    auto store = Open(0);  // no device memory: a failed block is held nowhere else
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    faults_->Fail(kDataFiles, ScriptedFaults::kWrites, Fault::kNoSpace);
    ASSERT_OK(store->Insert(*model, fresh, MakeKv(desc_, fresh, 128, 2)).status());
    Status flushed = store->Flush();
    EXPECT_TRUE(flushed.IsResourceExhausted()) << flushed.ToString();
    EXPECT_GE(store->Stats().disk_write_errors, 1u);
    Status again = store->Flush();
    EXPECT_FALSE(again.ok()) << "a Flush() while the blocks are still not on disk returned OK";

    EXPECT_EQ(LoadedEqual(store.get(), stored, 1), 64u) << "reads stop on a full disk";
    EXPECT_EQ(LoadedEqual(store.get(), fresh, 2), 80u) << "blocks waiting to be written";

    faults_->Clear();
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->Close());
  }
  auto store = Open(0);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LoadedEqual(store.get(), fresh, 2), 80u) << "a block whose write failed was lost";
  EXPECT_EQ(LoadedEqual(store.get(), stored, 1), 64u);
}

// A model first seen when the disk is already full: its registration cannot
// be written, which made `kvstash run` fail (the CLI's full-disk test). It is
// registered in memory, Flush() reports the registry write until it lands,
// and then the model and its blocks are there for the next process.
TEST_F(FaultInjectionTest, ARegistrationThatCannotBeWrittenIsWrittenByALaterFlush) {
  const auto tokens = Prompt(0, 64);
  {
    auto store = Open(0);
    ASSERT_NE(store, nullptr);
    faults_->Fail(kDataFiles, ScriptedFaults::kWrites, Fault::kNoSpace);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    ASSERT_OK(store->Insert(*model, tokens, MakeKv(desc_, tokens, 128, 4)).status());
    Status flushed = store->Flush();
    EXPECT_TRUE(flushed.IsResourceExhausted()) << flushed.ToString();
    EXPECT_EQ(LoadedEqual(store.get(), tokens, 4), 64u);
    faults_->Clear();
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->Close());
  }
  auto store = Open(0);
  ASSERT_NE(store, nullptr);
  auto model = desc_.Fingerprint();
  ASSERT_OK(model.status());
  EXPECT_TRUE(store->GetModel(*model).ok()) << "the registration was lost";
  EXPECT_EQ(LoadedEqual(store.get(), tokens, 4), 64u);
}

// A write to the WAL cut short leaves no half-written block that is ever
// served, and the retry lands it whole.
TEST_F(FaultInjectionTest, AShortWalWriteIsRetriedWhole) {
  const auto tokens = Prompt(100, 96);
  {
    auto store = Open(0);
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    faults_->Fail(ScriptedFaults::Bit(StoreFile::kWal), ScriptedFaults::Bit(FileOp::kWrite),
                  Fault::kShortWrite);
    ASSERT_OK(store->Insert(*model, tokens, MakeKv(desc_, tokens, 128, 3)).status());
    EXPECT_FALSE(store->Flush().ok());
    EXPECT_EQ(LoadedEqual(store.get(), tokens, 3), 96u);
    faults_->Clear();
    ASSERT_OK(store->Flush());
    ASSERT_OK(store->Close());
  }
  auto store = Open(0);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LoadedEqual(store.get(), tokens, 3), 96u);
}

// Blob files are written when the memtables are, at Close() here: a blob
// file cut short then loses nothing Flush() acknowledged (the WAL still
// holds it) and serves no half-written blob.
TEST_F(FaultInjectionTest, AShortBlobFileWriteLosesNothingAcknowledged) {
  const auto tokens = Prompt(100, 96);
  {
    auto store = Open(0);
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    ASSERT_OK(store->Insert(*model, tokens, MakeKv(desc_, tokens, 128, 3)).status());
    ASSERT_OK(store->Flush());
    faults_->Fail(ScriptedFaults::Bit(StoreFile::kBlob), ScriptedFaults::Bit(FileOp::kWrite),
                  Fault::kShortWrite);
    (void)store->Close();  // may report the failed memtable flush
  }
  EXPECT_GT(faults_->injected(), 0u) << "Close() wrote no blob file";
  EXPECT_EQ(LoadedAfterReopen(tokens, 3), 96u);
}

// An I/O error reading a blob is a miss for that request, never a reason to
// delete the block: once the disk reads again, the block loads.
TEST_F(FaultInjectionTest, ReadErrorsAreMissesAndDeleteNothing) {
  const auto tokens = Prompt(0, 64);
  Stored(tokens, 1);
  auto store = Open(0);
  ASSERT_NE(store, nullptr);
  faults_->Fail(ScriptedFaults::Bit(StoreFile::kBlob), ScriptedFaults::Bit(FileOp::kRead),
                Fault::kIOError);
  auto model = store->RegisterModel(desc_);
  ASSERT_OK(model.status());
  auto dst = MakeKv(desc_, {}, 128);
  // A miss, not a failed request: a blob file deleted by hand made every run
  // of its prompts exit 1 (the soak campaign's corrupt mode).
  auto loaded = store->Load(*model, tokens, dst);
  ASSERT_OK(loaded.status());
  EXPECT_EQ(loaded->tokens, 0u) << "a block that could not be read was served";
  EXPECT_EQ(loaded->corrupt_blocks, 0u) << "an I/O error is not corruption";
  EXPECT_GT(faults_->injected(), 0u);
  faults_->Clear();
  EXPECT_EQ(LoadedEqual(store.get(), tokens, 1), 64u) << "an I/O error deleted stored blocks";
}

// The MANIFEST cannot be written when Close() flushes the memtables: Close
// reports it, and everything Flush() acknowledged is still there (the WAL
// holds it) when the store is opened again.
TEST_F(FaultInjectionTest, AManifestThatCannotBeWrittenLosesNothingAcknowledged) {
  const auto tokens = Prompt(0, 64);
  {
    auto store = Open(0);
    ASSERT_NE(store, nullptr);
    auto model = store->RegisterModel(desc_);
    ASSERT_OK(model.status());
    ASSERT_OK(store->Insert(*model, tokens, MakeKv(desc_, tokens, 128, 1)).status());
    ASSERT_OK(store->Flush());
    faults_->Fail(
        ScriptedFaults::Bit(StoreFile::kManifest) | ScriptedFaults::Bit(StoreFile::kTable),
        ScriptedFaults::kWrites, Fault::kIOError);
    (void)store->Close();  // may report the failed memtable flush
  }
  EXPECT_EQ(LoadedAfterReopen(tokens, 1), 64u);
}

}  // namespace
}  // namespace kvstash
