// Opening a Store in a test (gtest; not for the child processes of the
// process tests, which include store_test_util.h only).
#ifndef KVSTASH_TESTS_STORE_STORE_OPEN_UTIL_H_
#define KVSTASH_TESTS_STORE_STORE_OPEN_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "store/disk_tier.h"
#include "store/store.h"

namespace kvstash::testing {

// A Store on `path` ("" for none) whose device tier is host memory; null,
// with a test failure, if it does not open.
inline std::unique_ptr<Store> OpenCpuStore(const std::string& path,
                                           uint64_t device_budget = 1ull << 30,
                                           SpillPolicy policy = SpillPolicy::kWriteThrough) {
  StoreOptions options;
  options.path = path;
  options.device = "cpu";
  options.device_budget_bytes = device_budget;
  options.spill_policy = policy;
  auto store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

// Flips one bit in the middle of each named block's stored blob, in place,
// as damage on disk would (the store at `path` must be closed).
inline void CorruptStoredBlobs(const std::string& path, const ModelId& model,
                               const std::vector<BlockHash>& hashes) {
  auto disk = DiskTier::Open(DiskTierOptions{path});
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  for (const BlockHash& hash : hashes) {
    std::string blob;
    ASSERT_TRUE((*disk)->GetBlob(model, hash, &blob).ok());
    blob[blob.size() / 2] ^= 0x20;
    DiskBlockWrite w{model, hash, (*disk)->GetMeta(model, hash).value(), blob};
    ASSERT_TRUE((*disk)->PutBlocks({w}, true).ok());
  }
}

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_STORE_STORE_OPEN_UTIL_H_
