// Writing a store as kvstash before layout 2 did ("layout 1": child links
// kept as model | parent | hash -> "" in a `children` family, no layout
// record; docs/format.md section 5 at commit 319df75), with raw RocksDB, so
// tests can open one with today's code. Header-only; tests only.
#ifndef KVSTASH_TESTS_STORE_LEGACY_STORE_H_
#define KVSTASH_TESTS_STORE_LEGACY_STORE_H_

#include <ATen/ATen.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "serde/block_meta.h"
#include "serde/logits_record.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/kv_tensors.h"
#include "tests/store/store_test_util.h"

namespace kvstash::testing {

// One prompt of a legacy store: its tokens, the MakeKv seed of its KV, and
// whether a logits record follows it (kept only for prompts longer than one
// block, as Store::InsertLogits does).
struct LegacyPrompt {
  std::vector<int32_t> tokens;
  uint64_t seed = 1;
  bool logits = false;
  // created_ms and last_access_ms of the prompt's blocks (a block shared by
  // several prompts gets the time of the last one). 0: 1'700'000'000'000.
  uint64_t access_ms = 0;
};

// What a legacy store holds.
struct LegacyStoreContents {
  ModelId model;
  // Every block written, by hash: parent and tokens.
  std::map<BlockHash, std::pair<BlockHash, std::vector<int32_t>>> blocks;
  std::vector<std::pair<LogitsKey, std::vector<float>>> logits;
};

// The logits a legacy prompt's record holds: deterministic in the prompt's
// tokens and the vocabulary size.
inline std::vector<float> LegacyLogitsValues(const std::vector<int32_t>& tokens, uint32_t vocab) {
  std::vector<float> v(vocab);
  uint64_t x = tokens.size();
  for (int32_t t : tokens) x = x * 6364136223846793005ull + static_cast<uint32_t>(t) + 1;
  for (uint32_t i = 0; i < vocab; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = static_cast<float>(static_cast<int64_t>((x >> 33) % 20001) - 10000) / 100.0f;
  }
  return v;
}

// The key of a layout-1 child link: model | parent | child.
inline std::string LegacyChildKey(const ModelId& model, const BlockHash& parent,
                                  const BlockHash& child) {
  std::string key;
  model.AppendTo(&key);
  parent.AppendTo(&key);
  child.AppendTo(&key);
  return key;
}

// model | hash: a block's key in `blocks` and `meta`.
inline std::string LegacyBlockKey(const ModelId& model, const BlockHash& hash) {
  std::string key;
  model.AppendTo(&key);
  hash.AppendTo(&key);
  return key;
}

// A layout-2 child link's key (model | parent | tokens as big-endian u32),
// as docs/format.md section 5 describes it; written by hand to plant a
// half-done migration.
inline std::string Layout2LinkKey(const ModelId& model, const BlockHash& parent,
                                  const std::vector<int32_t>& tokens) {
  std::string key = LegacyBlockKey(model, parent);
  for (int32_t token : tokens) {
    const uint32_t t = static_cast<uint32_t>(token);
    key.push_back(static_cast<char>(t >> 24));
    key.push_back(static_cast<char>(t >> 16));
    key.push_back(static_cast<char>(t >> 8));
    key.push_back(static_cast<char>(t));
  }
  return key;
}

// Writes a layout-1 store at `path` (created; it must not hold a store yet)
// holding `prompts` of `description`'s model: every block of each prompt
// (blocks of description.block_tokens tokens, the last possibly shorter),
// encoded from MakeKv(description, tokens, tokens.size(), seed), with its
// meta, its child link in `children`, the model's registry entry, and the
// logits records asked for. The families' options are those of kvstash
// before layout 2 (blob files for `blocks`, a 32-byte prefix extractor for
// `children`).
inline Status WriteLegacyStore(const std::string& path, const ModelDescription& description,
                               const std::vector<LegacyPrompt>& prompts,
                               LegacyStoreContents* contents = nullptr,
                               const EncodeOptions& encode = EncodeOptions()) {
  auto text = description.ToCanonicalText();
  if (!text.ok()) return text.status();
  const ModelId model = Xxh3Hash128(*text);
  const BlockShape shape = ShapeOf(description);
  const size_t block_tokens = description.block_tokens;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  rocksdb::ColumnFamilyOptions blocks_cf;
  blocks_cf.enable_blob_files = true;
  blocks_cf.min_blob_size = 1024;
  blocks_cf.enable_blob_garbage_collection = true;
  rocksdb::ColumnFamilyOptions children_cf;
  children_cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(2 * Hash128::kEncodedSize));
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"blocks", blocks_cf},
      {"meta", rocksdb::ColumnFamilyOptions()},
      {"children", children_cf},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, families, &handles, &raw);
  if (!s.ok()) return Status::IOError("open legacy store " + path + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* blocks = handles[1];
  rocksdb::ColumnFamilyHandle* meta = handles[2];
  rocksdb::ColumnFamilyHandle* children = handles[3];
  auto close = [&] {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    handles.clear();
    return db->Close();
  };
  auto fail = [&](Status why) {
    (void)close();
    return why;
  };

  LegacyStoreContents out;
  out.model = model;
  std::string model_key = "model/";
  model.AppendTo(&model_key);
  s = db->Put(rocksdb::WriteOptions(), model_key, *text);
  if (!s.ok()) return fail(Status::IOError("register model: " + s.ToString()));

  BlockCodec codec;
  for (const LegacyPrompt& prompt : prompts) {
    const std::vector<int32_t>& tokens = prompt.tokens;
    const uint64_t now = prompt.access_ms ? prompt.access_ms : 1'700'000'000'000ull;
    const KvCacheView kv = MakeKv(description, tokens, tokens.size(), prompt.seed);
    BlockHash parent = kRootBlockHash, grandparent = kRootBlockHash;
    for (size_t pos = 0; pos < tokens.size(); pos += block_tokens) {
      const size_t n = std::min(block_tokens, tokens.size() - pos);
      const BlockHash hash = ComputeBlockHash(model, parent, tokens.data() + pos, n);
      auto block = GatherBlock(kv, shape, pos, n, c10::Device("cpu"));
      if (!block.ok()) return fail(block.status());
      const at::Tensor cpu = block->contiguous();
      BlockHeader header;
      header.model = model;
      header.hash = hash;
      header.parent = parent;
      header.shape = shape;
      header.tokens.assign(tokens.begin() + pos, tokens.begin() + pos + n);
      std::string blob;
      Status encoded = codec.Encode(
          header, std::string_view(static_cast<const char*>(cpu.data_ptr()), cpu.nbytes()), encode,
          &blob);
      if (!encoded.ok()) return fail(encoded);
      BlockMeta m;
      m.parent = parent;
      m.tokens = header.tokens;
      m.codec = encode.codec;
      m.dtype = shape.dtype;
      m.raw_bytes = shape.RawBytes(n);
      m.stored_bytes = blob.size();
      m.created_ms = now;
      m.last_access_ms = now;
      // One batch per block, as DiskTier::PutBlocks wrote it.
      rocksdb::WriteBatch batch;
      const std::string key = LegacyBlockKey(model, hash);
      batch.Put(blocks, key, blob);
      batch.Put(meta, key, m.Encode());
      batch.Put(children, LegacyChildKey(model, parent, hash), rocksdb::Slice());
      s = db->Write(rocksdb::WriteOptions(), &batch);
      if (!s.ok()) return fail(Status::IOError("write block: " + s.ToString()));
      out.blocks[hash] = {parent, header.tokens};
      grandparent = parent;
      parent = hash;
    }
    if (prompt.logits && tokens.size() > block_tokens) {
      // parent: the block before the prompt's last; tail: the last.
      LogitsKey key{model, grandparent, parent};
      std::vector<float> values = LegacyLogitsValues(tokens, description.vocab_size);
      std::string record;
      EncodeLogitsRecord(key, values.data(), description.vocab_size, &record);
      std::string db_key = "logits/";
      model.AppendTo(&db_key);
      key.parent.AppendTo(&db_key);
      key.tail.AppendTo(&db_key);
      s = db->Put(rocksdb::WriteOptions(), db_key, record);
      if (!s.ok()) return fail(Status::IOError("write logits: " + s.ToString()));
      out.logits.emplace_back(key, std::move(values));
    }
  }
  rocksdb::FlushOptions flush;
  s = db->Flush(flush, handles);
  if (!s.ok()) return fail(Status::IOError("flush legacy store: " + s.ToString()));
  s = close();
  if (!s.ok()) return Status::IOError("close legacy store: " + s.ToString());
  if (contents) *contents = std::move(out);
  return Status::OK();
}

}  // namespace kvstash::testing

#endif  // KVSTASH_TESTS_STORE_LEGACY_STORE_H_
