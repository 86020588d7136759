#include "gc/inventory.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace kvstash {

Result<std::vector<ModelInventory>> InventoryByModel(DiskTier* disk) {
  std::map<ModelId, ModelInventory> by_model;
  KVSTASH_ASSIGN_OR_RETURN(auto models, disk->ListModels());
  for (const auto& [id, text] : models) {
    ModelInventory& inv = by_model[id];
    inv.model = id;
    auto description = ModelDescription::FromCanonicalText(text);
    if (description.ok()) inv.description = std::move(description).value();
  }
  // Parents seen, per model, to count chain ends.
  std::map<ModelId, std::unordered_set<BlockHash, Hash128Hasher>> parents;
  std::map<ModelId, std::vector<BlockHash>> blocks;
  KVSTASH_RETURN_IF_ERROR(disk->ForEachMeta(
      std::nullopt,
      [&](const ModelId& model, const BlockHash& hash, const Result<BlockMeta>& meta) {
        ModelInventory& inv = by_model[model];
        inv.model = model;
        ++inv.blocks;
        if (!meta.ok()) {
          ++inv.unreadable_metas;
          return true;
        }
        inv.tokens += meta->tokens.size();
        inv.raw_bytes += meta->raw_bytes;
        inv.stored_bytes += meta->stored_bytes;
        inv.hits += meta->hits;
        inv.created_ms =
            inv.created_ms == 0 ? meta->created_ms : std::min(inv.created_ms, meta->created_ms);
        inv.last_access_ms = std::max(inv.last_access_ms, meta->last_access_ms);
        parents[model].insert(meta->parent);
        blocks[model].push_back(hash);
        return true;
      }));
  for (auto& [model, hashes] : blocks) {
    const auto& p = parents[model];
    by_model[model].chains = static_cast<uint64_t>(std::count_if(
        hashes.begin(), hashes.end(), [&](const BlockHash& h) { return !p.count(h); }));
  }
  std::vector<ModelInventory> out;
  for (auto& [id, inv] : by_model) out.push_back(std::move(inv));
  return out;
}

Result<std::vector<ChainInventory>> ChainsOfModel(DiskTier* disk, const ModelId& model) {
  std::unordered_map<BlockHash, BlockMeta, Hash128Hasher> metas;
  std::unordered_set<BlockHash, Hash128Hasher> parents;
  KVSTASH_RETURN_IF_ERROR(disk->ForEachMeta(
      model, [&](const ModelId&, const BlockHash& hash, const Result<BlockMeta>& meta) {
        if (meta.ok()) {
          parents.insert(meta->parent);
          metas.emplace(hash, *meta);
        }
        return true;
      }));
  std::vector<ChainInventory> chains;
  for (const auto& [hash, leaf_meta] : metas) {
    if (parents.count(hash)) continue;  // something continues it: not a chain end
    ChainInventory chain;
    chain.leaf = hash;
    const BlockMeta* meta = &leaf_meta;
    // Bounded walk: a corrupt parent cycle cannot loop forever.
    for (size_t steps = 0; steps <= metas.size(); ++steps) {
      ++chain.blocks;
      chain.tokens += meta->tokens.size();
      chain.stored_bytes += meta->stored_bytes;
      chain.last_access_ms = std::max(chain.last_access_ms, meta->last_access_ms);
      if (meta->parent == kRootBlockHash) {
        const size_t n = std::min<size_t>(32, meta->tokens.size());
        chain.first_tokens.assign(meta->tokens.begin(), meta->tokens.begin() + n);
        break;
      }
      auto parent = metas.find(meta->parent);
      if (parent == metas.end()) {
        chain.complete = false;
        break;
      }
      meta = &parent->second;
    }
    chains.push_back(std::move(chain));
  }
  std::sort(chains.begin(), chains.end(), [](const ChainInventory& a, const ChainInventory& b) {
    return a.last_access_ms != b.last_access_ms ? a.last_access_ms > b.last_access_ms
                                                : a.leaf < b.leaf;
  });
  return chains;
}

}  // namespace kvstash
