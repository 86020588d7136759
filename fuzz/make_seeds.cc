// Writes the seed corpora of the fuzzers (fuzz/corpus/<target>/) with the
// real encoders, so every seed is a valid input the fuzzer mutates from.
// Deterministic: the same sources write the same bytes.
//
// Usage: kvstash_fuzz_seeds DIR   (normally fuzz/corpus; files are replaced)
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tokenizer_maker.h"
#include "serde/block_codec.h"
#include "serde/block_meta.h"
#include "serde/le_coding.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/wire.h"

namespace kvstash {
namespace {

std::string g_root;

void Die(const std::string& what) {
  std::fprintf(stderr, "kvstash_fuzz_seeds: %s\n", what.c_str());
  std::exit(1);
}

void Check(const Status& s) {
  if (!s.ok()) Die(s.ToString());
}

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = g_root + "/" + target;
  ::mkdir(g_root.c_str(), 0755);
  ::mkdir(dir.c_str(), 0755);
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) Die("cannot write " + dir + "/" + name);
}

std::string Control(uint8_t control, const std::string& bytes) {
  return std::string(1, static_cast<char>(control)) + bytes;
}

ModelDescription Description() {
  ModelDescription d;
  d.architecture = "Qwen2ForCausalLM";
  d.num_layers = 2;
  d.hidden_size = 64;
  d.num_heads = 4;
  d.num_kv_heads = 2;
  d.head_dim = 16;
  d.vocab_size = 16;
  d.rope_theta = 1000000.0;
  d.kv_dtype = DType::kBF16;
  d.block_tokens = 4;
  d.tokenizer_digest = "9c5ae00e602b8860cbd784ba82a8aa14";
  d.weights_digest = "0123456789abcdef0123456789abcdef";
  d.extra = {{"attn_impl", "sdpa"}};
  return d;
}

// KV-like raw bytes: small values with structure, so zstd has work to do.
std::string RawBytes(size_t n, uint32_t seed) {
  std::string raw(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    raw[i] = static_cast<char>((i % 2) ? 0x3f + ((x >> 16) & 1) : (x >> 24));
  }
  return raw;
}

struct Block {
  BlockHeader header;
  std::string raw;
};

Block MakeBlock(const ModelId& model, const BlockHash& parent, std::vector<int32_t> tokens,
                BlockShape shape, uint32_t seed) {
  Block b;
  b.header.model = model;
  b.header.parent = parent;
  b.header.tokens = std::move(tokens);
  b.header.hash = ComputeBlockHash(model, parent, b.header.tokens.data(), b.header.tokens.size());
  b.header.shape = shape;
  b.raw = RawBytes(shape.RawBytes(b.header.tokens.size()), seed);
  return b;
}

std::string Encode(const Block& b, Codec codec, int level = 1, uint32_t chunk = 0) {
  BlockCodec codec_impl;
  EncodeOptions options;
  options.codec = codec;
  options.level = level;
  options.plane_chunk_bytes = chunk;
  std::string blob;
  Check(codec_impl.Encode(b.header, b.raw, options, &blob));
  return blob;
}

std::string LogitsRecord(const LogitsKey& key, uint32_t vocab) {
  std::vector<float> logits(vocab);
  for (uint32_t i = 0; i < vocab; ++i) logits[i] = static_cast<float>(i) * -0.37f + 1e-3f;
  std::string record;
  EncodeLogitsRecord(key, logits.data(), vocab, &record);
  return record;
}

void BlockCodecSeeds(const ModelId& model) {
  const BlockShape f32{1, 1, 8, DType::kF32};
  const BlockShape bf16{2, 2, 16, DType::kBF16};
  const BlockShape f16{1, 2, 8, DType::kF16};
  Block a = MakeBlock(model, kRootBlockHash, {1, 2, 3, 4}, f32, 1);
  Block b = MakeBlock(model, a.header.hash, {5, 6, 7, 8}, bf16, 2);
  Block c = MakeBlock(model, kRootBlockHash, {-1, 0, 2147483647}, f16, 3);
  // Control 0: checksum as written; 1: recomputed by the harness. Higher
  // bits pick the scatter split.
  Write("block_codec", "f32-none", Control(0x00, Encode(a, Codec::kNone)));
  Write("block_codec", "f32-zstd", Control(0x11, Encode(a, Codec::kZstd)));
  Write("block_codec", "bf16-zstd", Control(0x00, Encode(b, Codec::kZstd, 3)));
  Write("block_codec", "bf16-planes", Control(0x2b, Encode(b, Codec::kZstdBytePlanes)));
  Write("block_codec", "bf16-planes-small-chunks",
        Control(0x47, Encode(b, Codec::kZstdBytePlanes, -1, 64)));
  Write("block_codec", "f16-planes", Control(0x01, Encode(c, Codec::kZstdBytePlanes, 1, 6)));
  Write("block_codec", "f16-none", Control(0x0d, Encode(c, Codec::kNone)));
}

