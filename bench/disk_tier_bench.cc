// DiskTier put/get throughput, BlobDB vs inline values, next to a plain-file
// baseline, all measured in one run.
//
// Blobs: synthetic bf16 KV (bench/synthetic_kv.h; 16 distinct blocks reused
// with distinct token ids, so every blob's header, hash and checksum differ),
// encoded by BlockCodec with the Store's default EncodeOptions (zstd over
// byte planes, level 1). Sequences of 1-8 blocks, the last one partial (8-64
// tokens), so sizes vary.
//
// Puts: --put-rounds rounds, each building every layout from scratch, one
// after the other. DiskTier::PutBlocks in batches of up to 16 MiB raw with
// sync=false, then SyncWal (what the Store's writer and Flush() do);
// baseline: one file per blob, write + fsync. Then close and reopen (which
// replays the WAL). A tuned writer (max_total_wal_size) is built and dropped.
// Gets: every blob once per pass, random (a fresh permutation) or sequential
// (write order). Warm: after an untimed pass (the first one verifies every
// byte); median of --rounds rounds, views interleaved. Cold: the view is
// closed and reopened, then every file of its directory gets fdatasync +
// posix_fadvise(POSIX_FADV_DONTNEED) (guest page cache only: a host cache
// under the VM may remain).
// The non-DiskTier views open the same RocksDB directories by hand with
// DiskTier::Open's options plus tunings, to show what changing Open would buy.
//
// Usage: kvstash_disk_tier_bench [--blocks N] [--dir PATH] [--rounds N]
//                                [--put-rounds N] [--cold-rounds N] [--json]
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/disk_views.h"
#include "bench/synthetic_kv.h"
#include "serde/block_codec.h"
#include "serde/block_hash.h"
#include "store/disk_tier.h"

namespace kvstash {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

using bench::Check;
using bench::DiskTierView;
using bench::RawView;
using bench::RocksView;
using bench::Tuning;
using bench::View;

// Blocks in write order, grouped in write batches.
struct Data {
  std::vector<std::vector<DiskBlockWrite>> batches;
  std::vector<const DiskBlockWrite*> blocks;
  uint64_t bytes = 0, raw_bytes = 0, min_size = ~0ull, max_size = 0;
};

Data MakeData(uint32_t n) {
  using namespace bench;
  const uint32_t kPool = 16;
  const size_t row = size_t{kTokens} * kHeadDim * 2, rows = size_t{kLayers} * 2 * kKvHeads;
  const std::vector<float> kv = MakeKv(kPool);
  std::vector<uint16_t> pool(kv.size());
  for (size_t i = 0; i < kv.size(); ++i) pool[i] = F32ToBf16(kv[i]);
  const ModelId model{0x6b7673746173680aull, 0x62656e6368ull};
  Data d;
  BlockCodec codec;
  Rng rng(3);
  uint64_t batch_raw = 0;
  BlockHash parent;
  std::string raw;
  for (uint32_t i = 0, left = 0; i < n; ++i) {
    if (left == 0) left = 1 + rng.Next() % 8, parent = kRootBlockHash;
    const uint32_t tokens = --left ? kTokens : 8 + rng.Next() % (kTokens - 7);
    BlockHeader h;
    h.model = model;
    h.parent = parent;
    h.shape = {kLayers, kKvHeads, kHeadDim, DType::kBF16};
    for (uint32_t t = 0; t < tokens; ++t) h.tokens.push_back(int32_t(rng.Next() >> 48));
    h.hash = ComputeBlockHash(model, parent, h.tokens.data(), tokens);
    raw.clear();  // the first `tokens` tokens of each (layer, K|V, head) row of a pool block
    const char* src = reinterpret_cast<const char*>(pool.data()) + (i % kPool) * rows * row;
    for (size_t r = 0; r < rows; ++r) raw.append(src + r * row, size_t{tokens} * kHeadDim * 2);
    DiskBlockWrite w;
    w.model = model;
    w.hash = h.hash;
    Check(codec.Encode(h, raw, EncodeOptions(), &w.blob), "encode");
    w.meta.parent = parent;
    w.meta.tokens = h.tokens;
    w.meta.codec = EncodeOptions().codec;
    w.meta.dtype = DType::kBF16;
    w.meta.raw_bytes = raw.size();
    w.meta.stored_bytes = w.blob.size();
    parent = h.hash;
    d.bytes += w.blob.size();
    d.raw_bytes += raw.size();
    d.min_size = std::min<uint64_t>(d.min_size, w.blob.size());
    d.max_size = std::max<uint64_t>(d.max_size, w.blob.size());
    if (d.batches.empty() || batch_raw + raw.size() > (16u << 20)) {
      d.batches.emplace_back();
      batch_raw = 0;
    }
    batch_raw += raw.size();
    d.batches.back().push_back(std::move(w));
  }
  for (auto& b : d.batches) {
    for (auto& w : b) d.blocks.push_back(&w);
  }
  return d;
}

// Allocated bytes (like du) of the files under `dir`; of the *.log (WAL) files only if `wal`.
uint64_t DiskUsage(const std::string& dir, bool wal = false) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st;
    if (!e.is_regular_file() || (wal && e.path().extension() != ".log")) continue;
    if (stat(e.path().c_str(), &st) == 0) total += uint64_t(st.st_blocks) * 512;
  }
  return total;
}

