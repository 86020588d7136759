#include "serde/wire.h"

#include <xxhash.h>

#include <cstring>

#include "serde/le_coding.h"

namespace kvstash {

namespace {

bool IsKnownType(uint8_t t) {
  return t >= static_cast<uint8_t>(FrameType::kHello) &&
         t <= static_cast<uint8_t>(FrameType::kPutLogitsOk);
}

Status Malformed(const char* frame, const std::string& what) {
  return Status::InvalidArgument(std::string("malformed ") + frame + " frame: " + what);
}

}  // namespace

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "hello";
    case FrameType::kHelloOk:
      return "hello-ok";
    case FrameType::kMatch:
      return "match";
    case FrameType::kMatchOk:
      return "match-ok";
    case FrameType::kGet:
      return "get";
    case FrameType::kGetOk:
      return "get-ok";
    case FrameType::kPut:
      return "put";
    case FrameType::kPutOk:
      return "put-ok";
    case FrameType::kStats:
      return "stats";
    case FrameType::kStatsOk:
      return "stats-ok";
    case FrameType::kRegister:
      return "register";
    case FrameType::kRegisterOk:
      return "register-ok";
    case FrameType::kGetLogits:
      return "get-logits";
    case FrameType::kGetLogitsOk:
      return "get-logits-ok";
    case FrameType::kPutLogits:
      return "put-logits";
    case FrameType::kPutLogitsOk:
      return "put-logits-ok";
    case FrameType::kError:
      return "error";
  }
  return "unknown";
}

std::string EncodeFrame(FrameType type, uint32_t request_id, std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size() + kFrameTrailerSize);
  out.append(kWireMagic, 4);
  PutFixed16(&out, kWireVersion);
  PutFixed8(&out, static_cast<uint8_t>(type));
  PutFixed8(&out, 0);  // flags
  PutFixed32(&out, request_id);
  PutFixed32(&out, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
  PutFixed64(&out, Xxh3Hash64(out.data(), out.size()));
  return out;
}

Result<FrameHeader> DecodeFrameHeader(const char* p, uint32_t max_payload) {
  if (std::memcmp(p, kWireMagic, 4) != 0) {
    return Status::InvalidArgument("bad frame magic (not a kvstash peer)");
  }
  FrameHeader h;
  h.version = DecodeFixed16(p + 4);
  if (h.version > kWireVersion || h.version < kWireMinVersion) {
    return Status::NotSupported("peer protocol version " + std::to_string(h.version) +
                                " (this kvstash speaks " + std::to_string(kWireMinVersion) + ".." +
                                std::to_string(kWireVersion) + ")");
  }
  const uint8_t type = static_cast<uint8_t>(p[6]);
  if (!IsKnownType(type)) {
    return Status::InvalidArgument("unknown frame type " + std::to_string(type));
  }
  h.type = static_cast<FrameType>(type);
  if (p[7] != 0) return Status::InvalidArgument("frame has unknown flags");
  h.request_id = DecodeFixed32(p + 8);
  h.payload_len = DecodeFixed32(p + 12);
  if (h.payload_len > max_payload) {
    return Status::ResourceExhausted("frame payload of " + std::to_string(h.payload_len) +
                                     " bytes exceeds the limit of " + std::to_string(max_payload));
  }
  return h;
}

Status VerifyFrameChecksum(const char* header, std::string_view payload, const char* trailer) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  XXH3_64bits_update(state, header, kFrameHeaderSize);
  XXH3_64bits_update(state, payload.data(), payload.size());
  const uint64_t computed = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (computed != DecodeFixed64(trailer)) {
    return Status::Corruption("frame checksum mismatch");
  }
  return Status::OK();
}

std::string HelloPayload(uint16_t version, std::string_view token) {
  std::string out;
  PutFixed16(&out, version);
  PutFixed16(&out, static_cast<uint16_t>(token.size()));
  out.append(token.data(), token.size());
  return out;
}

Status ParseHello(std::string_view payload, uint16_t* version, std::string* token) {
  LeReader r(payload);
  uint16_t len = 0;
  std::string_view t;
  if (!r.Read16(version) || !r.Read16(&len) || !r.ReadBytes(len, &t) || r.remaining() != 0) {
    return Malformed("hello", "truncated or trailing bytes");
  }
  token->assign(t.data(), t.size());
  return Status::OK();
}

std::string HelloOkPayload(uint16_t version, uint32_t max_frame) {
  std::string out;
  PutFixed16(&out, version);
  PutFixed32(&out, max_frame);
  return out;
}

Status ParseHelloOk(std::string_view payload, uint16_t* version, uint32_t* max_frame) {
  LeReader r(payload);
  if (!r.Read16(version) || !r.Read32(max_frame) || r.remaining() != 0) {
    return Malformed("hello-ok", "expected 6 bytes");
  }
  return Status::OK();
}

