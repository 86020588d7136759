// kvstash bench store: what the store's own machinery costs, on the KV of a
// real forward pass of the chosen model -- encode and decode throughput of
// every codec and level (with its compression ratio), the blob checksum, and
// whole blocks put to and got from the disk tier -- each next to its limit,
// measured in the same run on the same bytes: memcpy, xxh3-64, zstd alone
// (libzstd, one frame per block, same level), and one plain file written with
// fsync and read back with pread.
//
// Timing: every case runs once untimed and its output is checked (a wrong
// byte fails the bench), then --rounds rounds in which every case runs once,
// in turn, so machine noise hits all cases alike; the median round is
// reported. GB/s is 1e9 bytes per second of the bytes a case handles: raw KV
// for codec and load cases, stored blobs for checksum, put and get cases.
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "store/disk_tier.h"
#include "store/kv_tensors.h"
#include "tools/bench_util.h"

namespace kvstash::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct StoreFlags {
  BenchModelFlags model;
  size_t prompt_tokens = 2048;
  std::vector<int> levels = {-1, 1, 3};
  int rounds = 5;
  std::string dir;  // parent of the disk cases' files; default $TMPDIR
  bool json = false;
};

// The prompt's KV block by block, as the Store writes it.
struct KvBlocks {
  BlockShape shape;
  uint32_t block_tokens = 0;
  std::vector<BlockHeader> headers;  // identity, shape and tokens of each block
  std::vector<std::string> raw;      // raw bytes (block_codec.h) of each block
  uint64_t raw_bytes = 0;
};

// Prefills `prompt` with no store and gathers its KV into blocks.
Result<KvBlocks> ForwardPassBlocks(const LlamaModel& model, const std::vector<int32_t>& prompt) {
  KvBlocks kv;
  kv.block_tokens = EngineOptions().block_tokens;
  kv.shape = model.kv_shape();
  KVSTASH_ASSIGN_OR_RETURN(ModelId id, model.Describe(kv.block_tokens).Fingerprint());
  EngineOptions options;
  options.context = prompt.size() + 8;
  options.insert = false;
  KVSTASH_ASSIGN_OR_RETURN(auto engine, Engine::Create(&model, nullptr, options));
  KVSTASH_RETURN_IF_ERROR(engine->Prefill(prompt, nullptr).status());
  BlockHash parent = kRootBlockHash;
  for (size_t p0 = 0; p0 < prompt.size(); p0 += kv.block_tokens) {
    const size_t n = std::min<size_t>(kv.block_tokens, prompt.size() - p0);
    BlockHeader h;
    h.model = id;
    h.parent = parent;
    h.shape = kv.shape;
    h.tokens.assign(prompt.begin() + p0, prompt.begin() + p0 + n);
    h.hash = ComputeBlockHash(id, parent, h.tokens.data(), n);
    parent = h.hash;
    KVSTASH_ASSIGN_OR_RETURN(at::Tensor block,
                             GatherBlock(engine->cache(), kv.shape, p0, n, c10::Device("cpu")));
    kv.raw.emplace_back(static_cast<const char*>(block.data_ptr()), block.nbytes());
    kv.raw_bytes += block.nbytes();
    kv.headers.push_back(std::move(h));
  }
  return kv;
}

// One measured operation over every block.
struct Case {
  Case(std::string group_name, std::string case_name)
      : group(std::move(group_name)), name(std::move(case_name)) {}
  std::string group;  // "limit", "codec", "disk" or "load"
  std::string name;
  std::string codec;                // codec cases
  int level = 0;                    // codec cases
  uint64_t bytes = 0;               // bytes one pass handles
  double ratio = 0;                 // codec cases: raw bytes / blob bytes
  int limit = -1;                   // index of the case this one is measured against
  std::function<Status()> prepare;  // untimed, before every pass (may be empty)
  std::function<Status()> pass;
  std::function<Status()> check;  // untimed, after the first pass (may be empty)
  std::vector<double> gbps;       // one per round
};

struct ZstdContexts {
  ZstdContexts() : c(ZSTD_createCCtx()), d(ZSTD_createDCtx()) {}
  ZstdContexts(const ZstdContexts&) = delete;
  ZstdContexts& operator=(const ZstdContexts&) = delete;
  ~ZstdContexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
  ZSTD_CCtx* c;
  ZSTD_DCtx* d;
};