// fdatasync + POSIX_FADV_DONTNEED on every file under `dir`; returns the
// fraction of their pages still resident afterwards (mincore).
double DropCache(const std::string& dir) {
  uint64_t pages = 0, resident = 0;
  const size_t page = sysconf(_SC_PAGESIZE);
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    int fd = e.is_regular_file() ? open(e.path().c_str(), O_RDONLY) : -1;
    if (fd < 0) continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const size_t size = e.file_size();
    void* m = size ? mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (m != MAP_FAILED) {
      std::vector<unsigned char> vec((size + page - 1) / page);
      if (mincore(m, size, vec.data()) == 0) {
        for (unsigned char v : vec) resident += v & 1;
        pages += vec.size();
      }
      munmap(m, size);
    }
    close(fd);
  }
  return pages ? double(resident) / pages : 0.0;
}

struct PutResult {
  std::string layout;
  double put_s = 0, sync_s = 0, close_s = 0, reopen_s = 0;
  uint64_t du_puts = 0, wal_puts = 0, du_final = 0;
};

// Writes every batch, syncs, closes and reopens (timing each step).
PutResult Build(View& v, const Data& d) {
  PutResult r;
  r.layout = v.name();
  v.Open();
  auto t0 = Clock::now();
  for (const auto& batch : d.batches) v.Put(batch);
  r.put_s = Since(t0);
  t0 = Clock::now();
  v.Sync();
  r.sync_s = Since(t0);
  r.du_puts = DiskUsage(v.dir());
  r.wal_puts = DiskUsage(v.dir(), /*wal=*/true);
  t0 = Clock::now();
  v.Close();
  r.close_s = Since(t0);
  t0 = Clock::now();
  v.Open();
  r.reopen_s = Since(t0);
  v.Close();
  r.du_final = DiskUsage(v.dir());
  return r;
}

