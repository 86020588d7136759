// Block codec throughput on synthetic, attention-like KV, side by side with
// its floors and references measured in the same run: memcpy, xxh3-64 and
// "zstd alone" (one-shot ZSTD_compress / ZSTD_decompress per block, same
// level), plus the `zstd -b` CLI on the same bytes when it is on PATH.
//
// Data: bench/synthetic_kv.h (Qwen2.5-0.5B block shape, log-normal channel
// scales, K outlier channels); bf16 is f32 rounded to nearest even.
//
// Timing: every case runs once untimed (and its output is verified), then
// --rounds rounds in which every case runs once, interleaved, so machine
// noise hits all cases alike; the median round is reported. MB = 1e6 bytes
// of raw (uncompressed) data, as `zstd -b` counts.
//
// Usage: kvstash_codec_bench [--blocks N] [--rounds N] [--json] [--no-cli]
//   --json prints one JSON document on stdout (the table goes to stderr).
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "bench/synthetic_kv.h"
#include "serde/block_codec.h"
#include "serde/hash128.h"

namespace kvstash {
namespace {

using bench::F32ToBf16;
using bench::kHeadDim;
using bench::kKvHeads;
using bench::kLayers;
using bench::kTokens;
using bench::Rng;
using Clock = std::chrono::steady_clock;

struct Case {
  std::string name;
  std::function<void()> pass;     // one timed pass over every block
  std::function<bool()> prepare;  // untimed, before the first pass (may be empty)
  std::function<bool()> verify;   // untimed, after the first pass (may be empty)
  std::vector<double> mbps;
  double Median() const {
    std::vector<double> v = mbps;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

// One line of the table: indices into DtypeRun::cases (-1: none).
struct Row {
  std::string label;
  int level = 0;
  uint64_t out_bytes = 0;
  int enc = -1, dec = -1, rows = -1, tok = -1, ref_enc = -1, ref_dec = -1;
};

void Fail(const std::string& what) {
  std::fprintf(stderr, "codec_bench: %s\n", what.c_str());
  std::exit(1);
}

// Pool layouts of an engine's KV cache; block i lives in slot slot[i].
//  rows: [layers][2][heads][slots][tokens][head_dim]: 96 ranges of tokens*head_dim per block.
//  tok:  [layers][2][slots][tokens][heads][head_dim] (vLLM flash layout): 6144 ranges of head_dim.
ScatterMap EngineMap(char* cache, size_t es, uint32_t slot, uint32_t slots, bool token_major) {
  ScatterMap map;
  const uint64_t row = uint64_t{kTokens} * kHeadDim * es, vec = uint64_t{kHeadDim} * es;
  for (uint64_t lkv = 0; lkv < kLayers * 2; ++lkv) {
    for (uint64_t h = 0; h < kKvHeads; ++h) {
      const uint64_t raw = (lkv * kKvHeads + h) * row;
      if (!token_major) {
        map.push_back({raw, cache + ((lkv * kKvHeads + h) * slots + slot) * row, row});
        continue;
      }
      for (uint64_t t = 0; t < kTokens; ++t) {
        map.push_back({raw + t * vec,
                       cache + (((lkv * slots + slot) * kTokens + t) * kKvHeads + h) * vec, vec});
      }
    }
  }
  return map;
}

struct DtypeRun {
  DType dtype;
  uint64_t block_bytes = 0, total_bytes = 0;
  std::vector<Case> cases;
  std::vector<Row> rows;
  std::string cli_command, cli_output;
};

// Writes `data` to a temp file and runs the zstd CLI benchmark on it, per block.
std::string RunCli(const std::string& data, uint64_t block_bytes, std::string* command) {
  char path[] = "/tmp/kvstash_codec_bench_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return "(mkstemp failed)\n";
  const bool ok = write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  close(fd);
  std::string out;
  *command = "zstd -b1 -e3 -i1 -B" + std::to_string(block_bytes) + " " + path;
  FILE* p = ok ? popen((*command + " 2>&1").c_str(), "r") : nullptr;
  if (p) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    pclose(p);
  }
  unlink(path);
  // What a terminal shows: '\r' returns to column 0 and later text overwrites.
  std::string shown, line;
  size_t col = 0;
  for (char c : out) {
    if (c == '\r') {
      col = 0;
    } else if (c == '\n') {
      line.erase(line.find_last_not_of(' ') + 1);
      shown += line + "\n";
      line.clear(), col = 0;
    } else {
      if (col < line.size())
        line[col] = c;
      else
        line += c;
      ++col;
    }
  }
  return shown + line;
}

// zstd-planes (codec 2) with a zstd block boundary at every plane (ZSTD_e_flush), so
// each plane gets its own literal Huffman table. Same format, one frame: `prefix`
// is the header BlockCodec writes for these options; BlockCodec decodes the result.
void EncodeFlushPlanes(const std::string& prefix, std::string_view raw, size_t es, int level,
                       uint32_t chunk, std::string* out) {
  static ZSTD_CCtx* cctx = ZSTD_createCCtx();
  static std::string planes;
  planes.resize(raw.size());
  for (size_t off = 0; off < raw.size(); off += chunk) {
    const size_t n = std::min<size_t>(chunk, raw.size() - off) / es;
    for (size_t j = 0; j < es; ++j) {
      for (size_t i = 0; i < n; ++i) planes[off + j * n + i] = raw[off + i * es + j];
    }
  }
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setPledgedSrcSize(cctx, raw.size());
  *out = prefix;
  out->resize(prefix.size() + ZSTD_compressBound(raw.size()) + 64 * es * (raw.size() / chunk + 1));
  ZSTD_outBuffer ob{out->data() + prefix.size(), out->size() - prefix.size(), 0};
  for (size_t off = 0; off < raw.size(); off += chunk) {
    const size_t len = std::min<size_t>(chunk, raw.size() - off), n = len / es;
    for (size_t j = 0; j < es; ++j) {
      ZSTD_inBuffer ib{planes.data() + off + j * n, n, 0};
      const bool last = off + len == raw.size() && j == es - 1;
      size_t left;
      do {
        left = ZSTD_compressStream2(cctx, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_flush);
        if (ZSTD_isError(left)) Fail(ZSTD_getErrorName(left));
      } while (left != 0);
    }
  }
  out->resize(prefix.size() + ob.pos);
  const uint64_t payload = ob.pos;
  for (int b = 0; b < 8; ++b) (*out)[kBlockFixedHeaderSize - 8 + b] = char(payload >> (8 * b));
  const uint64_t sum = Xxh3Hash64(out->data(), out->size());
  for (int b = 0; b < 8; ++b) out->push_back(char(sum >> (8 * b)));
}

DtypeRun RunDtype(DType dtype, const std::vector<float>& kv, uint32_t blocks, int rounds,
                  bool cli) {
  DtypeRun run;
  run.dtype = dtype;
  const size_t es = DTypeSize(dtype);
  BlockHeader header;
  header.shape = {kLayers, kKvHeads, kHeadDim, dtype};
  header.tokens.resize(kTokens);
  for (uint32_t t = 0; t < kTokens; ++t) header.tokens[t] = static_cast<int32_t>(1000 + t);
  const uint64_t B = run.block_bytes = header.shape.RawBytes(kTokens);
  const uint64_t total = run.total_bytes = B * blocks;

  std::string raw(total, '\0');
  for (size_t i = 0; i < total / es; ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(&raw[4 * i], &kv[i], 4);
    } else {
      const uint16_t v = F32ToBf16(kv[i]);
      std::memcpy(&raw[2 * i], &v, 2);
    }
  }
  auto block = [&](uint32_t i) { return std::string_view(raw).substr(i * B, B); };
  std::string dst(total, '\1'), cache(total, '\1');  // touched destinations
  std::vector<uint32_t> slot(blocks);
  for (uint32_t i = 0; i < blocks; ++i) slot[i] = i;
  Rng rng(7);
  for (uint32_t i = blocks; i > 1; --i) std::swap(slot[i - 1], slot[rng.Next() % i]);
  std::vector<ScatterMap> whole(blocks), rows(blocks), tok(blocks);
  for (uint32_t i = 0; i < blocks; ++i) {
    whole[i] = {{0, dst.data() + i * B, B}};
    rows[i] = EngineMap(cache.data(), es, slot[i], blocks, false);
    tok[i] = EngineMap(cache.data(), es, slot[i], blocks, true);
  }
  auto clear = [&] {
    std::memset(dst.data(), 0, total);
    std::memset(cache.data(), 0, total);
    return true;
  };
  auto verify = [&](const std::vector<ScatterMap>& maps) {
    return [&, m = &maps] {
      for (uint32_t i = 0; i < blocks; ++i) {
        for (const ScatterRange& r : (*m)[i]) {
          if (std::memcmp(r.dst, raw.data() + i * B + r.raw_offset, r.size) != 0) return false;
        }
      }
      return true;
    };
  };
  auto add = [&](std::string name, std::function<void()> pass, std::function<bool()> prep = {},
                 std::function<bool()> check = {}) {
    run.cases.push_back({std::move(name), std::move(pass), std::move(prep), std::move(check), {}});
    return static_cast<int>(run.cases.size()) - 1;
  };