// Builds and owns every case and the buffers they use.
class StoreBench {
 public:
  StoreBench(const KvBlocks& kv, KvCacheView target, std::string dir, std::vector<int> levels)
      : kv_(kv), target_(std::move(target)), dir_(std::move(dir)), levels_(std::move(levels)) {}
  ~StoreBench() {
    put_tier_.reset();
    get_tier_.reset();
  }

  Status Build();
  std::vector<Case>& cases() { return cases_; }
  uint64_t blob_bytes() const { return blob_bytes_; }

 private:
  int Add(Case c) {
    cases_.push_back(std::move(c));
    return static_cast<int>(cases_.size()) - 1;
  }
  Status CheckFlat(const char* what) const;
  Status CheckTarget() const;
  void AddLimits();
  void AddCodec(Codec codec, int level);
  Status AddDisk();

  const KvBlocks& kv_;
  KvCacheView target_;  // an engine KV cache the load case decodes into
  const std::string dir_;
  std::vector<int> levels_;  // always holds the Store's default level
  std::vector<Case> cases_;
  std::vector<uint64_t> offsets_;  // of each block's raw bytes in flat_
  std::string flat_;               // every block's raw bytes, one after the other
  BlockCodec codec_;
  ZstdContexts zstd_;
  std::vector<int> compress_, decompress_;             // per level: "zstd alone" case
  std::vector<std::vector<std::string>> zstd_frames_;  // per level, per block
  std::vector<std::string> blobs_;                     // the Store's default encoding
  std::vector<DiskBlockWrite> writes_;                 // blobs_ as the Store writes them
  std::vector<ScatterMap> load_maps_;                  // block i -> its positions in target_
  uint64_t blob_bytes_ = 0;
  std::unique_ptr<DiskTier> put_tier_, get_tier_;
  std::string scratch_;
  uint64_t sink_ = 0;
};

Status StoreBench::CheckFlat(const char* what) const {
  for (size_t i = 0; i < kv_.raw.size(); ++i) {
    if (std::memcmp(flat_.data() + offsets_[i], kv_.raw[i].data(), kv_.raw[i].size()) != 0) {
      return Status::Corruption(std::string(what) + ": wrong bytes in block " + std::to_string(i));
    }
  }
  return Status::OK();
}

Status StoreBench::CheckTarget() const {
  for (size_t i = 0; i < kv_.raw.size(); ++i) {
    for (const ScatterRange& r : load_maps_[i]) {
      if (std::memcmp(r.dst, kv_.raw[i].data() + r.raw_offset, r.size) != 0) {
        return Status::Corruption("load: wrong KV at block " + std::to_string(i));
      }
    }
  }
  return Status::OK();
}

void StoreBench::AddLimits() {
  Case memcpy_case("limit", "memcpy");
  memcpy_case.bytes = kv_.raw_bytes;
  memcpy_case.pass = [this] {
    for (size_t i = 0; i < kv_.raw.size(); ++i) {
      std::memcpy(flat_.data() + offsets_[i], kv_.raw[i].data(), kv_.raw[i].size());
    }
    return Status::OK();
  };
  memcpy_case.prepare = [this] {
    std::memset(flat_.data(), 0, flat_.size());
    return Status::OK();
  };
  memcpy_case.check = [this] { return CheckFlat("memcpy"); };
  Add(std::move(memcpy_case));

  zstd_frames_.resize(levels_.size(), std::vector<std::string>(kv_.raw.size()));
  for (size_t li = 0; li < levels_.size(); ++li) {
    const int level = levels_[li];
    const std::string tag = "zstd L" + std::to_string(level);
    Case compress("limit", tag + " compress");
    compress.bytes = kv_.raw_bytes;
    compress.pass = [this, li, level] {
      for (size_t i = 0; i < kv_.raw.size(); ++i) {
        std::string& frame = zstd_frames_[li][i];
        frame.resize(ZSTD_compressBound(kv_.raw[i].size()));
        const size_t n = ZSTD_compressCCtx(zstd_.c, frame.data(), frame.size(), kv_.raw[i].data(),
                                           kv_.raw[i].size(), level);
        if (ZSTD_isError(n)) return Status::IOError(ZSTD_getErrorName(n));
        frame.resize(n);
      }
      return Status::OK();
    };
    compress_.push_back(Add(std::move(compress)));
    Case decompress("limit", tag + " decompress");
    decompress.bytes = kv_.raw_bytes;
    decompress.pass = [this, li] {
      for (size_t i = 0; i < kv_.raw.size(); ++i) {
        const std::string& frame = zstd_frames_[li][i];
        const size_t n = ZSTD_decompressDCtx(zstd_.d, flat_.data() + offsets_[i], kv_.raw[i].size(),
                                             frame.data(), frame.size());
        if (n != kv_.raw[i].size()) return Status::Corruption("zstd alone: bad frame");
      }
      return Status::OK();
    };
    decompress.check = [this] { return CheckFlat("zstd alone"); };
    decompress_.push_back(Add(std::move(decompress)));
  }
}