struct Pass {
  std::vector<double> gbps, ops, p50_us, p99_us;
  double resident_after_drop = 0;
  static double Med(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double Gbps() const { return Med(gbps); }
  Json ToJson() const {
    return {{"gbps", gbps},
            {"ops", ops},
            {"p50_us", p50_us},
            {"p99_us", p99_us},
            {"resident_after_drop", resident_after_drop}};
  }
};

// One pass over the blobs in `order`; records throughput and latency in `p` (if any).
void TimedPass(View& v, const Data& d, const std::vector<size_t>& order, Pass* p, bool verify) {
  std::vector<double> lat(order.size());
  uint64_t bytes = 0;
  std::string_view out;
  auto t0 = Clock::now();
  for (size_t k = 0; k < order.size(); ++k) {
    auto g0 = Clock::now();
    v.Get(*d.blocks[order[k]], &out);
    lat[k] = Since(g0);
    bytes += out.size();
    if (verify && out != d.blocks[order[k]]->blob) {
      Check(Status::Corruption("wrong bytes from " + v.name()), "verify");
    }
  }
  const double s = Since(t0);
  if (p == nullptr) return;
  std::sort(lat.begin(), lat.end());
  p->gbps.push_back(bytes / s / 1e9);
  p->ops.push_back(order.size() / s);
  p->p50_us.push_back(1e6 * lat[lat.size() / 2]);
  p->p99_us.push_back(1e6 * lat[lat.size() * 99 / 100]);
}

double PutGbps(const Data& d, const PutResult& r) { return d.bytes / (r.put_s + r.sync_s) / 1e9; }

// Per layout, the round with the median put GB/s, and the range over rounds.
void PrintPuts(FILE* f, const Data& d, const std::vector<std::vector<PutResult>>& puts) {
  std::fprintf(f,
               "\n== puts of %.1f MB of blobs; median of %zu rounds, layouts interleaved. "
               "DiskTier: PutBlocks batches <= 16 MiB raw, sync=false, then SyncWal; raw: write + "
               "fsync per file ==\n%-22s %8s %11s %5s %9s %7s %6s %6s %8s %8s %8s\n%-22s %8s %11s "
               "%5s %9s %7s %6s %6s %8s %8s %8s\n",
               d.bytes / 1e6, puts[0].size(), "layout", "put GB/s", "range", "/raw", "PutBlocks",
               "SyncWal", "close", "reopen", "du@puts", "WAL@puts", "du final", "", "(+sync)", "",
               "", "s", "s", "s", "s", "MB", "MB", "MB");
  double raw_gbps = 0;
  for (const auto& layout_rounds : puts) {
    std::vector<PutResult> v = layout_rounds;
    std::sort(v.begin(), v.end(), [&](const PutResult& a, const PutResult& b) {
      return PutGbps(d, a) < PutGbps(d, b);
    });
    const PutResult& r = v[v.size() / 2];
    if (raw_gbps == 0) raw_gbps = PutGbps(d, r);
    std::fprintf(f, "%-22s %8.3f %5.3f-%5.3f %5.2f %9.2f %7.2f %6.2f %6.2f %8.1f %8.1f %8.1f\n",
                 r.layout.c_str(), PutGbps(d, r), PutGbps(d, v.front()), PutGbps(d, v.back()),
                 PutGbps(d, r) / raw_gbps, r.put_s, r.sync_s, r.close_s, r.reopen_s,
                 r.du_puts / 1e6, r.wal_puts / 1e6, r.du_final / 1e6);
  }
}

struct ViewResult {
  std::unique_ptr<View> view;
  Pass warm_rand, warm_seq, cold_rand, cold_seq;
};

void PrintGets(FILE* f, const std::vector<ViewResult>& views, int rounds, int cold_rounds) {
  std::fprintf(f,
               "\n== gets: GB/s of blob bytes, ops/s, fraction of raw files. warm: median of %d "
               "interleaved rounds; cold (median of %d): close + reopen, then fdatasync + "
               "POSIX_FADV_DONTNEED on every file of the store directory ==\n"
               "%-30s | %-19s | %-11s | %-19s | %-11s | %s\n"
               "%-30s | %5s %7s %5s | %5s %5s | %5s %7s %5s | %5s %5s | %6s %6s\n",
               rounds, cold_rounds, "", "warm random", "warm seq", "cold random", "cold seq",
               "p99 random us", "view", "GB/s", "ops/s", "/raw", "GB/s", "/raw", "GB/s", "ops/s",
               "/raw", "GB/s", "/raw", "warm", "cold");
  const ViewResult& raw = views[0];
  double resident = 0;
  for (const ViewResult& v : views) {
    std::fprintf(f,
                 "%-30s | %5.2f %7.0f %5.2f | %5.2f %5.2f | %5.2f %7.0f %5.2f | %5.2f %5.2f | "
                 "%6.0f %6.0f\n",
                 v.view->name().c_str(), v.warm_rand.Gbps(), Pass::Med(v.warm_rand.ops),
                 v.warm_rand.Gbps() / raw.warm_rand.Gbps(), v.warm_seq.Gbps(),
                 v.warm_seq.Gbps() / raw.warm_seq.Gbps(), v.cold_rand.Gbps(),
                 Pass::Med(v.cold_rand.ops), v.cold_rand.Gbps() / raw.cold_rand.Gbps(),
                 v.cold_seq.Gbps(), v.cold_seq.Gbps() / raw.cold_seq.Gbps(),
                 Pass::Med(v.warm_rand.p99_us), Pass::Med(v.cold_rand.p99_us));
    resident =
        std::max({resident, v.cold_rand.resident_after_drop, v.cold_seq.resident_after_drop});
  }
  std::fprintf(f,
               "tunings (cumulative, same directories, DiskTier::Open's options otherwise): "
               "nofill = ReadOptions::fill_cache=false (no block/blob cache insert); nocrc = "
               "ReadOptions::verify_checksums=false; pin = Get into a PinnableSlice (no copy "
               "into a std::string); norand = advise_random_on_open=false.\n"
               "after DONTNEED, at most %.2f%% of a store's pages were still resident (mincore).\n",
               100 * resident);
}

}  // namespace
}  // namespace kvstash

