// Redis Cluster's key-to-slot function (the cluster specification: CRC16
// XMODEM of the key, or of its first non-empty {hash tag}, modulo 16384).
// kvstash's keys carry no hash tag, so a prompt's blocks spread over every
// node (docs/format.md, "Redis Cluster layout").
#ifndef KVSTASH_STORE_REMOTE_REDIS_SLOTS_H_
#define KVSTASH_STORE_REMOTE_REDIS_SLOTS_H_

#include <cstdint>
#include <string_view>

namespace kvstash {

inline constexpr uint16_t kRedisSlots = 16384;

// CRC16/XMODEM (polynomial 0x1021, initial 0): "123456789" -> 0x31C3.
uint16_t RedisCrc16(std::string_view bytes);

// The slot serving `key`, in [0, kRedisSlots).
uint16_t RedisKeySlot(std::string_view key);

}  // namespace kvstash

#endif  // KVSTASH_STORE_REMOTE_REDIS_SLOTS_H_