void StoreBench::AddCodec(Codec codec, int level) {
  EncodeOptions options;
  options.codec = codec;
  options.level = level;
  const bool none = codec == Codec::kNone;
  const size_t li = std::find(levels_.begin(), levels_.end(), level) - levels_.begin();
  const std::string tag =
      none ? "none" : std::string(CodecName(codec)) + " L" + std::to_string(level);
  auto blobs = std::make_shared<std::vector<std::string>>(kv_.raw.size());
  uint64_t stored = 0;
  for (size_t i = 0; i < kv_.raw.size(); ++i) {
    // Encoded once here for the ratio and the decode case; Encode cannot fail
    // on blocks gathered from the model's own shape.
    (void)codec_.Encode(kv_.headers[i], kv_.raw[i], options, &(*blobs)[i]);
    stored += (*blobs)[i].size();
  }
  Case encode("codec", tag + " encode");
  encode.codec = CodecName(codec);
  encode.level = level;
  encode.bytes = kv_.raw_bytes;
  encode.ratio = static_cast<double>(kv_.raw_bytes) / static_cast<double>(stored);
  encode.limit = none ? 0 : compress_[li];
  encode.pass = [this, options] {
    for (size_t i = 0; i < kv_.raw.size(); ++i) {
      KVSTASH_RETURN_IF_ERROR(codec_.Encode(kv_.headers[i], kv_.raw[i], options, &scratch_));
    }
    return Status::OK();
  };
  Case decode = encode;
  decode.name = tag + " decode";
  decode.limit = none ? 0 : decompress_[li];
  decode.pass = [this, blobs] {
    for (size_t i = 0; i < kv_.raw.size(); ++i) {
      const ScatterMap whole = {{0, flat_.data() + offsets_[i], kv_.raw[i].size()}};
      KVSTASH_RETURN_IF_ERROR(codec_.Decode((*blobs)[i], whole).status());
    }
    return Status::OK();
  };
  decode.prepare = cases_[0].prepare;  // clears flat_
  decode.check = [this] { return CheckFlat("decode"); };
  Add(std::move(encode));
  Add(std::move(decode));
}

