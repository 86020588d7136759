#include "gc/verify.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "gc/pins.h"
#include "serde/block_codec.h"
#include "serde/logits_record.h"

namespace kvstash {

const char* ProblemKindName(BlockProblem::Kind kind) {
  switch (kind) {
    case BlockProblem::Kind::kCorrupt:
      return "corrupt";
    case BlockProblem::Kind::kOrphan:
      return "orphan";
    case BlockProblem::Kind::kDanglingLink:
      return "dangling-link";
    case BlockProblem::Kind::kBadLogits:
      return "bad-logits";
  }
  return "unknown";
}

namespace {

std::string TokensDiff(const std::vector<int32_t>& header, const std::vector<int32_t>& meta) {
  if (header.size() != meta.size()) {
    return "blob holds " + std::to_string(header.size()) + " tokens, meta " +
           std::to_string(meta.size());
  }
  size_t i = 0;
  while (header[i] == meta[i]) ++i;
  return "token " + std::to_string(i) + " differs between blob and meta (" +
         std::to_string(header[i]) + " != " + std::to_string(meta[i]) + ")";
}

// What is wrong with one block ("" if nothing); a Status only if the store
// could not be read.
Result<std::string> CheckBlock(DiskTier* disk, BlockCodec* codec, bool decode, const ModelId& model,
                               const BlockHash& hash, const Result<BlockMeta>& meta,
                               std::string* blob) {
  if (!meta.ok()) return "meta: " + meta.status().ToString();
  Status read = disk->GetBlob(model, hash, blob);
  if (read.IsNotFound()) return std::string("blob missing (meta present)");
  if (read.IsCorruption()) return "blob unreadable: " + read.ToString();
  KVSTASH_RETURN_IF_ERROR(read);
  auto header = decode ? codec->Decode(*blob, ScatterMap()) : ParseBlockHeader(*blob, true);
  if (!header.ok()) return header.status().ToString();
  const BlockMeta& m = *meta;
  if (header->model != model) {
    return "blob header names model " + header->model.ToHex() + ", key " + model.ToHex();
  }
  if (header->hash != hash) return "blob header names block " + header->hash.ToHex();
  if (header->parent != m.parent) {
    return "blob header names parent " + header->parent.ToHex() + ", meta " + m.parent.ToHex();
  }
  if (header->tokens != m.tokens) return TokensDiff(header->tokens, m.tokens);
  if (header->raw_bytes != m.raw_bytes) {
    return "raw size " + std::to_string(header->raw_bytes) + " in blob, " +
           std::to_string(m.raw_bytes) + " in meta";
  }
  if (header->codec != m.codec || header->shape.dtype != m.dtype) {
    return std::string("codec/dtype ") + CodecName(header->codec) + "/" +
           DTypeName(header->shape.dtype) + " in blob, " + CodecName(m.codec) + "/" +
           DTypeName(m.dtype) + " in meta";
  }
  if (blob->size() != m.stored_bytes) {
    return "blob is " + std::to_string(blob->size()) + " bytes, meta says " +
           std::to_string(m.stored_bytes);
  }
  return std::string();
}

// Child links that name a block which does not exist, under every block
// and under the root of each model in `graph`.
Result<std::vector<BlockProblem>> FindDanglingLinks(DiskTier* disk, const BlockGraph& graph) {
  std::vector<BlockProblem> out;
  for (const auto& [model, mb] : graph.models()) {
    std::vector<BlockHash> parents = {kRootBlockHash};
    for (const auto& [h, node] : mb.blocks) {
      parents.push_back(h);
      if (node.orphan && node.parent_known) parents.push_back(node.parent);
    }
    std::sort(parents.begin(), parents.end());
    parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
    for (const BlockHash& p : parents) {
      KVSTASH_ASSIGN_OR_RETURN(auto children, disk->Children(model, p));
      for (const ChildLink& link : children) {
        const BlockHash& c = link.hash;
        if (graph.Find({model, c})) continue;
        // Written since the graph was loaded?
        if (!disk->GetMeta(model, c).status().IsNotFound()) continue;
        BlockProblem problem;
        problem.kind = BlockProblem::Kind::kDanglingLink;
        problem.ref = {model, c};
        problem.parent = p;
        problem.detail = "child link under " + p.ToHex() + " names a missing block";
        out.push_back(std::move(problem));
      }
    }
  }
  return out;
}

// Logits records that are corrupt or whose parent block is not in `graph`
// (and not written since it was loaded).
Status CheckLogitsRecords(DiskTier* disk, const BlockGraph& graph,
                          const std::optional<ModelId>& model, VerifyReport* report) {
  Status error;
  KVSTASH_RETURN_IF_ERROR(
      disk->ForEachLogits(model, [&](const LogitsKey& key, std::string_view record) {
        ++report->logits_records;
        report->logits_bytes += record.size();
        BlockProblem problem;
        problem.kind = BlockProblem::Kind::kBadLogits;
        problem.ref = {key.model, key.tail};
        problem.parent = key.parent;
        problem.stored_bytes = record.size();
        Result<uint32_t> vocab = VerifyLogitsRecord(record, key);
        if (!vocab.ok()) {
          problem.detail = vocab.status().ToString();
        } else if (!graph.Find({key.model, key.parent})) {
          Status meta = disk->GetMeta(key.model, key.parent).status();
          if (!meta.IsNotFound()) {
            if (!meta.ok()) error = meta;
            return meta.ok();
          }
          problem.detail =
              "logits record of a prompt whose block " + key.parent.ToHex() + " is missing";
        }
        if (!problem.detail.empty()) {
          ++report->bad_logits;
          report->problems.push_back(std::move(problem));
        }
        return true;
      }));
  return error;
}

}  // namespace

Result<VerifyReport> VerifyStore(DiskTier* disk, const VerifyOptions& options) {
  KVSTASH_ASSIGN_OR_RETURN(BlockGraph graph, BlockGraph::Load(disk, options.model));
  VerifyReport report;
  report.models = graph.models().size();
  const uint64_t total = graph.block_count();
  BlockCodec codec;
  std::string blob;
  Status error;
  BlockSet problem_blocks;
  KVSTASH_RETURN_IF_ERROR(disk->ForEachMeta(
      options.model,
      [&](const ModelId& model, const BlockHash& hash, const Result<BlockMeta>& meta) {
        const BlockNode* node = graph.Find({model, hash});
        if (!node) return true;  // written after the graph was loaded
        auto why = CheckBlock(disk, &codec, options.decode_payloads, model, hash, meta, &blob);
        if (!why.ok()) {
          error = why.status();
          return false;
        }
        ++report.blocks;
        report.stored_bytes += node->stored_bytes;
        BlockProblem problem;
        problem.ref = {model, hash};
        problem.parent = node->parent;
        problem.stored_bytes = node->stored_bytes;
        if (!why->empty()) {
          problem.kind = BlockProblem::Kind::kCorrupt;
          problem.detail = std::move(why).value();
          ++report.corrupt;
        } else if (node->orphan) {
          problem.kind = BlockProblem::Kind::kOrphan;
          problem.detail = graph.Find({model, node->parent})
                               ? "its chain of parents loops"
                               : "parent " + node->parent.ToHex() + " is missing";
          ++report.orphans;
        }
        if (!problem.detail.empty()) {
          problem_blocks.insert(problem.ref);
          report.problems.push_back(std::move(problem));
        }
        if (options.progress) options.progress(report.blocks, total);
        return true;
      }));
  KVSTASH_RETURN_IF_ERROR(error);

  BlockSet condemned;
  for (const BlockRef& r : problem_blocks) graph.AddSubtree(r, &condemned);
  report.unreachable = condemned.size() - problem_blocks.size();

  KVSTASH_ASSIGN_OR_RETURN(auto links, FindDanglingLinks(disk, graph));
  report.dangling_links = links.size();
  for (auto& l : links) report.problems.push_back(std::move(l));
  KVSTASH_RETURN_IF_ERROR(CheckLogitsRecords(disk, graph, options.model, &report));
  return report;
}

Result<RepairResult> Repair(DiskTier* disk, const VerifyReport& report, bool compact) {
  KVSTASH_ASSIGN_OR_RETURN(BlockGraph graph, BlockGraph::Load(disk));
  std::unordered_map<BlockRef, PruneReason, BlockRefHasher> reasons;
  for (const BlockProblem& p : report.problems) {
    if (p.kind == BlockProblem::Kind::kCorrupt) reasons[p.ref] = PruneReason::kCorrupt;
    if (p.kind == BlockProblem::Kind::kOrphan) reasons.try_emplace(p.ref, PruneReason::kOrphan);
  }
  BlockSet condemned;
  for (const auto& [ref, reason] : reasons) graph.AddSubtree(ref, &condemned);
  // A pinned chain keeps every block that is not itself corrupt, even below
  // a problem: the pin's owner asked for it, and a later verify reports it.
  KVSTASH_ASSIGN_OR_RETURN(BlockSet pinned_leaves, PinnedBlocks(disk));
  const BlockSet pinned = WithAncestors(graph, pinned_leaves);
  for (const BlockRef& r : pinned) {
    auto it = reasons.find(r);
    if (it == reasons.end() || it->second != PruneReason::kCorrupt) condemned.erase(r);
  }
  PrunePlan plan;
  RepairResult result;
  for (const BlockRef& r : graph.LeafFirst(condemned)) {
    const BlockNode* node = graph.Find(r);
    auto it = reasons.find(r);
    const PruneReason reason = it == reasons.end() ? PruneReason::kUnreachable : it->second;
    result.unreachable += reason == PruneReason::kUnreachable;
    plan.blocks.push_back({r, node->parent, node->stored_bytes, node->last_access_ms, reason});
    plan.stored_bytes += node->stored_bytes;
  }
  ApplyOptions apply;
  apply.revalidate = false;  // condemned by verification, not by age
  apply.compact = false;
  KVSTASH_ASSIGN_OR_RETURN(result.applied, ApplyPlan(disk, plan, apply));

  // Links are checked again now that the blocks are gone.
  KVSTASH_ASSIGN_OR_RETURN(graph, BlockGraph::Load(disk));
  KVSTASH_ASSIGN_OR_RETURN(auto links, FindDanglingLinks(disk, graph));
  std::vector<DiskBlockDelete> deletes;
  for (const BlockProblem& l : links) deletes.push_back({l.ref.model, l.ref.hash, l.parent});
  KVSTASH_RETURN_IF_ERROR(disk->DeleteBlocks(deletes));
  result.links_deleted = deletes.size();
  for (const BlockProblem& p : report.problems) {
    if (p.kind != BlockProblem::Kind::kBadLogits) continue;
    KVSTASH_RETURN_IF_ERROR(disk->DeleteLogits({p.ref.model, p.parent, p.ref.hash}));
    ++result.logits_deleted;
  }

  if (compact && (result.applied.blocks_deleted > 0 || result.links_deleted > 0 ||
                  result.logits_deleted > 0)) {
    KVSTASH_RETURN_IF_ERROR(disk->Compact());
    result.applied.compacted = true;
  }
  return result;
}

}  // namespace kvstash