std::string MatchPayload(const ModelId& model, const std::vector<BlockHash>& hashes) {
  std::string out;
  out.reserve(20 + 16 * hashes.size());
  model.AppendTo(&out);
  PutFixed32(&out, static_cast<uint32_t>(hashes.size()));
  for (const BlockHash& h : hashes) h.AppendTo(&out);
  return out;
}

Status ParseMatch(std::string_view payload, ModelId* model, std::vector<BlockHash>* hashes) {
  LeReader r(payload);
  std::string_view m;
  uint32_t count = 0;
  if (!r.ReadBytes(Hash128::kEncodedSize, &m) || !r.Read32(&count)) {
    return Malformed("match", "truncated header");
  }
  if (count > kMaxMatchHashes || r.remaining() != uint64_t{count} * Hash128::kEncodedSize) {
    return Malformed("match", "count " + std::to_string(count) + " does not match " +
                                  std::to_string(r.remaining()) + " bytes of hashes");
  }
  *model = Hash128::DecodeFrom(m.data());
  hashes->clear();
  hashes->reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view h;
    r.ReadBytes(Hash128::kEncodedSize, &h);
    hashes->push_back(Hash128::DecodeFrom(h.data()));
  }
  return Status::OK();
}

std::string U32Payload(uint32_t value) {
  std::string out;
  PutFixed32(&out, value);
  return out;
}

Status ParseU32(std::string_view payload, uint32_t* value) {
  if (payload.size() != 4) return Malformed("match-ok", "expected 4 bytes");
  *value = DecodeFixed32(payload.data());
  return Status::OK();
}

std::string KeyPayload(const ModelId& model, const BlockHash& hash, std::string_view tail) {
  std::string out;
  out.reserve(32 + tail.size());
  model.AppendTo(&out);
  hash.AppendTo(&out);
  out.append(tail.data(), tail.size());
  return out;
}

Status ParseKey(std::string_view payload, ModelId* model, BlockHash* hash, std::string_view* tail) {
  if (payload.size() < 2 * Hash128::kEncodedSize) return Malformed("get/put", "key truncated");
  *model = Hash128::DecodeFrom(payload.data());
  *hash = Hash128::DecodeFrom(payload.data() + Hash128::kEncodedSize);
  *tail = payload.substr(2 * Hash128::kEncodedSize);
  return Status::OK();
}

std::string LogitsKeyPayload(const LogitsKey& key, std::string_view record) {
  std::string out;
  key.model.AppendTo(&out);
  key.parent.AppendTo(&out);
  key.tail.AppendTo(&out);
  out.append(record.data(), record.size());
  return out;
}

Status ParseLogitsKey(std::string_view payload, LogitsKey* key, std::string_view* record) {
  if (payload.size() < 3 * Hash128::kEncodedSize) {
    return Malformed("get-logits/put-logits", "key truncated");
  }
  key->model = Hash128::DecodeFrom(payload.data());
  key->parent = Hash128::DecodeFrom(payload.data() + Hash128::kEncodedSize);
  key->tail = Hash128::DecodeFrom(payload.data() + 2 * Hash128::kEncodedSize);
  *record = payload.substr(3 * Hash128::kEncodedSize);
  return Status::OK();
}

std::string ModelPayload(const ModelId& model, std::string_view tail) {
  std::string out;
  model.AppendTo(&out);
  out.append(tail.data(), tail.size());
  return out;
}

Status ParseModel(std::string_view payload, ModelId* model, std::string_view* tail) {
  if (payload.size() < Hash128::kEncodedSize) return Malformed("register", "model truncated");
  *model = Hash128::DecodeFrom(payload.data());
  *tail = payload.substr(Hash128::kEncodedSize);
  return Status::OK();
}

std::string ErrorPayload(const Status& status) {
  std::string out;
  PutFixed8(&out, static_cast<uint8_t>(status.code()));
  out += status.message();
  return out;
}

Status ParseError(std::string_view payload) {
  if (payload.empty()) return Status::IOError("peer sent an empty error frame");
  const auto code = static_cast<uint8_t>(payload[0]);
  const std::string msg = "peer: " + std::string(payload.substr(1));
  switch (static_cast<Status::Code>(code)) {
    case Status::Code::kNotFound:
      return Status::NotFound(msg);
    case Status::Code::kCorruption:
      return Status::Corruption(msg);
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(msg);
    case Status::Code::kNotSupported:
      return Status::NotSupported(msg);
    case Status::Code::kBusy:
      return Status::Busy(msg);
    case Status::Code::kAborted:
      return Status::Aborted(msg);
    case Status::Code::kResourceExhausted:
      return Status::ResourceExhausted(msg);
    default:
      return Status::IOError(msg);
  }
}

}  // namespace kvstash