Status StoreBench::AddDisk() {
  // Blobs as the Store writes them: default EncodeOptions, batches of at most
  // 16 MiB raw, one synced WAL write at the end (what Flush() does).
  const uint64_t now_ms = 0;
  for (size_t i = 0; i < kv_.raw.size(); ++i) {
    std::string blob;
    KVSTASH_RETURN_IF_ERROR(codec_.Encode(kv_.headers[i], kv_.raw[i], EncodeOptions(), &blob));
    KVSTASH_ASSIGN_OR_RETURN(BlockHeader header, ParseBlockHeader(blob));
    blobs_.push_back(blob);
    blob_bytes_ += blob.size();
    writes_.push_back(
        BlockWriteFromHeader(header.model, header.hash, header, std::move(blob), now_ms));
  }

  Case xxh3("limit", "xxh3-64");
  xxh3.bytes = blob_bytes_;
  xxh3.pass = [this] {
    for (const std::string& b : blobs_) sink_ += XXH3_64bits(b.data(), b.size());
    return Status::OK();
  };
  const int xxh3_case = Add(std::move(xxh3));
  Case verify("codec", "blob checksum verify");
  verify.bytes = blob_bytes_;
  verify.limit = xxh3_case;
  verify.pass = [this] {
    for (const std::string& b : blobs_) KVSTASH_RETURN_IF_ERROR(ParseBlockHeader(b).status());
    return Status::OK();
  };
  Add(std::move(verify));

  // Puts: a fresh file / tier directory before every pass.
  const std::string put_file = dir_ + "/put.blobs", put_dir = dir_ + "/put-tier";
  Case file_write("limit", "file write+fsync");
  file_write.bytes = blob_bytes_;
  file_write.prepare = [put_file] {
    std::error_code ec;
    std::filesystem::remove(put_file, ec);
    return Status::OK();
  };
  file_write.pass = [this, put_file] { return WriteFileSynced(put_file, blobs_); };
  const int file_write_case = Add(std::move(file_write));
  Case put("disk", "DiskTier put+sync");
  put.bytes = blob_bytes_;
  put.limit = file_write_case;
  put.prepare = [this, put_dir]() -> Status {
    put_tier_.reset();
    std::error_code ec;
    std::filesystem::remove_all(put_dir, ec);
    DiskTierOptions options;
    options.path = put_dir;
    KVSTASH_ASSIGN_OR_RETURN(put_tier_, DiskTier::Open(options));
    return Status::OK();
  };
  put.pass = [this] {
    std::vector<DiskBlockWrite> batch;
    uint64_t batch_raw = 0;
    for (const DiskBlockWrite& w : writes_) {
      if (!batch.empty() && batch_raw + w.meta.raw_bytes > (16u << 20)) {
        KVSTASH_RETURN_IF_ERROR(put_tier_->PutBlocks(batch, /*sync=*/false));
        batch.clear();
        batch_raw = 0;
      }
      batch.push_back(w);
      batch_raw += w.meta.raw_bytes;
    }
    KVSTASH_RETURN_IF_ERROR(put_tier_->PutBlocks(batch, /*sync=*/false));
    return put_tier_->SyncWal();
  };
  Add(std::move(put));

  // Gets: one file and one tier written once, read back warm (page cache
  // filled by the untimed pass) and cold (dropped before every pass).
  const std::string get_file = dir_ + "/get.blobs", get_dir = dir_ + "/get-tier";
  KVSTASH_RETURN_IF_ERROR(WriteFileSynced(get_file, blobs_));
  const std::string zstd_file = dir_ + "/get.zst";
  const size_t store_level =
      std::find(levels_.begin(), levels_.end(), EncodeOptions().level) - levels_.begin();
  auto reopen_get_tier = [this, get_dir]() -> Status {
    get_tier_.reset();
    DiskTierOptions options;
    options.path = get_dir;
    KVSTASH_ASSIGN_OR_RETURN(get_tier_, DiskTier::Open(options));
    return Status::OK();
  };
  KVSTASH_RETURN_IF_ERROR(reopen_get_tier());
  KVSTASH_RETURN_IF_ERROR(get_tier_->PutBlocks(writes_, /*sync=*/true));
  KVSTASH_RETURN_IF_ERROR(reopen_get_tier());  // reads come from files, not the memtable

  auto file_read = [this, get_file]() -> Status {
    return ReadParts(get_file, blobs_, &scratch_,
                     [](size_t, const std::string&) { return Status::OK(); });
  };
  auto tier_get = [this]() -> Status {
    for (const DiskBlockWrite& w : writes_) {
      KVSTASH_RETURN_IF_ERROR(get_tier_->GetBlob(w.model, w.hash, &scratch_));
      if (scratch_ != w.blob) return Status::Corruption("DiskTier get: wrong blob");
    }
    return Status::OK();
  };
  for (bool cold : {false, true}) {
    const std::string when = cold ? " (cold cache)" : " (warm)";
    Case read("limit", "file read" + when);
    read.bytes = blob_bytes_;
    read.pass = file_read;
    if (cold) {
      read.prepare = [get_file] {
        DropPageCache(get_file);
        return Status::OK();
      };
    }
    const int read_case = Add(std::move(read));
    Case get("disk", "DiskTier get" + when);
    get.bytes = blob_bytes_;
    get.limit = read_case;
    get.pass = tier_get;
    if (cold) {
      get.prepare = [reopen_get_tier, get_dir] {
        DropPageCache(get_dir);
        return reopen_get_tier();
      };
    }
    Add(std::move(get));
  }

  // Load: what a warm start does per block -- get the blob, verify and decode
  // it into the engine's KV cache -- next to reading zstd frames of the same
  // blocks (same level) from a file and decompressing them.
  {
    KVSTASH_RETURN_IF_ERROR(cases_[compress_[store_level]].pass());  // fills the frames
    KVSTASH_RETURN_IF_ERROR(WriteFileSynced(zstd_file, zstd_frames_[store_level]));
    Case read_decompress("limit", "file read + zstd L" + std::to_string(EncodeOptions().level) +
                                      " decompress (warm)");
    read_decompress.bytes = kv_.raw_bytes;
    read_decompress.prepare = cases_[0].prepare;
    read_decompress.pass = [this, zstd_file, store_level]() -> Status {
      return ReadParts(
          zstd_file, zstd_frames_[store_level], &scratch_,
          [this](size_t i, const std::string& frame) {
            const size_t n = ZSTD_decompressDCtx(zstd_.d, flat_.data() + offsets_[i],
                                                 kv_.raw[i].size(), frame.data(), frame.size());
            return n == kv_.raw[i].size() ? Status::OK()
                                          : Status::Corruption("zstd alone: bad frame");
          });
    };
    read_decompress.check = [this] { return CheckFlat("file read + zstd"); };
    const int limit = Add(std::move(read_decompress));
    Case load("load", "DiskTier get + decode into KV cache (warm)");
    load.bytes = kv_.raw_bytes;
    load.limit = limit;
    load.prepare = [this] {
      for (size_t l = 0; l < target_.keys.size(); ++l) {
        target_.keys[l].zero_();
        target_.values[l].zero_();
      }
      return Status::OK();
    };
    load.pass = [this]() -> Status {
      for (size_t i = 0; i < writes_.size(); ++i) {
        KVSTASH_RETURN_IF_ERROR(get_tier_->GetBlob(writes_[i].model, writes_[i].hash, &scratch_));
        KVSTASH_RETURN_IF_ERROR(codec_.Decode(scratch_, load_maps_[i]).status());
      }
      return Status::OK();
    };
    load.check = [this] { return CheckTarget(); };
    Add(std::move(load));
  }
  return Status::OK();
}

