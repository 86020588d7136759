// The peer protocol of `kvstash serve`: length-prefixed, checksummed frames
// over TCP. Grammar in docs/format.md ("Peer protocol").
//
//   frame   := header(16) payload(payload_len) xxh3_64(header || payload)(8)
//   header  := "KVSW" version:u16 type:u8 flags:u8 request_id:u32 payload_len:u32
//
// All integers little-endian. A reader rejects a frame with the wrong magic,
// a version outside [kWireMinVersion, kWireVersion] (NotSupported), an
// unknown type, non-zero flags, a payload longer than its limit (before
// reading it), or a bad checksum. Block bytes travel exactly as stored (the
// encoded blob), so the server never re-encodes and the client verifies them
// like blocks read from its own disk.
#ifndef KVSTASH_SERDE_WIRE_H_
#define KVSTASH_SERDE_WIRE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serde/block_hash.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/status.h"

namespace kvstash {

inline constexpr char kWireMagic[4] = {'K', 'V', 'S', 'W'};
inline constexpr uint16_t kWireVersion = 1;
inline constexpr uint16_t kWireMinVersion = 1;
inline constexpr size_t kFrameHeaderSize = 16;
inline constexpr size_t kFrameTrailerSize = 8;
// Hashes one Match request may carry.
inline constexpr uint32_t kMaxMatchHashes = 1u << 16;

// Sent on the wire: never renumber.
enum class FrameType : uint8_t {
  kHello = 1,         // client: version u16, token
  kHelloOk = 2,       // server: version u16, max_frame u32
  kMatch = 3,         // model, count u32, hashes
  kMatchOk = 4,       // present u32: how many leading hashes are stored
  kGet = 5,           // model, hash
  kGetOk = 6,         // the stored blob
  kPut = 7,           // model, hash, blob
  kPutOk = 8,         // empty
  kStats = 9,         // empty
  kStatsOk = 10,      // JSON text
  kRegister = 11,     // model, canonical description text
  kRegisterOk = 12,   // empty
  kGetLogits = 13,    // model, parent, tail
  kGetLogitsOk = 14,  // the stored logits record
  kError = 15,        // status code u8, message
  kPutLogits = 16,    // model, parent, tail, logits record
  kPutLogitsOk = 17,  // empty
};
const char* FrameTypeName(FrameType type);

struct FrameHeader {
  uint16_t version = kWireVersion;
  FrameType type = FrameType::kError;
  uint32_t request_id = 0;
  uint32_t payload_len = 0;
};

// header || payload || checksum, ready to send.
std::string EncodeFrame(FrameType type, uint32_t request_id, std::string_view payload);

// Validates the 16 header bytes. `max_payload` bounds payload_len, so a lying
// length is refused before anything is allocated or read.
Result<FrameHeader> DecodeFrameHeader(const char* header, uint32_t max_payload);
// Checks the trailer against the header and payload bytes.
Status VerifyFrameChecksum(const char* header, std::string_view payload, const char* trailer);

// Payloads. Each Parse* returns InvalidArgument naming the frame and field
// when the payload is malformed.
std::string HelloPayload(uint16_t version, std::string_view token);
Status ParseHello(std::string_view payload, uint16_t* version, std::string* token);
std::string HelloOkPayload(uint16_t version, uint32_t max_frame);
Status ParseHelloOk(std::string_view payload, uint16_t* version, uint32_t* max_frame);

std::string MatchPayload(const ModelId& model, const std::vector<BlockHash>& hashes);
Status ParseMatch(std::string_view payload, ModelId* model, std::vector<BlockHash>* hashes);
std::string U32Payload(uint32_t value);
Status ParseU32(std::string_view payload, uint32_t* value);

// Get: model || hash. Put: model || hash || blob. Register: model || text.
std::string KeyPayload(const ModelId& model, const BlockHash& hash, std::string_view tail = {});
Status ParseKey(std::string_view payload, ModelId* model, BlockHash* hash, std::string_view* tail);
std::string ModelPayload(const ModelId& model, std::string_view tail);
Status ParseModel(std::string_view payload, ModelId* model, std::string_view* tail);

// GetLogits: model || parent || tail. PutLogits: the same || record.
std::string LogitsKeyPayload(const LogitsKey& key, std::string_view record = {});
Status ParseLogitsKey(std::string_view payload, LogitsKey* key, std::string_view* record);

std::string ErrorPayload(const Status& status);
// The Status an error frame carries (never OK).
Status ParseError(std::string_view payload);

}  // namespace kvstash

#endif  // KVSTASH_SERDE_WIRE_H_