  // Floors: plain copies of the same bytes into the same (touched) layouts, and the checksum.
  auto copy_to = [&](const std::vector<ScatterMap>& maps) {
    return [&, m = &maps] {
      for (uint32_t i = 0; i < blocks; ++i) {
        for (const ScatterRange& r : (*m)[i]) {
          std::memcpy(r.dst, raw.data() + i * B + r.raw_offset, r.size);
        }
      }
    };
  };
  add("memcpy", copy_to(whole), clear, verify(whole));
  add("memcpy-rows", copy_to(rows), clear, verify(rows));
  add("memcpy-tok", copy_to(tok), clear, verify(tok));
  static volatile uint64_t sink = 0;
  add("xxh3-64", [&] {
    for (uint32_t i = 0; i < blocks; ++i) sink = sink + XXH3_64bits(raw.data() + i * B, B);
  });

  // zstd alone: one frame per block, one-shot API (a context per call).
  std::map<int, std::pair<int, int>> ref;  // level -> (compress, decompress) case
  std::vector<std::vector<std::string>> zframes(3, std::vector<std::string>(blocks));
  for (int li = 0; li < 3; ++li) {
    const int level = li == 0 ? -1 : 2 * li - 1;  // -1, 1, 3
    auto compress = [&, li, level] {
      for (uint32_t i = 0; i < blocks; ++i) {
        std::string& f = zframes[li][i];
        f.resize(ZSTD_compressBound(B));
        size_t n = ZSTD_compress(f.data(), f.size(), raw.data() + i * B, B, level);
        if (ZSTD_isError(n)) Fail(ZSTD_getErrorName(n));
        f.resize(n);
      }
    };
    compress();
    Row r{"zstd alone", level};
    for (auto& f : zframes[li]) r.out_bytes += f.size();
    r.enc = add("zstd-alone compress " + std::to_string(level), compress);
    r.dec = add(
        "zstd-alone decompress " + std::to_string(level),
        [&, li] {
          for (uint32_t i = 0; i < blocks; ++i) {
            const std::string& f = zframes[li][i];
            if (ZSTD_decompress(dst.data() + i * B, B, f.data(), f.size()) != B) Fail("zstd alone");
          }
        },
        clear, verify(whole));
    ref[level] = {r.enc, r.dec};
    run.rows.push_back(r);
  }

