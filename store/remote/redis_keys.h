// The keys kvstash writes in a Redis Cluster (docs/format.md, "Redis Cluster
// layout"). Lower-case hex of the 128-bit ids; no {hash tag}, so the blocks
// of one prompt spread over every master.
#ifndef KVSTASH_STORE_REMOTE_REDIS_KEYS_H_
#define KVSTASH_STORE_REMOTE_REDIS_KEYS_H_

#include <string>
#include <string_view>

#include "serde/block_hash.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"

namespace kvstash {

// Every kvstash key starts with this; SCAN ... MATCH kvstash:* finds them.
inline constexpr std::string_view kRedisKeyPrefix = "kvstash:";

// "kvstash:block:<model>:<hash>" -> a block blob (serde/block_codec.h).
std::string RedisBlockKey(const ModelId& model, const BlockHash& hash);
// "kvstash:logits:<model>:<parent>:<tail>" -> a logits record.
std::string RedisLogitsKey(const LogitsKey& key);
// "kvstash:model:<model>" -> the model's canonical description.
std::string RedisModelKey(const ModelId& model);

enum class RedisKeyKind { kBlock, kLogits, kModel, kOther };
// What a key under kRedisKeyPrefix holds (kOther: not a kvstash key).
RedisKeyKind ClassifyRedisKey(std::string_view key);

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REDIS_KEYS_H_