void WireSeeds(const ModelId& model, const std::string& description_text) {
  // Control: bit 0 recompute trailers; bits 1-4 = n, payload limit 2^(4+n).
  const uint8_t kLimit64K = 12 << 1;
  const BlockShape shape{2, 2, 16, DType::kBF16};
  Block a = MakeBlock(model, kRootBlockHash, {1, 2, 3, 4}, shape, 1);
  const std::string blob = Encode(a, Codec::kZstdBytePlanes);
  const LogitsKey key{model, a.header.hash, BlockHash{7, 8}};
  const std::string record = LogitsRecord(key, 16);

  const std::string hello = EncodeFrame(FrameType::kHello, 1, HelloPayload(kWireVersion, "s3cret"));
  const std::string match =
      EncodeFrame(FrameType::kMatch, 2, MatchPayload(model, {a.header.hash, BlockHash{9, 9}}));
  const std::string get = EncodeFrame(FrameType::kGet, 3, KeyPayload(model, a.header.hash));
  const std::string put = EncodeFrame(FrameType::kPut, 4, KeyPayload(model, a.header.hash, blob));
  const std::string reg =
      EncodeFrame(FrameType::kRegister, 5, ModelPayload(model, description_text));
  const std::string get_logits = EncodeFrame(FrameType::kGetLogits, 6, LogitsKeyPayload(key));
  const std::string put_logits =
      EncodeFrame(FrameType::kPutLogits, 7, LogitsKeyPayload(key, record));
  const std::string stats = EncodeFrame(FrameType::kStats, 8, {});

  Write("wire", "client-session",
        Control(kLimit64K, hello + match + get + put + reg + get_logits + put_logits + stats));
  Write("wire", "put", Control(kLimit64K | 1, put));
  Write("wire", "register", Control(kLimit64K | 1, reg));
  Write("wire", "put-logits", Control(kLimit64K | 1, put_logits));
  Write(
      "wire", "server-replies",
      Control(kLimit64K,
              EncodeFrame(FrameType::kHelloOk, 1, HelloOkPayload(kWireVersion, 64u << 20)) +
                  EncodeFrame(FrameType::kMatchOk, 2, U32Payload(1)) +
                  EncodeFrame(FrameType::kGetOk, 3, blob) + EncodeFrame(FrameType::kPutOk, 4, {}) +
                  EncodeFrame(FrameType::kGetLogitsOk, 6, record) +
                  EncodeFrame(FrameType::kStatsOk, 8, "{\"requests\":8}")));
  Write("wire", "error",
        Control(kLimit64K | 1, EncodeFrame(FrameType::kError, 9,
                                           ErrorPayload(Status::NotFound("no block 0011")))));
  // A small limit: the hello fits, the put does not.
  Write("wire", "over-limit", Control(6 << 1, hello + put));

  // The server fuzzer's control: bit 0 sends a hello (empty token) first,
  // bit 1 recomputes the frames' trailers.
  Write("server", "session",
        Control(0x01, reg + put + match + get + put_logits + get_logits + stats));
  Write("server", "put-fixed-trailers", Control(0x03, reg + put + get));
  Write("server", "before-hello", Control(0x00, put + hello));
}

void LogitsSeeds(const ModelId& model) {
  // Control bit 1: verify against the key the record names.
  const LogitsKey key{model, BlockHash{3, 4}, BlockHash{5, 6}};
  Write("logits_record", "vocab16", Control(0x02, LogitsRecord(key, 16)));
  Write("logits_record", "vocab1-fixed-sum", Control(0x03, LogitsRecord(key, 1)));
  Write("logits_record", "wrong-key", Control(0x00, LogitsRecord(key, 4)));
}