std::string g_workdir;  // removed on exit, also on failure

void kvstash::bench::Check(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "disk_tier_bench: %s: %s\n", what, s.ToString().c_str());
  std::error_code ec;
  if (!g_workdir.empty()) std::filesystem::remove_all(g_workdir, ec);
  std::exit(1);
}

int main(int argc, char** argv) {
  using namespace kvstash;
  uint32_t blocks = 360;
  int rounds = 3, cold_rounds = 2, put_rounds = 3;
  std::string dir = "/tmp";
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--blocks" && has_value) {
      blocks = uint32_t(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--dir" && has_value) {
      dir = argv[++i];
    } else if (a == "--rounds" && has_value) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--put-rounds" && has_value) {
      put_rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--cold-rounds" && has_value) {
      cold_rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--blocks N] [--dir PATH] [--rounds N] [--put-rounds N] "
                   "[--cold-rounds N] [--json]\n",
                   argv[0]);
      return 2;
    }
  }
  FILE* out = json ? stderr : stdout;  // --json: the document alone on stdout
  auto t_start = Clock::now();
  const Data d = MakeData(blocks);
  const std::string work = dir + "/kvstash_disk_tier_bench." + std::to_string(getpid());
  struct statvfs vfs;
  if (statvfs(dir.c_str(), &vfs) != 0) Check(Status::IOError("statvfs " + dir), "--dir");
  // Peak: raw files + two stores, the last one with its WAL still holding every blob.
  const uint64_t avail = uint64_t(vfs.f_bavail) * vfs.f_frsize, need = 4 * d.bytes + (1ull << 30);
  std::fprintf(out,
               "kvstash disk tier bench: %u blocks, %.1f MB of blobs (%.1f MB raw bf16; blobs "
               "%.0f-%.0f KB, mean %.0f KB), %zu batches; %s has %.1f GB free (need %.1f)\n",
               blocks, d.bytes / 1e6, d.raw_bytes / 1e6, d.min_size / 1e3, d.max_size / 1e3,
               d.bytes / 1e3 / blocks, d.batches.size(), dir.c_str(), avail / 1e9, need / 1e9);
  if (avail < need || fs::exists(work)) Check(Status::IOError("low space or exists"), "--dir");
  g_workdir = work;
  fs::create_directories(work);
  const std::string raw_dir = work + "/raw", blob_dir = work + "/blob", inl_dir = work + "/inline";

  // Put rounds, layouts interleaved; the last round's stores stay for the gets.
  std::vector<std::vector<PutResult>> puts(4);  // [layout][round]
  for (int r = 0; r < put_rounds; ++r) {
    RawView raw("raw files", raw_dir);
    DiskTierView blob("DiskTier blob", blob_dir, true), inl("DiskTier inline", inl_dir, false);
    Tuning t;  // a tuned writer; built and dropped at once to stay within the disk budget
    t.max_total_wal_size = 64 << 20;
    RocksView walcap("blob max_total_wal 64M", work + "/blob-walcap", true, t);
    View* layouts[] = {&raw, &blob, &inl, &walcap};
    for (int i = 0; i < 4; ++i) {
      fs::remove_all(layouts[i]->dir());
      puts[i].push_back(Build(*layouts[i], d));
    }
    fs::remove_all(walcap.dir());
  }
  PrintPuts(out, d, puts);
  std::fflush(out);

  std::vector<ViewResult> views;
  auto add = [&](View* v) { views.push_back({std::unique_ptr<View>(v), {}, {}, {}, {}}); };
  add(new RawView("raw files (open+pread+close)", raw_dir));
  for (bool blob : {true, false}) {
    const std::string& vdir = blob ? blob_dir : inl_dir;
    const std::string prefix = blob ? "blob " : "inline ";
    add(new DiskTierView("DiskTier " + prefix.substr(0, prefix.size() - 1), vdir, blob));
    add(new RocksView(prefix + "nofill", vdir, blob, {false, true, false, true}));
    add(new RocksView(prefix + "nofill+nocrc", vdir, blob, {false, false, false, true}));
    add(new RocksView(prefix + "nofill+nocrc+pin", vdir, blob, {false, false, true, true}));
    add(new RocksView(prefix + "nofill+nocrc+pin+norand", vdir, blob, {false, false, true, false}));
  }
  std::vector<size_t> seq(d.blocks.size());
  for (size_t i = 0; i < seq.size(); ++i) seq[i] = i;
  bench::Rng rng(11);
  auto shuffled = [&] {
    std::vector<size_t> perm = seq;
    std::shuffle(perm.begin(), perm.end(), rng.gen);
    return perm;
  };
  for (int r = 0; r < rounds; ++r) {
    for (ViewResult& v : views) {
      v.view->Open();
      TimedPass(*v.view, d, shuffled(), nullptr, /*verify=*/r == 0);
      TimedPass(*v.view, d, shuffled(), &v.warm_rand, false);
      TimedPass(*v.view, d, seq, &v.warm_seq, false);
      v.view->Close();
    }
  }
  for (int r = 0; r < cold_rounds; ++r) {
    for (ViewResult& v : views) {
      for (Pass* p : {&v.cold_rand, &v.cold_seq}) {
        v.view->Open();
        p->resident_after_drop = std::max(p->resident_after_drop, DropCache(v.view->dir()));
        TimedPass(*v.view, d, p == &v.cold_seq ? seq : shuffled(), p, false);
        v.view->Close();
      }
    }
  }
  PrintGets(out, views, rounds, cold_rounds);
  std::fprintf(out, "total %.1f s\n", Since(t_start));

  if (json) {
    Json doc = {{"blocks", blocks}, {"blob_bytes", d.bytes}, {"raw_bytes", d.raw_bytes}};
    for (const auto& layout_rounds : puts) {
      for (const PutResult& r : layout_rounds) {
        doc["puts"].push_back({{"layout", r.layout},
                               {"put_gbps", PutGbps(d, r)},
                               {"put_s", r.put_s},
                               {"sync_s", r.sync_s},
                               {"close_s", r.close_s},
                               {"reopen_s", r.reopen_s},
                               {"du_after_puts", r.du_puts},
                               {"wal_after_puts", r.wal_puts},
                               {"du_final", r.du_final}});
      }
    }
    for (const ViewResult& v : views) {
      doc["gets"].push_back({{"view", v.view->name()},
                             {"warm_random", v.warm_rand.ToJson()},
                             {"warm_seq", v.warm_seq.ToJson()},
                             {"cold_random", v.cold_rand.ToJson()},
                             {"cold_seq", v.cold_seq.ToJson()}});
    }
    std::printf("%s\n", doc.dump(2).c_str());
  }
  views.clear();
  std::error_code ec;
  fs::remove_all(work, ec);
  return 0;
}