Status StoreBench::Build() {
  if (std::find(levels_.begin(), levels_.end(), EncodeOptions().level) == levels_.end()) {
    levels_.push_back(EncodeOptions().level);  // the disk and load cases use it
  }
  for (const std::string& r : kv_.raw) {
    offsets_.push_back(flat_.size());
    flat_.append(r.size(), '\1');  // touched: page faults are not what is measured
  }
  for (size_t i = 0; i < kv_.raw.size(); ++i) {
    const size_t n = kv_.headers[i].tokens.size();
    load_maps_.push_back(ViewScatterMap(target_, kv_.shape, n, i * kv_.block_tokens, n));
  }
  AddLimits();
  AddCodec(Codec::kNone, 0);
  for (Codec codec : {Codec::kZstd, Codec::kZstdBytePlanes}) {
    for (int level : levels_) AddCodec(codec, level);
  }
  return AddDisk();
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The untimed, checked pass of every case, then `rounds` interleaved rounds.
Status RunCases(std::vector<Case>& cases, int rounds) {
  for (Case& c : cases) {
    Status s = c.prepare ? c.prepare() : Status::OK();
    if (s.ok()) s = c.pass();
    if (s.ok() && c.check) s = c.check();
    if (!s.ok()) return Status::Aborted(c.name + ": " + s.ToString());
  }
  for (int r = 0; r < rounds; ++r) {
    for (Case& c : cases) {
      if (c.prepare) KVSTASH_RETURN_IF_ERROR(c.prepare());
      const auto t0 = Clock::now();
      Status s = c.pass();
      const double seconds = SecondsSince(t0);
      if (!s.ok()) return Status::Aborted(c.name + ": " + s.ToString());
      c.gbps.push_back(static_cast<double>(c.bytes) / std::max(seconds, 1e-9) / 1e9);
    }
  }
  return Status::OK();
}

nlohmann::ordered_json CaseJson(const std::vector<Case>& cases, const Case& c) {
  const double median = Median(c.gbps);
  nlohmann::ordered_json j = {{"group", c.group}, {"name", c.name}};
  if (!c.codec.empty()) {
    j["codec"] = c.codec;
    j["level"] = c.level;
    j["op"] = c.name.substr(c.name.rfind(' ') + 1);
  }
  j["gbps"] = median;
  j["gbps_min"] = *std::min_element(c.gbps.begin(), c.gbps.end());
  j["gbps_max"] = *std::max_element(c.gbps.begin(), c.gbps.end());
  j["bytes"] = c.bytes;
  if (c.ratio > 0) j["ratio"] = c.ratio;
  if (c.limit >= 0) {
    const Case& limit = cases[c.limit];
    j["limit"] = limit.name;
    j["limit_gbps"] = Median(limit.gbps);
    j["fraction"] = median / Median(limit.gbps);
  }
  return j;
}

void PrintCases(const std::vector<Case>& cases) {
  std::printf("%-6s %-44s %7s %13s %6s  %-36s %7s %8s\n", "group", "case", "GB/s", "min-max",
              "ratio", "limit", "GB/s", "fraction");
  for (const Case& c : cases) {
    const double median = Median(c.gbps);
    char range[32], ratio[16] = "";
    std::snprintf(range, sizeof(range), "%.3g-%.3g",
                  *std::min_element(c.gbps.begin(), c.gbps.end()),
                  *std::max_element(c.gbps.begin(), c.gbps.end()));
    if (c.ratio > 0) std::snprintf(ratio, sizeof(ratio), "%.3f", c.ratio);
    std::printf("%-6s %-44s %7.3f %13s %6s", c.group.c_str(), c.name.c_str(), median, range, ratio);
    if (c.limit >= 0) {
      const double limit = Median(cases[c.limit].gbps);
      std::printf("  %-36s %7.3f %7.2fx", cases[c.limit].name.c_str(), limit, median / limit);
    }
    std::printf("\n");
  }
}

int RunStore(const StoreFlags& f) {
  auto work = TempWorkDir(f.dir);  // the model (for --preset) and the disk cases' files
  if (!work.ok()) return Fail("bench", work.status());
  std::unique_ptr<LlamaModel> model;
  KvBlocks kv;
  std::unique_ptr<StoreBench> bench;
  Status status = [&]() -> Status {
    KVSTASH_ASSIGN_OR_RETURN(model, LoadBenchModel(f.model, *work));
    KVSTASH_ASSIGN_OR_RETURN(
        kv, ForwardPassBlocks(*model, BenchPrompt(f.prompt_tokens, model->config().vocab_size)));
    KVSTASH_ASSIGN_OR_RETURN(KvCacheView target, model->NewCache(f.prompt_tokens));
    bench = std::make_unique<StoreBench>(kv, std::move(target), *work, f.levels);
    KVSTASH_RETURN_IF_ERROR(bench->Build());
    return RunCases(bench->cases(), f.rounds);
  }();
  if (!status.ok()) {
    bench.reset();
    RemoveWorkDir(*work);
    return Fail("bench", status);
  }
  const std::vector<Case>& cases = bench->cases();
  const std::string dtype = DTypeName(model->kv_dtype());
  if (f.json) {
    nlohmann::ordered_json j = {{"model", BenchModelName(f.model)},
                                {"dtype", dtype},
                                {"compute_dtype", DTypeName(model->compute_dtype())},
                                {"threads", f.model.load.threads},
                                {"prompt_tokens", f.prompt_tokens},
                                {"block_tokens", kv.block_tokens},
                                {"blocks", kv.raw.size()},
                                {"raw_bytes", kv.raw_bytes},
                                {"blob_bytes", bench->blob_bytes()},
                                {"rounds", f.rounds},
                                {"libzstd", ZSTD_versionString()},
                                {"results", nlohmann::ordered_json::array()}};
    for (const Case& c : cases) j["results"].push_back(CaseJson(cases, c));
    PrintJson(j, 2);
  } else {
    std::printf(
        "model %s, %s: %zu tokens = %zu blocks, %s raw KV, %s stored (%.3fx); libzstd %s; "
        "median of %d rounds\n",
        BenchModelName(f.model).c_str(), dtype.c_str(), f.prompt_tokens, kv.raw.size(),
        HumanBytes(kv.raw_bytes).c_str(), HumanBytes(bench->blob_bytes()).c_str(),
        static_cast<double>(kv.raw_bytes) / static_cast<double>(bench->blob_bytes()),
        ZSTD_versionString(), f.rounds);
    PrintCases(cases);
  }
  bench.reset();
  RemoveWorkDir(*work);
  return kExitOk;
}

}  // namespace

void AddBenchStoreCommand(CLI::App& bench, Action* action) {
  auto f = std::make_shared<StoreFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "store", "Codec and disk tier throughput on real KV, next to memcpy, zstd and plain files");
  AddBenchModelFlags(cmd, &f->model);
  cmd->add_option("--prompt-tokens", f->prompt_tokens, "Prompt length whose KV is measured")
      ->check(CLI::Range(size_t{2}, size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--levels", f->levels, "zstd levels, comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(-7, 19))
      ->capture_default_str();
  cmd->add_option("--rounds", f->rounds, "Timed rounds (every case once per round)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--dir", f->dir, "Directory for the disk cases' files (default: $TMPDIR)");
  cmd->add_flag("--json", f->json, "Print one JSON document");
  cmd->callback([f, action] { *action = [f] { return RunStore(*f); }; });
}

}  // namespace kvstash::cli