void BlockMetaSeeds() {
  BlockMeta m;
  m.parent = BlockHash{0x1122334455667788ull, 0x99aabbccddeeff00ull};
  m.tokens = {1, 2, 3, 4};
  m.codec = Codec::kZstdBytePlanes;
  m.dtype = DType::kBF16;
  m.raw_bytes = 4096;
  m.stored_bytes = 2900;
  m.created_ms = 1700000000000ull;
  m.last_access_ms = 1700000005000ull;
  m.hits = 7;
  Write("block_meta", "bf16-planes", m.Encode());
  m.tokens = {-5};
  m.codec = Codec::kNone;
  m.dtype = DType::kF32;
  Write("block_meta", "one-token", m.Encode());
}

void DescriptionSeeds(const std::string& text) {
  Write("model_description", "qwen-like", text);
  ModelDescription d = Description();
  d.architecture = "LlamaForCausalLM";
  d.rope_scaling =
      "{\"factor\":8.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
      "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}";
  d.kv_dtype = DType::kF32;
  d.tag = "prod-eu";
  d.extra.clear();
  Result<std::string> llama = d.ToCanonicalText();
  Check(llama.status());
  Write("model_description", "llama3-scaling", *llama);
}

void TokenizerSeeds() {
  const std::string text = "Hello, world! 12345 caf\xc3\xa9 <|im_start|>user\nhi there<|im_end|>";
  const std::string made = MakeByteLevelBpeJson(
      "the quick brown fox jumps over the lazy dog; the dog sleeps. 2024-01-01 caf\xc3\xa9", 48,
      {"<|im_start|>", "<|im_end|>"});
  Write("tokenizer", "made-nfc-split", made + std::string(1, '\0') + text);
  Write("tokenizer", "made-default-text", made);
  // Lossless pipeline (no normalizer): Decode(Encode(x)) == x is checked.
  nlohmann::json lossless = nlohmann::json::parse(made);
  lossless["normalizer"] = nullptr;
  Write("tokenizer", "made-no-normalizer",
        lossless.dump() + std::string(1, '\0') + text + std::string("\xff\x00\x01 ok \xe2\x82", 9));
  // The 256 byte tokens in GPT-2's alphabet and nothing else.
  Write("tokenizer", "bytes-only", MakeByteLevelBpeJson("", 0, {}));
  const std::string hand = R"({
  "version": "1.0",
  "added_tokens": [
    {"id": 5, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
     "normalized": false, "special": true},
    {"id": 6, "content": "hi", "single_word": true, "lstrip": false, "rstrip": false,
     "normalized": true, "special": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": true},
    {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": false},
    {"type": "Split", "pattern": {"Regex": "\\p{L}+"}, "behavior": "Contiguous", "invert": true},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
  ]},
  "post_processor": null,
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": true,
            "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
            "merges": [["a", "b"], "Ġ ab"]}
})";
  Write("tokenizer", "hand-sequence", hand + std::string(1, '\0') + "ab ab<s>hi ab");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void SafetensorsSeeds() {
  char pattern[] = "/tmp/kvstash-seeds-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) Die("mkdtemp failed");
  const std::string dir = pattern;
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const uint16_t h[4] = {0x3c00, 0x4000, 0x4200, 0x4400};
  const std::string path = dir + "/model.safetensors";
  Check(WriteSafetensors(path,
                         {{"model.embed_tokens.weight", DType::kF32, {2, 3}, w, sizeof(w)},
                          {"model.norm.weight", DType::kF16, {4}, h, sizeof(h)},
                          {"scalar", DType::kBF16, {}, h, 2},
                          {"empty", DType::kF32, {0, 3}, w, 0}},
                         {{"format", "pt"}}));
  // Control 0: the bytes are a .safetensors file.
  Write("safetensors", "four-tensors", Control(0, ReadFile(path)));
  // A tensor of a dtype kvstash does not compute with (I64), written by hand.
  std::string header = R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                       R"("f8":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[16,19]}})";
  std::string file(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(n >> (8 * i));
  file += header + std::string(19, '\x01');
  Write("safetensors", "other-dtypes", Control(0, file));
  // Control 1: the bytes are model.safetensors.index.json beside shards
  // a.safetensors (w.a, w.scalar) and b.safetensors (w.b).
  Write("safetensors", "index",
        Control(1, R"({"metadata": {"total_size": 26}, "weight_map": {"w.a": "a.safetensors",)"
                   R"( "w.scalar": "a.safetensors", "w.b": "b.safetensors"}})"));
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

// A pack as ExportPack writes it (docs/format.md, section 8), written here
// so the seeds need no store: v1 without logits records, v2 with.
std::string Pack(const ModelId& model, const std::string& description,
                 const std::vector<std::pair<const Block*, std::string>>& blocks,
                 const std::vector<std::pair<LogitsKey, std::string>>& logits) {
  std::string out("KVSP", 4);
  PutFixed16(&out, logits.empty() ? 1 : 2);
  PutFixed32(&out, static_cast<uint32_t>(description.size()));
  out += description;
  model.AppendTo(&out);
  PutFixed64(&out, blocks.size());
  for (const auto& [block, blob] : blocks) {
    block->header.hash.AppendTo(&out);
    block->header.parent.AppendTo(&out);
    PutFixed64(&out, blob.size());
    out += blob;
  }
  if (!logits.empty()) {
    PutFixed64(&out, logits.size());
    for (const auto& [key, record] : logits) {
      key.parent.AppendTo(&out);
      key.tail.AppendTo(&out);
      PutFixed64(&out, record.size());
      out += record;
    }
  }
  PutFixed64(&out, Xxh3Hash64(out.data(), out.size()));
  return out;
}

void PackSeeds(const ModelId& model, const std::string& description) {
  const BlockShape shape{2, 2, 16, DType::kBF16};  // Description()'s
  Block a = MakeBlock(model, kRootBlockHash, {1, 2, 3, 4}, shape, 1);
  Block b = MakeBlock(model, a.header.hash, {5, 6, 7, 8}, shape, 2);
  Block c = MakeBlock(model, a.header.hash, {5, 6, 9}, shape, 3);
  const std::string blob_a = Encode(a, Codec::kZstdBytePlanes);
  const std::string blob_b = Encode(b, Codec::kZstd);
  const std::string blob_c = Encode(c, Codec::kNone);
  // Control bit 0: recompute the pack's trailing checksum.
  Write("pack", "v1-chain",
        Control(0, Pack(model, description, {{&a, blob_a}, {&b, blob_b}, {&c, blob_c}}, {})));
  const LogitsKey key{model, a.header.hash, c.header.hash};
  Write("pack", "v2-logits",
        Control(1, Pack(model, description, {{&a, blob_a}, {&c, blob_c}},
                        {{key, LogitsRecord(key, 16)}})));
}

void ModelConfigSeeds() {
  Write("model_config", "qwen2", R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
  "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
  "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true,
  "sliding_window": 32768, "use_sliding_window": false, "bos_token_id": 151643,
  "eos_token_id": 151643, "torch_dtype": "bfloat16", "hidden_act": "silu"
})");
  Write("model_config", "llama3", R"({
  "architectures": ["LlamaForCausalLM"], "vocab_size": 128256, "hidden_size": 2048,
  "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
  "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072,
  "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "attention_bias": false,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "eos_token_id": [128001, 128008, 128009], "bos_token_id": 128000, "torch_dtype": "float16"
})");
  Write("model_config", "mistral", R"({"model_type": "mistral", "vocab_size": 32000,
  "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
  "num_attention_heads": 32, "num_key_value_heads": 8, "sliding_window": 4096,
  "rope_scaling": null, "torch_dtype": "float32"})");
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  using namespace kvstash;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR   (normally fuzz/corpus)\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  const ModelDescription description = Description();
  Result<std::string> text = description.ToCanonicalText();
  Check(text.status());
  Result<ModelId> model = description.Fingerprint();
  Check(model.status());

  BlockCodecSeeds(*model);
  WireSeeds(*model, *text);
  LogitsSeeds(*model);
  BlockMetaSeeds();
  DescriptionSeeds(*text);
  TokenizerSeeds();
  SafetensorsSeeds();
  ModelConfigSeeds();
  PackSeeds(*model, *text);
  return 0;
}
