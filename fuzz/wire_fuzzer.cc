// Feeds the peer protocol's frame reader and every payload parser a byte
// stream, as `kvstash serve` reads it from a client (and a client from the
// server), and then what the server does with a request before it touches
// the disk: a put's blob checked against its key and its hash recomputed, a
// put-logits record verified against its key, a register's description
// parsed and fingerprinted.
//
// Input: control byte | frames... Control bit 0: recompute each frame's
// trailer before checking it. Bits 1-4: the payload limit the reader is given
// (2^(4 + n) bytes), so both sides of the limit are reached.
//
// Properties: nothing crashes, leaks or hits UB; a header error is
// InvalidArgument, NotSupported or ResourceExhausted (the codes the server
// answers with before closing); a frame whose checksum holds re-encodes
// byte-identically (EncodeFrame); every payload that parses re-encodes
// byte-identically; an error frame always parses to a non-OK Status whose
// code is the one sent (IOError for codes a peer may not send).
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "serde/block_codec.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/wire.h"

namespace kvstash::fuzz {
namespace {

// What Server::Impl::HandlePut checks before writing.
void ServerChecksPut(const ModelId& model, const BlockHash& hash, std::string_view blob) {
  Result<BlockHeader> header = ParseBlockHeader(blob, /*verify_checksum=*/true);
  if (!header.ok()) {
    FUZZ_CHECK_ERROR(header.status(), Code::kCorruption, Code::kNotSupported);
    return;
  }
  if (header->model != model || header->hash != hash) return;
  (void)ComputeBlockHash(model, header->parent, header->tokens.data(), header->tokens.size());
}

// What Server::Impl::HandleRegister checks before writing.
void ServerChecksRegister(std::string_view text) {
  Result<ModelDescription> description = ModelDescription::FromCanonicalText(text);
  if (!description.ok()) {
    FUZZ_CHECK_ERROR(description.status(), Code::kCorruption);
    return;
  }
  Result<ModelId> fingerprint = description->Fingerprint();
  FUZZ_CHECK_MSG(fingerprint.ok(), fingerprint.status().ToString());
}

void CheckPayload(FrameType type, std::string_view payload) {
  switch (type) {
    case FrameType::kHello: {
      uint16_t version = 0;
      std::string token;
      if (ParseHello(payload, &version, &token).ok()) {
        FUZZ_CHECK(HelloPayload(version, token) == payload);
      }
      break;
    }
    case FrameType::kHelloOk: {
      uint16_t version = 0;
      uint32_t max_frame = 0;
      if (ParseHelloOk(payload, &version, &max_frame).ok()) {
        FUZZ_CHECK(HelloOkPayload(version, max_frame) == payload);
      }
      break;
    }
    case FrameType::kMatch: {
      ModelId model;
      std::vector<BlockHash> hashes;
      Status s = ParseMatch(payload, &model, &hashes);
      if (s.ok()) {
        FUZZ_CHECK(hashes.size() <= kMaxMatchHashes);
        FUZZ_CHECK(MatchPayload(model, hashes) == payload);
      } else {
        FUZZ_CHECK_ERROR(s, Code::kInvalidArgument);
      }
      break;
    }
    case FrameType::kMatchOk: {
      uint32_t present = 0;
      if (ParseU32(payload, &present).ok()) FUZZ_CHECK(U32Payload(present) == payload);
      break;
    }
    case FrameType::kGet:
    case FrameType::kPut: {
      ModelId model;
      BlockHash hash;
      std::string_view tail;
      Status s = ParseKey(payload, &model, &hash, &tail);
      if (!s.ok()) {
        FUZZ_CHECK_ERROR(s, Code::kInvalidArgument);
        break;
      }
      FUZZ_CHECK(KeyPayload(model, hash, tail) == payload);
      if (type == FrameType::kPut) ServerChecksPut(model, hash, tail);
      break;
    }
    case FrameType::kGetOk: {
      // The client checks a served blob like one read from its own disk.
      Result<BlockHeader> header = ParseBlockHeader(payload, /*verify_checksum=*/true);
      if (!header.ok()) FUZZ_CHECK_ERROR(header.status(), Code::kCorruption, Code::kNotSupported);
      break;
    }
    case FrameType::kRegister: {
      ModelId model;
      std::string_view text;
      Status s = ParseModel(payload, &model, &text);
      if (!s.ok()) {
        FUZZ_CHECK_ERROR(s, Code::kInvalidArgument);
        break;
      }
      FUZZ_CHECK(ModelPayload(model, text) == payload);
      ServerChecksRegister(text);
      break;
    }
    case FrameType::kGetLogits:
    case FrameType::kPutLogits: {
      LogitsKey key;
      std::string_view record;
      Status s = ParseLogitsKey(payload, &key, &record);
      if (!s.ok()) {
        FUZZ_CHECK_ERROR(s, Code::kInvalidArgument);
        break;
      }
      FUZZ_CHECK(LogitsKeyPayload(key, record) == payload);
      if (type == FrameType::kPutLogits) {
        Result<uint32_t> vocab = VerifyLogitsRecord(record, key);
        if (!vocab.ok()) FUZZ_CHECK_ERROR(vocab.status(), Code::kCorruption, Code::kNotSupported);
      }
      break;
    }
    case FrameType::kError: {
      Status s = ParseError(payload);
      FUZZ_CHECK(!s.ok());
      if (!payload.empty()) {
        const uint8_t sent = static_cast<uint8_t>(payload[0]);
        const bool may_send = sent >= static_cast<uint8_t>(Code::kNotFound) &&
                              sent <= static_cast<uint8_t>(Code::kResourceExhausted);
        FUZZ_CHECK(static_cast<uint8_t>(s.code()) ==
                   (may_send ? sent : static_cast<uint8_t>(Code::kIOError)));
        FUZZ_CHECK(s.message() == "peer: " + std::string(payload.substr(1)));
      }
      break;
    }
    default:
      break;  // no payload to parse (put-ok, stats, ...)
  }
}

}  // namespace
}  // namespace kvstash::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvstash;
  using namespace kvstash::fuzz;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const uint32_t max_payload = 1u << (4 + ((control >> 1) & 15));
  std::string stream(AsView(data + 1, size - 1));
  size_t pos = 0;
  while (stream.size() - pos >= kFrameHeaderSize) {
    char* header = stream.data() + pos;
    Result<FrameHeader> h = DecodeFrameHeader(header, max_payload);
    if (!h.ok()) {
      // The server answers with an error frame and closes.
      FUZZ_CHECK_ERROR(h.status(), Code::kInvalidArgument, Code::kNotSupported,
                       Code::kResourceExhausted);
      break;
    }
    FUZZ_CHECK(h->payload_len <= max_payload);
    const size_t frame_size = kFrameHeaderSize + size_t{h->payload_len} + kFrameTrailerSize;
    if (stream.size() - pos < frame_size) break;  // the peer hung up mid-frame
    if (control & 1) {
      std::string frame = stream.substr(pos, frame_size);
      FixTrailingChecksum(&frame);
      stream.replace(pos, frame_size, frame);
      header = stream.data() + pos;
    }
    const std::string_view payload(header + kFrameHeaderSize, h->payload_len);
    Status checksum =
        VerifyFrameChecksum(header, payload, header + kFrameHeaderSize + payload.size());
    if (!checksum.ok()) {
      FUZZ_CHECK_ERROR(checksum, Code::kCorruption);
      break;
    }
    FUZZ_CHECK(EncodeFrame(h->type, h->request_id, payload) ==
               std::string_view(header, frame_size));
    CheckPayload(h->type, payload);
    pos += frame_size;
  }
  return 0;
}
