#include "gc/block_graph.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "serde/block_codec.h"

namespace kvstash {

Result<BlockGraph> BlockGraph::Load(DiskTier* disk, const std::optional<ModelId>& model) {
  BlockGraph graph;
  KVSTASH_ASSIGN_OR_RETURN(auto registry, disk->ListModels());
  for (const auto& entry : registry) {
    if (!model || entry.first == *model) graph.AddModel(entry.first);
  }
  std::vector<BlockRef> unreadable;
  KVSTASH_RETURN_IF_ERROR(disk->ForEachMeta(
      model, [&](const ModelId& m, const BlockHash& h, const Result<BlockMeta>& meta) {
        BlockNode node;
        if (meta.ok()) {
          node.parent = meta->parent;
          node.stored_bytes = meta->stored_bytes;
          node.last_access_ms = meta->last_access_ms;
          node.created_ms = meta->created_ms;
        } else {
          node.readable = false;
          node.parent_known = false;
          node.meta_error = meta.status().ToString();
          unreadable.push_back({m, h});
        }
        graph.AddBlock(m, h, std::move(node));
        return true;
      }));
  // Rare: recover what a broken meta lost from the blob's checksummed header,
  // so the block can be deleted together with its child link.
  std::string blob;
  for (const BlockRef& ref : unreadable) {
    BlockNode& node = graph.models_[ref.model].blocks[ref.hash];
    if (!disk->GetBlob(ref.model, ref.hash, &blob).ok()) continue;
    node.stored_bytes = blob.size();
    auto header = ParseBlockHeader(blob, /*verify_checksum=*/true);
    if (header.ok() && header->model == ref.model && header->hash == ref.hash) {
      node.parent = header->parent;
      node.parent_known = true;
    }
  }
  graph.stored_bytes_ = 0;  // sizes of unreadable blocks changed above
  for (const auto& [m, blocks] : graph.models_) {
    for (const auto& [h, node] : blocks.blocks) graph.stored_bytes_ += node.stored_bytes;
  }
  graph.Finish();
  return graph;
}

void BlockGraph::AddModel(const ModelId& model) { models_[model].registered = true; }

void BlockGraph::AddBlock(const ModelId& model, const BlockHash& hash, BlockNode node) {
  auto& blocks = models_[model].blocks;
  auto [it, inserted] = blocks.try_emplace(hash);
  if (inserted) {
    ++block_count_;
  } else {
    stored_bytes_ -= it->second.stored_bytes;
  }
  stored_bytes_ += node.stored_bytes;
  it->second = std::move(node);
}

void BlockGraph::Finish() {
  for (auto& [model, mb] : models_) {
    auto& blocks = mb.blocks;
    for (auto& [hash, node] : blocks) {
      node.children.clear();
      node.orphan = false;
      node.depth = 0;
    }
    std::deque<BlockHash> roots;
    for (auto& [hash, node] : blocks) {
      if (!node.parent_known || node.parent.IsZero()) {
        roots.push_back(hash);
        continue;
      }
      auto parent = blocks.find(node.parent);
      if (parent == blocks.end()) {
        node.orphan = true;
        roots.push_back(hash);
      } else {
        parent->second.children.push_back(hash);
      }
    }
    // Breadth-first from the roots: depths, and what a parent cycle cuts off.
    std::unordered_set<BlockHash, Hash128Hasher> reached(roots.begin(), roots.end());
    while (!roots.empty()) {
      const BlockHash h = roots.front();
      roots.pop_front();
      BlockNode& node = blocks[h];
      std::sort(node.children.begin(), node.children.end());
      for (const BlockHash& c : node.children) {
        if (!reached.insert(c).second) continue;
        blocks[c].depth = node.depth + 1;
        roots.push_back(c);
      }
    }
    for (auto& [hash, node] : blocks) {
      if (reached.count(hash)) continue;
      // On (or below) a cycle of parents: never matchable.
      std::sort(node.children.begin(), node.children.end());
      node.orphan = true;
    }
  }
}

const BlockNode* BlockGraph::Find(const BlockRef& ref) const {
  auto m = models_.find(ref.model);
  if (m == models_.end()) return nullptr;
  auto b = m->second.blocks.find(ref.hash);
  return b == m->second.blocks.end() ? nullptr : &b->second;
}

std::vector<BlockRef> BlockGraph::Orphans() const {
  std::vector<BlockRef> out;
  for (const auto& [model, mb] : models_) {
    std::vector<BlockHash> hashes;
    for (const auto& [hash, node] : mb.blocks) {
      if (node.orphan) hashes.push_back(hash);
    }
    std::sort(hashes.begin(), hashes.end());
    for (const BlockHash& h : hashes) out.push_back({model, h});
  }
  return out;
}

void BlockGraph::AddSubtree(const BlockRef& ref, BlockSet* out) const {
  std::vector<BlockRef> stack = {ref};
  while (!stack.empty()) {
    BlockRef r = stack.back();
    stack.pop_back();
    const BlockNode* node = Find(r);
    if (!node || !out->insert(r).second) continue;
    for (const BlockHash& c : node->children) stack.push_back({r.model, c});
  }
}

std::vector<BlockRef> BlockGraph::LeafFirst(const BlockSet& blocks) const {
  struct Item {
    uint32_t depth;
    BlockRef ref;
  };
  std::vector<Item> items;
  items.reserve(blocks.size());
  for (const BlockRef& r : blocks) {
    if (const BlockNode* node = Find(r)) items.push_back({node->depth, r});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.depth != b.depth) return a.depth > b.depth;
    if (a.ref.model != b.ref.model) return a.ref.model < b.ref.model;
    return a.ref.hash < b.ref.hash;
  });
  std::vector<BlockRef> out;
  out.reserve(items.size());
  for (const Item& i : items) out.push_back(i.ref);
  return out;
}

}  // namespace kvstash