  // The block codec. Plane chunk: zstd-planes the default (64 KiB); planes@aln
  // elem_size x 128 KiB, so each plane is exactly one zstd block; planes@blk the whole
  // block. planes+flush: default chunk, encoded by EncodeFlushPlanes.
  struct Spec {
    const char* label;
    Codec codec;
    int level;
    uint32_t chunk;
    bool flush = false;
  };
  const uint32_t kDefChunk = EncodeOptions().plane_chunk_bytes, kBlk = static_cast<uint32_t>(B);
  const uint32_t kAln = static_cast<uint32_t>(es * ZSTD_BLOCKSIZE_MAX);
  const Spec specs[] = {{"none", Codec::kNone, 0, 0},
                        {"zstd", Codec::kZstd, -1, 0},
                        {"zstd", Codec::kZstd, 1, 0},
                        {"zstd", Codec::kZstd, 3, 0},
                        {"zstd-planes", Codec::kZstdBytePlanes, -1, kDefChunk},
                        {"zstd-planes", Codec::kZstdBytePlanes, 1, kDefChunk},
                        {"zstd-planes", Codec::kZstdBytePlanes, 3, kDefChunk},
                        {"planes@aln", Codec::kZstdBytePlanes, 1, kAln},
                        {"planes@aln", Codec::kZstdBytePlanes, 3, kAln},
                        {"planes@blk", Codec::kZstdBytePlanes, 1, kBlk},
                        {"planes+flush", Codec::kZstdBytePlanes, 1, kDefChunk, true}};
  static BlockCodec codec;  // one per thread, reused as the library intends
  std::vector<std::vector<std::string>> blobs(std::size(specs), std::vector<std::string>(blocks));
  std::vector<std::string> scratch(blocks);
  for (size_t s = 0; s < std::size(specs); ++s) {
    EncodeOptions eo;
    eo.codec = specs[s].codec, eo.level = specs[s].level;
    if (specs[s].chunk) eo.plane_chunk_bytes = specs[s].chunk;
    Row r{specs[s].label, specs[s].level};
    std::string prefix;  // the header, for EncodeFlushPlanes
    if (!codec.Encode(header, block(0), eo, &prefix).ok()) Fail("encode");
    prefix.resize(kBlockFixedHeaderSize + 4 * kTokens);
    auto encode = [&, eo, flush = specs[s].flush, prefix](uint32_t i, std::string* out) {
      if (flush)
        return EncodeFlushPlanes(prefix, block(i), es, eo.level, eo.plane_chunk_bytes, out);
      if (!codec.Encode(header, block(i), eo, out).ok()) Fail("encode");
    };
    for (uint32_t i = 0; i < blocks; ++i) {
      encode(i, &blobs[s][i]);
      r.out_bytes += blobs[s][i].size();
    }
    const std::string name = r.label + " " + std::to_string(r.level) + " ";
    r.enc = add(name + "encode", [&, encode] {
      for (uint32_t i = 0; i < blocks; ++i) encode(i, &scratch[i]);
    });
    auto decode = [&, s](const std::vector<ScatterMap>& maps) {
      return [&, s, m = &maps] {
        for (uint32_t i = 0; i < blocks; ++i) {
          auto d = codec.Decode(blobs[s][i], (*m)[i]);
          if (!d.ok()) Fail(d.status().ToString());
        }
      };
    };
    r.dec = add(name + "decode", decode(whole), clear, verify(whole));
    r.rows = add(name + "decode-rows", decode(rows), clear, verify(rows));
    r.tok = add(name + "decode-tok", decode(tok), clear, verify(tok));
    if (specs[s].codec == Codec::kNone) {
      r.ref_dec = 0;  // memcpy
    } else {
      std::tie(r.ref_enc, r.ref_dec) = ref[r.level];
    }
    run.rows.push_back(r);
  }

