#include "tools/verify_recompute.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <unordered_set>

#include "gc/block_graph.h"
#include "serde/block_codec.h"
#include "store/kv_tensors.h"

namespace kvstash::cli {

namespace {

// Tokens per forward pass: what the engine's prefill uses by default, so a
// long chain does not need one pass's worth of activations for all of it.
constexpr int64_t kPrefillChunk = 512;

struct ChainBlock {
  BlockHash hash;
  BlockMeta meta;
};

// The chain from the root down to `leaf`, as far as its metas read. Sets
// `*cut` if a meta on the way did not (the chain then starts after it is
// dropped: nothing above an unreadable block can be placed).
std::vector<ChainBlock> ChainTo(DiskTier* disk, const BlockGraph& graph, const ModelId& model,
                                const BlockHash& leaf, bool* cut) {
  std::vector<BlockHash> hashes;
  for (BlockHash h = leaf; h != kRootBlockHash;) {
    hashes.push_back(h);
    const BlockNode* node = graph.Find(BlockRef{model, h});
    if (node == nullptr || !node->parent_known || hashes.size() > graph.block_count()) break;
    h = node->parent;
  }
  std::reverse(hashes.begin(), hashes.end());
  std::vector<ChainBlock> chain;
  *cut = false;
  for (const BlockHash& h : hashes) {
    auto meta = disk->GetMeta(model, h);
    if (!meta.ok() || meta->tokens.empty()) {
      *cut = true;
      break;
    }
    chain.push_back({h, std::move(meta).value()});
  }
  return chain;
}

// ||stored - computed|| / ||computed|| over positions [p0, p0 + m) of one
// layer's K or V, in f32 on the CPU.
double RelativeDifference(const at::Tensor& stored, const at::Tensor& computed, int64_t p0,
                          int64_t m) {
  const at::Tensor a = stored.narrow(-2, p0, m).to(at::kCPU, at::kFloat);
  const at::Tensor b = computed.narrow(-2, p0, m).to(at::kCPU, at::kFloat);
  const double reference = b.norm().item<double>();
  const double difference = (a - b).norm().item<double>();
  if (!std::isfinite(difference)) return std::numeric_limits<double>::infinity();
  return difference / std::max(reference, 1e-12);
}

}  // namespace

double DefaultRecomputeTolerance(DType compute_dtype) {
  return compute_dtype == DType::kF32 ? 1e-3 : 5e-2;
}

Result<ModelId> FindStoredModel(DiskTier* disk, const LlamaModel& model) {
  KVSTASH_ASSIGN_OR_RETURN(auto models, disk->ListModels());
  std::string stored;
  for (const auto& [id, text] : models) {
    auto description = ModelDescription::FromCanonicalText(text);
    if (!description.ok()) continue;  // verify reports a bad registry entry
    auto mine = model.Describe(description->block_tokens).Fingerprint();
    if (mine.ok() && *mine == id) return id;
    stored += (stored.empty() ? "" : "; ") + description->Summary() + " (" + id.ToHex() + ")";
  }
  return Status::NotFound(
      "the store holds no model that is this one as loaded (" +
      model.Describe(kDefaultBlockTokens).Summary() + "); it holds " +
      (stored.empty() ? std::string("none") : stored) +
      ". Weights, tokenizer and both dtypes make the model id: check --kv-dtype and "
      "--compute-dtype");
}

Result<RecomputeReport> RecomputeStoredChains(DiskTier* disk, const LlamaModel& model,
                                              const ModelId& model_id,
                                              const RecomputeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  RecomputeReport report;
  report.model = model_id;
  report.tolerance =
      options.tolerance > 0 ? options.tolerance : DefaultRecomputeTolerance(model.compute_dtype());
  KVSTASH_ASSIGN_OR_RETURN(BlockGraph graph, BlockGraph::Load(disk, model_id));
  std::vector<BlockHash> leaves;
  if (auto it = graph.models().find(model_id); it != graph.models().end()) {
    for (const auto& [hash, node] : it->second.blocks) {
      if (node.children.empty() && !node.orphan) leaves.push_back(hash);
    }
  }
  report.stored_chains = leaves.size();
  std::sort(leaves.begin(), leaves.end());  // the map's order is not stable
  std::mt19937_64 rng(options.seed);
  std::shuffle(leaves.begin(), leaves.end(), rng);
  if (options.sample_chains != 0 && leaves.size() > options.sample_chains) {
    leaves.resize(options.sample_chains);
  }

  const BlockShape shape = model.kv_shape();
  BlockCodec codec;
  std::string blob;
  std::unordered_set<BlockHash, Hash128Hasher> compared;
  for (const BlockHash& leaf : leaves) {
    bool cut = false;
    std::vector<ChainBlock> chain = ChainTo(disk, graph, model_id, leaf, &cut);
    report.unreadable += cut;
    if (chain.empty()) continue;
    std::vector<int32_t> tokens;
    for (const ChainBlock& b : chain) {
      tokens.insert(tokens.end(), b.meta.tokens.begin(), b.meta.tokens.end());
    }
    const auto n = static_cast<int64_t>(tokens.size());
    KVSTASH_ASSIGN_OR_RETURN(KvCacheView computed, model.NewCache(tokens.size()));
    for (int64_t pos = 0; pos < n; pos += kPrefillChunk) {
      const int64_t len = std::min(kPrefillChunk, n - pos);
      KVSTASH_RETURN_IF_ERROR(model.Forward(tokens.data() + pos, len, pos, computed).status());
    }
    report.tokens += tokens.size();
    ++report.chains;
    KVSTASH_ASSIGN_OR_RETURN(KvCacheView stored,
                             AllocateKvView(shape, tokens.size(), c10::Device(c10::kCPU)));
    size_t p0 = 0;
    for (const ChainBlock& b : chain) {
      const size_t m = b.meta.tokens.size();
      const size_t first = p0;
      p0 += m;
      if (compared.count(b.hash)) continue;
      Status read = disk->GetBlob(model_id, b.hash, &blob);
      if (read.ok()) {
        read = codec.Decode(blob, ViewScatterMap(stored, shape, m, first, m)).status();
      }
      if (!read.ok()) {
        ++report.unreadable;  // and what hangs below it was computed on it: stop
        break;
      }
      compared.insert(b.hash);
      RecomputedBlock block{b.hash, b.meta.parent, b.meta.stored_bytes, first, m, 0};
      Status compare = CatchTorch("compare K/V", [&] {
        for (size_t layer = 0; layer < stored.keys.size(); ++layer) {
          block.difference =
              std::max({block.difference,
                        RelativeDifference(stored.keys[layer], computed.keys[layer],
                                           static_cast<int64_t>(first), static_cast<int64_t>(m)),
                        RelativeDifference(stored.values[layer], computed.values[layer],
                                           static_cast<int64_t>(first), static_cast<int64_t>(m))});
        }
        return Status::OK();
      });
      KVSTASH_RETURN_IF_ERROR(compare);
      ++report.blocks;
      if (!(block.difference <= report.tolerance)) {  // NaN too
        report.wrong.push_back(block);
      } else {
        report.largest_difference = std::max(report.largest_difference, block.difference);
      }
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace kvstash::cli
