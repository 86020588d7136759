// kvstash inspect: one block in detail: its metadata and links, its token ids
// (and text, given the tokenizer), what its blob header says and whether it
// verifies, and per-layer statistics of its K and V. Works on a live store
// (it opens a read-only snapshot). A damaged block is shown as far as it
// reads, and the command exits 1.
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/tokenizer.h"
#include "gc/block_stats.h"
#include "store/disk_tier.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

// At most this many matches are listed for an ambiguous KEY.
constexpr size_t kMaxListedMatches = 10;

struct Key {
  std::optional<ModelId> model;
  std::string block;  // 1 to 32 hex digits: the block hash or a prefix of it
};

// "MODELHEX/BLOCKHEX" or "BLOCKHEX"; InvalidArgument otherwise.
Result<Key> ParseKey(const std::string& text) {
  const Status bad = Status::InvalidArgument(
      "bad KEY '" + text + "': expected MODEL/BLOCK or BLOCK, where MODEL is a 32-digit hex " +
      "model id and BLOCK a block hash or a prefix of it (hex digits)");
  Key key;
  std::string block = text;
  if (const size_t slash = text.find('/'); slash != std::string::npos) {
    auto model = Hash128::FromHex(std::string_view(text).substr(0, slash));
    if (!model.ok()) return bad;
    key.model = *model;
    block = text.substr(slash + 1);
  }
  if (block.empty() || block.size() > 2 * Hash128::kEncodedSize ||
      block.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return bad;
  }
  key.block = block;
  return key;
}