  for (Case& c : run.cases) {  // untimed first pass, checked
    if (c.prepare) c.prepare();
    c.pass();
    if (c.verify && !c.verify()) Fail("wrong output from " + c.name);
  }
  for (int r = 0; r < rounds; ++r) {
    for (Case& c : run.cases) {
      auto t0 = Clock::now();
      c.pass();
      c.mbps.push_back(total / std::chrono::duration<double>(Clock::now() - t0).count() / 1e6);
    }
  }
  if (cli) run.cli_output = RunCli(raw, B, &run.cli_command);
  return run;
}

void PrintTable(FILE* f, const DtypeRun& run, uint32_t blocks, int rounds) {
  auto med = [&](int i) { return i < 0 ? 0.0 : run.cases[i].Median(); };
  std::fprintf(f,
               "\n=== %s: %u blocks x %llu B = %.1f MB raw (%ux2x%ux%ux%u per block); median of "
               "%d interleaved rounds ===\n",
               DTypeName(run.dtype), blocks, static_cast<unsigned long long>(run.block_bytes),
               run.total_bytes / 1e6, kLayers, kKvHeads, kTokens, kHeadDim, rounds);
  std::fprintf(f, "floors MB/s: memcpy %.0f, memcpy-rows %.0f, memcpy-tok %.0f, xxh3-64 %.0f\n",
               med(0), med(1), med(2), med(3));
  std::fprintf(f, "%-12s %3s %6s %8s %8s %8s %8s %6s %6s %6s %6s\n", "codec", "lvl", "ratio",
               "enc MB/s", "dec MB/s", "dec-rows", "dec-tok", "enc/Z", "dec/Z", "rows/Z", "tok/Z");
  for (const Row& r : run.rows) {
    const bool none = r.label == "none";
    std::fprintf(f, "%-12s %3s %6.3f %8.0f %8.0f", r.label.c_str(),
                 none ? "-" : std::to_string(r.level).c_str(),
                 none ? 1.0 : double(run.total_bytes) / r.out_bytes, med(r.enc), med(r.dec));
    if (r.rows < 0) {
      std::fprintf(f, " %8s %8s\n", "-", "-");
      continue;
    }
    std::fprintf(f, " %8.0f %8.0f ", med(r.rows), med(r.tok));
    if (r.ref_enc >= 0) {
      std::fprintf(f, "%6.2f", med(r.enc) / med(r.ref_enc));
    } else {
      std::fprintf(f, "%6s", "-");
    }
    const double z = med(r.ref_dec);
    std::fprintf(f, " %6.2f %6.2f %6.2f\n", med(r.dec) / z, med(r.rows) / z, med(r.tok) / z);
  }
  std::vector<double> spread;  // (max - min) / median per case
  for (const Case& c : run.cases) {
    auto [lo, hi] = std::minmax_element(c.mbps.begin(), c.mbps.end());
    spread.push_back((*hi - *lo) / c.Median());
  }
  std::sort(spread.begin(), spread.end());
  std::fprintf(f,
               "ratio = raw / encoded (blob incl. header + checksum). X/Z = X / zstd-alone at the "
               "same level (none: / memcpy).\ndec: whole block into one buffer; rows: 96 ranges "
               "of %llu B per block; tok: %u ranges of %llu B (vLLM-style token-major pages).\n"
               "noise: (max-min)/median across rounds: median case %.0f%%, worst case %.0f%%\n",
               static_cast<unsigned long long>(run.block_bytes / (kLayers * 2 * kKvHeads)),
               kLayers * 2 * kKvHeads * kTokens,
               static_cast<unsigned long long>(kHeadDim * DTypeSize(run.dtype)),
               100 * spread[spread.size() / 2], 100 * spread.back());
  if (!run.cli_command.empty()) {
    std::fprintf(f, "reference: $ %s\n%s", run.cli_command.c_str(), run.cli_output.c_str());
  }
}

nlohmann::ordered_json ToJson(const DtypeRun& run) {
  nlohmann::ordered_json j;
  j["dtype"] = DTypeName(run.dtype);
  j["block_raw_bytes"] = run.block_bytes;
  j["total_raw_bytes"] = run.total_bytes;
  for (const Case& c : run.cases) {
    j["cases"].push_back({{"name", c.name}, {"median_mbps", c.Median()}, {"samples_mbps", c.mbps}});
  }
  for (const Row& r : run.rows) {
    auto med = [&](int i) {
      return i < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(run.cases[i].Median());
    };
    j["table"].push_back(
        {{"codec", r.label},
         {"level", r.level},
         {"ratio", r.label == "none" ? 1.0 : double(run.total_bytes) / r.out_bytes},
         {"encode_mbps", med(r.enc)},
         {"decode_mbps", med(r.dec)},
         {"decode_rows_mbps", med(r.rows)},
         {"decode_tok_mbps", med(r.tok)},
         {"reference_encode_mbps", med(r.ref_enc)},
         {"reference_decode_mbps", med(r.ref_dec)}});
  }
  if (!run.cli_command.empty()) {
    j["zstd_cli"] = {{"command", run.cli_command}, {"output", run.cli_output}};
  }
  return j;
}

}  // namespace
}  // namespace kvstash

