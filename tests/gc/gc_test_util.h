// Fixtures for gc tests: stores of several MB built through the Store API
// (chains of 64-token blocks of a small synthetic model), and helpers to
// look at what a store holds through its disk tier.
#ifndef KVSTASH_TESTS_GC_GC_TEST_UTIL_H_
#define KVSTASH_TESTS_GC_GC_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gc/block_graph.h"
#include "store/disk_tier.h"
#include "store/store.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace kvstash::testing {

inline constexpr uint32_t kGcBlockTokens = 64;

// ~37 KiB per stored block (48 KiB raw, f32 3 layers x 2 kv heads x 16).
inline ModelDescription GcModel(std::string tag = "") {
  return TestModel(DType::kF32, kGcBlockTokens, std::move(tag));
}

// Chain `i`: `blocks` full blocks, no prefix shared with any other chain.
inline std::vector<int32_t> ChainTokens(int i, size_t blocks) {
  return Iota(blocks * kGcBlockTokens, 1 + i * 100000);
}

inline Result<std::unique_ptr<Store>> OpenTestStore(const std::string& dir) {
  StoreOptions options;
  options.path = dir;
  options.device = "cpu";
  options.device_budget_bytes = 0;  // every load comes from disk
  return Store::Open(options);
}

inline Status InsertChain(Store* store, const ModelDescription& desc, const ModelId& model,
                          const std::vector<int32_t>& tokens) {
  auto ins = store->Insert(model, tokens, MakeKv(desc, tokens, tokens.size()));
  return ins.ok() ? Status::OK() : ins.status();
}

// Tokens of `chains` chains of `blocks` blocks each, after inserting them
// into a new store at `dir` (closed again on return).
inline std::vector<std::vector<int32_t>> BuildStore(const std::string& dir, int chains,
                                                    size_t blocks, ModelId* model_out = nullptr,
                                                    const ModelDescription& desc = GcModel()) {
  std::vector<std::vector<int32_t>> out;
  auto store = OpenTestStore(dir);
  EXPECT_OK(store.status());
  if (!store.ok()) return out;
  auto model = (*store)->RegisterModel(desc);
  EXPECT_OK(model.status());
  for (int i = 0; i < chains; ++i) {
    out.push_back(ChainTokens(i, blocks));
    EXPECT_OK(InsertChain(store->get(), desc, *model, out.back()));
  }
  EXPECT_OK((*store)->Close());
  if (model_out) *model_out = *model;
  return out;
}

inline Result<std::unique_ptr<DiskTier>> OpenDisk(const std::string& dir) {
  DiskTierOptions options;
  options.path = dir;
  return DiskTier::Open(options);
}

// The hashes of a token sequence's full blocks, first to last.
inline std::vector<BlockHash> ChainHashes(const ModelId& model, const std::vector<int32_t>& t) {
  return ComputeChainHashes(model, t.data(), t.size(), kGcBlockTokens);
}

// Sets last_access_ms of every block of `tokens` to `ms`.
inline void SetAccess(DiskTier* disk, const ModelId& model, const std::vector<int32_t>& tokens,
                      uint64_t ms) {
  std::vector<std::pair<std::pair<ModelId, BlockHash>, BlockMeta>> metas;
  for (const BlockHash& h : ChainHashes(model, tokens)) {
    auto meta = disk->GetMeta(model, h);
    ASSERT_OK(meta.status());
    meta->last_access_ms = ms;
    metas.push_back({{model, h}, *meta});
  }
  ASSERT_OK(disk->PutMetas(metas));
}

// Tokens of `tokens` a store at `dir` still matches.
inline size_t MatchedTokens(const std::string& dir, const ModelDescription& desc,
                            const std::vector<int32_t>& tokens) {
  auto store = OpenTestStore(dir);
  if (!store.ok()) return 0;
  auto model = (*store)->RegisterModel(desc);
  if (!model.ok()) return 0;
  auto match = (*store)->Match(*model, tokens);
  return match.ok() ? match->tokens : 0;
}

inline uint64_t StoredBytes(DiskTier* disk) {
  auto graph = BlockGraph::Load(disk);
  return graph.ok() ? graph->stored_bytes() : 0;
}

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_GC_GC_TEST_UTIL_H_
