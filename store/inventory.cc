#include "store/inventory.h"

#include <algorithm>
#include <map>
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

}  // namespace kvstash