std::string FormatTime(uint64_t unix_ms) {
  if (unix_ms == 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// For a terminal: control bytes escaped, everything else (UTF-8) as is.
std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string HashOrRoot(const BlockHash& h) {
  return h.IsZero() ? "(none: first block)" : h.ToHex();
}

nlohmann::json StatsJson(const TensorStats& s, const std::vector<uint32_t>& shape) {
  return {{"shape", shape}, {"elements", s.elements}, {"nonfinite", s.nonfinite}, {"min", s.min},
          {"max", s.max},   {"mean", s.mean},         {"abs_max", s.abs_max}};
}

std::vector<uint32_t> TensorShape(const BlockHeader& h) {
  return {h.shape.kv_heads, static_cast<uint32_t>(h.tokens.size()), h.shape.head_dim};
}

nlohmann::json ToJson(const BlockInspection& b, const std::optional<std::string>& description,
                      const std::vector<int32_t>& token_ids,
                      const std::optional<std::string>& text) {
  nlohmann::json j = {{"model_id", b.model.ToHex()}, {"block", b.hash.ToHex()}};
  j["description"] = description ? nlohmann::json(*description) : nlohmann::json();
  nlohmann::json children = nlohmann::json::array();
  for (const BlockHash& c : b.children) children.push_back(c.ToHex());
  j["children"] = children;
  if (b.meta) {
    const BlockMeta& m = *b.meta;
    j["meta"] = {{"parent", m.parent.ToHex()},
                 {"tokens", m.tokens.size()},
                 {"raw_bytes", m.raw_bytes},
                 {"stored_bytes", m.stored_bytes},
                 {"compression_ratio",
                  m.stored_bytes ? static_cast<double>(m.raw_bytes) / m.stored_bytes : 0.0},
                 {"codec", CodecName(m.codec)},
                 {"dtype", DTypeName(m.dtype)},
                 {"created_ms", m.created_ms},
                 {"last_access_ms", m.last_access_ms},
                 {"hits", m.hits}};
  } else {
    j["meta"] = nullptr;
  }
  j["token_ids"] = token_ids;
  if (text) j["text"] = *text;
  j["blob_bytes"] = b.blob_bytes;
  if (b.header) {
    const BlockHeader& h = *b.header;
    j["header"] = {{"version", h.version},
                   {"model", h.model.ToHex()},
                   {"hash", h.hash.ToHex()},
                   {"parent", h.parent.ToHex()},
                   {"layers", h.shape.layers},
                   {"kv_heads", h.shape.kv_heads},
                   {"head_dim", h.shape.head_dim},
                   {"tokens", h.tokens.size()},
                   {"dtype", DTypeName(h.shape.dtype)},
                   {"codec", CodecName(h.codec)},
                   {"level", h.level},
                   {"plane_chunk_bytes", h.plane_chunk_bytes},
                   {"raw_bytes", h.raw_bytes},
                   {"payload_bytes", h.payload_bytes}};
  } else {
    j["header"] = nullptr;
    if (!b.header_error.empty()) j["header_error"] = b.header_error;
  }
  j["checksum_ok"] = b.checksum_ok ? nlohmann::json(*b.checksum_ok) : nlohmann::json();
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < b.layers.size(); ++l) {
    const auto shape = TensorShape(*b.header);
    layers.push_back({{"layer", l},
                      {"k", StatsJson(b.layers[l].k, shape)},
                      {"v", StatsJson(b.layers[l].v, shape)}});
  }
  j["layers"] = layers;
  j["ok"] = b.ok();
  j["problems"] = b.problems;
  return j;
}

void PrintHuman(const BlockInspection& b, const std::optional<std::string>& description,
                const std::vector<int32_t>& token_ids, const std::optional<std::string>& text) {
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("block        %s\n", b.hash.ToHex().c_str());
  std::printf("model        %s  %s\n", b.model.ToHex().c_str(),
              description ? description->c_str() : "(unregistered)");
  if (b.meta) {
    const BlockMeta& m = *b.meta;
    std::printf("parent       %s\n", HashOrRoot(m.parent).c_str());
  }
  std::printf("children     %zu", b.children.size());
  for (const BlockHash& c : b.children) std::printf("  %s", c.ToHex().c_str());
  std::printf("\n");
  if (b.meta) {
    const BlockMeta& m = *b.meta;
    std::printf("tokens       %zu\n", m.tokens.size());
    std::printf("size         raw %s, stored %s (%.2fx), codec %s, dtype %s\n",
                HumanBytes(m.raw_bytes).c_str(), HumanBytes(m.stored_bytes).c_str(),
                m.stored_bytes ? static_cast<double>(m.raw_bytes) / m.stored_bytes : 0.0,
                CodecName(m.codec), DTypeName(m.dtype));
    std::printf("created      %s\n", FormatTime(m.created_ms).c_str());
    std::printf("last access  %s\n", FormatTime(m.last_access_ms).c_str());
    std::printf("hits         %llu\n", u(m.hits));
  } else {
    std::printf("meta         (none)\n");
  }
  std::string ids;
  for (size_t i = 0; i < token_ids.size(); ++i)
    ids += (i ? " " : "") + std::to_string(token_ids[i]);
  std::printf("token ids    %s\n", ids.c_str());
  if (text) std::printf("text         \"%s\"\n", Printable(*text).c_str());

  std::printf("blob         %s\n", b.blob_present ? HumanBytes(b.blob_bytes).c_str() : "(none)");
  if (b.header) {
    const BlockHeader& h = *b.header;
    std::printf("header       format v%u; model %s; block %s\n", h.version, h.model.ToHex().c_str(),
                h.hash.ToHex().c_str());
    std::printf("             parent %s\n", HashOrRoot(h.parent).c_str());
    std::printf("             %u layers x %u kv heads x %zu tokens x %u head dim, %s\n",
                h.shape.layers, h.shape.kv_heads, h.tokens.size(), h.shape.head_dim,
                DTypeName(h.shape.dtype));
    std::printf("             codec %s level %d", CodecName(h.codec), h.level);
    if (h.codec == Codec::kZstdBytePlanes) std::printf(" chunk %u", h.plane_chunk_bytes);
    std::printf("; raw %llu bytes, payload %llu bytes\n", u(h.raw_bytes), u(h.payload_bytes));
  } else if (!b.header_error.empty()) {
    std::printf("header       unreadable: %s\n", b.header_error.c_str());
  }
  if (b.checksum_ok) {
    std::printf("checksum     %s\n", *b.checksum_ok ? "ok (xxh3-64 verifies)" : "MISMATCH");
  }
  if (!b.layers.empty()) {
    const auto shape = TensorShape(*b.header);
    char dims[64];
    std::snprintf(dims, sizeof(dims), "[%u, %u, %u]", shape[0], shape[1], shape[2]);
    std::printf("\n%5s %-3s %-16s %12s %12s %12s %12s\n", "LAYER", "KV", "SHAPE", "MIN", "MAX",
                "MEAN", "ABS-MAX");
    for (size_t l = 0; l < b.layers.size(); ++l) {
      for (int kv = 0; kv < 2; ++kv) {
        const TensorStats& s = kv == 0 ? b.layers[l].k : b.layers[l].v;
        std::printf("%5zu %-3s %-16s %12.6g %12.6g %12.6g %12.6g", l, kv == 0 ? "K" : "V", dims,
                    s.min, s.max, s.mean, s.abs_max);
        if (s.nonfinite) std::printf("  (%llu non-finite)", u(s.nonfinite));
        std::printf("\n");
      }
    }
  }
  if (!b.ok()) {
    std::printf("\nPROBLEMS\n");
    for (const std::string& p : b.problems) std::printf("  %s\n", p.c_str());
  }
}

struct Flags {
  std::string store, key, tokenizer, model_dir;
  bool json = false;
};

int Inspect(const Flags& f) {
  auto key = ParseKey(f.key);
  if (!key.ok()) {
    std::fprintf(stderr, "kvstash inspect: %s\n", key.status().message().c_str());
    return kExitUsage;
  }
  std::unique_ptr<Tokenizer> tokenizer;
  if (!f.tokenizer.empty() || !f.model_dir.empty()) {
    const std::string path = f.tokenizer.empty() ? f.model_dir + "/tokenizer.json" : f.tokenizer;
    auto loaded = Tokenizer::FromFile(path);
    if (!loaded.ok()) return Fail("inspect", loaded.status());
    tokenizer = std::move(loaded).value();
  }
  auto disk = OpenStoreReadOnly(f.store, "inspect");
  if (!disk.ok()) return Fail("inspect", disk.status());

  auto matches = FindBlocks(disk->get(), key->model, key->block);
  if (!matches.ok()) return Fail("inspect", matches.status());
  if (matches->empty()) {
    return Fail("inspect",
                Status::NotFound("no block matches '" + f.key + "' in " + (*disk)->path()));
  }
  if (matches->size() > 1) {
    std::fprintf(stderr,
                 "kvstash inspect: '%s' is ambiguous: %zu blocks match; give MODEL/BLOCK:\n",
                 f.key.c_str(), matches->size());
    for (size_t i = 0; i < matches->size() && i < kMaxListedMatches; ++i) {
      std::fprintf(stderr, "  %s/%s\n", (*matches)[i].first.ToHex().c_str(),
                   (*matches)[i].second.ToHex().c_str());
    }
    if (matches->size() > kMaxListedMatches) {
      std::fprintf(stderr, "  ... and %zu more\n", matches->size() - kMaxListedMatches);
    }
    return kExitFailure;
  }
  const auto [model, hash] = matches->front();
  auto inspected = InspectBlock(disk->get(), model, hash);
  if (!inspected.ok()) return Fail("inspect", inspected.status());
  const BlockInspection& b = *inspected;

  std::optional<std::string> description;
  std::optional<ModelDescription> parsed;
  if (auto text = (*disk)->GetModel(model); text.ok()) {
    if (auto d = ModelDescription::FromCanonicalText(*text); d.ok()) {
      description = d->Summary();
      parsed = std::move(d).value();
    }
  }
  std::vector<int32_t> token_ids;
  if (b.meta) {
    token_ids = b.meta->tokens;
  } else if (b.header) {
    token_ids = b.header->tokens;
  }
  std::optional<std::string> text;
  if (tokenizer) {
    text = tokenizer->Decode(token_ids);
    if (parsed && !parsed->tokenizer_digest.empty() &&
        parsed->tokenizer_digest != tokenizer->digest().ToHex()) {
      std::fprintf(stderr,
                   "kvstash inspect: warning: this tokenizer is not the one model %s was stored "
                   "with; the text may be wrong\n",
                   model.ToHex().c_str());
    }
  }

  if (f.json) {
    PrintJson(ToJson(b, description, token_ids, text));
  } else {
    PrintHuman(b, description, token_ids, text);
  }
  if (!b.ok()) {
    std::string why = b.problems.front();
    if (b.problems.size() > 1) why += " (and " + std::to_string(b.problems.size() - 1) + " more)";
    return Fail("inspect", Status::Corruption("block " + hash.ToHex() + " is damaged: " + why));
  }
  return kExitOk;
}

}  // namespace

void AddInspectCommand(CLI::App& app, Action* action) {
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show one stored block: metadata, header, K/V");
  cmd->add_option("KEY", flags->key, "MODEL/BLOCK or BLOCK (hex; BLOCK may be a prefix)")
      ->required();
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  auto* tok = cmd->add_option("--tokenizer", flags->tokenizer, "tokenizer.json to show the text");
  auto* dir = cmd->add_option("--model-dir", flags->model_dir,
                              "Model directory whose tokenizer.json shows the text");
  tok->excludes(dir);
  cmd->add_flag("--json", flags->json, "Print one JSON document");
  cmd->callback([flags, action] { *action = [flags] { return Inspect(*flags); }; });
}

}  // namespace kvstash::cli
