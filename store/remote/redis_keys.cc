#include "store/remote/redis_keys.h"

namespace kvstash {

std::string RedisBlockKey(const ModelId& model, const BlockHash& hash) {
  return std::string(kRedisKeyPrefix) + "block:" + model.ToHex() + ":" + hash.ToHex();
}

std::string RedisLogitsKey(const LogitsKey& key) {
  return std::string(kRedisKeyPrefix) + "logits:" + key.model.ToHex() + ":" + key.parent.ToHex() +
         ":" + key.tail.ToHex();
}

std::string RedisModelKey(const ModelId& model) {
  return std::string(kRedisKeyPrefix) + "model:" + model.ToHex();
}

RedisKeyKind ClassifyRedisKey(std::string_view key) {
  if (key.rfind(kRedisKeyPrefix, 0) != 0) return RedisKeyKind::kOther;
  key.remove_prefix(kRedisKeyPrefix.size());
  if (key.rfind("block:", 0) == 0) return RedisKeyKind::kBlock;
  if (key.rfind("logits:", 0) == 0) return RedisKeyKind::kLogits;
  if (key.rfind("model:", 0) == 0) return RedisKeyKind::kModel;
  return RedisKeyKind::kOther;
}

}  // namespace kvstash