int main(int argc, char** argv) {
  using namespace kvstash;
  uint32_t blocks = 64;
  int rounds = 5;
  bool json = false, cli = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--blocks" && i + 1 < argc) {
      blocks = static_cast<uint32_t>(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--json") {
      json = true;
    } else if (a == "--no-cli") {
      cli = false;
    } else {
      std::fprintf(stderr, "usage: %s [--blocks N] [--rounds N] [--json] [--no-cli]\n", argv[0]);
      return 2;
    }
  }
  if (cli && std::system("command -v zstd >/dev/null 2>&1") != 0) cli = false;
  FILE* table = json ? stderr : stdout;
  auto t0 = Clock::now();
  const std::vector<float> kv = bench::MakeKv(blocks);
  std::fprintf(table, "kvstash codec bench: libzstd %s, synthetic KV generated in %.1f s\n",
               ZSTD_versionString(), std::chrono::duration<double>(Clock::now() - t0).count());
  nlohmann::ordered_json doc;
  doc["libzstd"] = ZSTD_versionString();
  doc["blocks"] = blocks;
  doc["rounds"] = rounds;
  for (DType dtype : {DType::kBF16, DType::kF32}) {
    DtypeRun run = RunDtype(dtype, kv, blocks, rounds, cli);
    PrintTable(table, run, blocks, rounds);
    std::fflush(table);
    doc["runs"].push_back(ToJson(run));
  }
  std::fprintf(table, "total %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  if (json) std::printf("%s\n", doc.dump(2).c_str());
  return 0;
}
