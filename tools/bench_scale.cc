// kvstash bench scale: how the store's costs grow with what it holds.
//
// One store is filled with prompts of synthetic KV (no model forward pass:
// two full blocks per prompt, each starting with the same four-token
// template, as chat prompts do) up to each size in --blocks, and at each size
// the bench measures, in this order:
//   - requests through the library: match of a stored prompt, match of a new
//     one (it shares the template with every stored prompt, so the root's
//     children are all candidates), insert of a new prompt, load of a stored
//     one (device tier off: from disk, page cache warm);
//   - opening the store, read-write and read-only (in this process, median);
//   - a fresh process that opens the store, loads prompts, and reports its
//     RSS before and after (bounded by RocksDB's caches if the index is not
//     held in memory);
//   - `kvstash stat`, `kvstash ls` and `kvstash ls --model` (every chain) as
//     users run them: wall time and peak RSS of the process;
//   - verify (gc's VerifyStore, payloads decoded), page cache dropped, next
//     to a plain read of the store's files, page cache dropped;
//   - `kvstash prune --max-bytes` of 10% of the stored bytes: time and bytes
//     freed on disk (the next size is filled on top of what is left).
// Then the device tier alone (no disk), filled to the same size with a budget
// that holds exactly that many blocks: match, insert (which evicts) and load.
// Every figure is printed next to the same figure at the smallest size.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gc/verify.h"
#include "serde/block_codec.h"
#include "serde/dtype.h"
#include "store/disk_tier.h"
#include "store/kv_tensors.h"
#include "store/store.h"
#include "tools/bench_util.h"

extern char** environ;

namespace kvstash::cli {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct ScaleFlags {
  std::string blocks = "1e3,1e4,1e5";
  std::string shape = "2,2,16";  // layers, kv_heads, head_dim
  uint32_t block_tokens = 16;
  std::string kv_dtype = "bf16";
  std::string codec = "zstd-planes";
  int samples = 200;
  std::string dir;
  uint64_t device_max_blocks = 1000000;
  bool json = false;
  bool keep = false;  // leave the store in place (its path is printed on stderr)
  // Hidden: the fresh process that opens a store and reports its memory.
  std::string probe_store;
  uint64_t probe_first = 0, probe_count = 0;
};

// The synthetic model: only what the store needs of a description.
struct ScaleModel {
  ModelDescription desc;
  BlockShape shape() const { return BlockShapeOf(desc); }
  uint64_t block_bytes() const { return shape().RawBytes(desc.block_tokens); }  // raw, one block
};

Result<ScaleModel> MakeScaleModel(const ScaleFlags& f) {
  std::vector<std::string> dims = SplitList(f.shape);
  uint32_t v[3] = {};
  if (dims.size() != 3) return Status::InvalidArgument("--shape takes LAYERS,KV_HEADS,HEAD_DIM");
  for (int i = 0; i < 3; ++i) {
    char* end = nullptr;
    const unsigned long x = std::strtoul(dims[i].c_str(), &end, 10);
    if (*end != '\0' || x == 0 || x > 4096) {
      return Status::InvalidArgument("--shape: '" + dims[i] + "' is not a dimension in [1, 4096]");
    }
    v[i] = static_cast<uint32_t>(x);
  }
  KVSTASH_ASSIGN_OR_RETURN(DType dtype, ParseDType(f.kv_dtype));
  ScaleModel m;
  m.desc.architecture = "KvstashBenchScale";
  m.desc.num_layers = v[0];
  m.desc.num_kv_heads = v[1];
  m.desc.head_dim = v[2];
  m.desc.num_heads = v[1];
  m.desc.hidden_size = v[1] * v[2];
  m.desc.vocab_size = 151936;
  m.desc.rope_theta = 1e6;
  m.desc.kv_dtype = dtype;
  m.desc.block_tokens = f.block_tokens;
  m.desc.weights_digest = "synthetic";
  return m;
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Prompt i: a four-token template every prompt shares, then tokens that
// depend on i; `blocks` full blocks.
std::vector<int32_t> ScalePrompt(uint64_t i, uint32_t block_tokens, uint32_t blocks = 2) {
  std::vector<int32_t> t = {151644, 8948, 198, 2610};
  t.resize(size_t{block_tokens} * blocks);
  for (size_t j = 4; j < t.size(); ++j) {
    t[j] = static_cast<int32_t>(SplitMix(i * 1000003ull + j) % 151000);
  }
  return t;
}

// KV views for two blocks each, reused round-robin by the prompts (each
// block is compressed on its own, so reuse does not flatter the codec):
// normal values with a log-normal scale per channel, as attention K/V have.
Result<std::vector<KvCacheView>> MakeKvPool(const ScaleModel& m, size_t count) {
  const BlockShape shape = m.shape();
  KVSTASH_ASSIGN_OR_RETURN(c10::ScalarType type, ToScalarType(shape.dtype));
  std::vector<KvCacheView> pool(count);
  KVSTASH_RETURN_IF_ERROR(CatchTorch("synthetic KV", [&] {
    auto gen = at::detail::createCPUGenerator(42);
    const int64_t cap = 2 * int64_t{m.desc.block_tokens};
    for (KvCacheView& view : pool) {
      for (uint32_t l = 0; l < shape.layers; ++l) {
        for (int kv = 0; kv < 2; ++kv) {
          at::Tensor scale = at::exp(at::randn({shape.kv_heads, 1, shape.head_dim}, gen));
          at::Tensor t = (at::randn({shape.kv_heads, cap, shape.head_dim}, gen) * scale).to(type);
          (kv == 0 ? view.keys : view.values).push_back(t);
        }
      }
    }
    return Status::OK();
  }));
  return pool;
}

uint64_t ProcStatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtoull(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return 0;
}

std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, name = "unknown CPU";
  bool avx512 = false;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && name == "unknown CPU") {
      name = line.substr(line.find(':') + 2);
    }
    if (line.rfind("flags", 0) == 0) avx512 = avx512 || line.find(" avx512f") != std::string::npos;
  }
  return name + (avx512 ? " (AVX-512)" : " (no AVX-512)") + ", " +
         std::to_string(std::thread::hardware_concurrency()) + " cores";
}

// Latencies of one kind of request, in microseconds.
struct Latency {
  std::vector<double> us;
  double median() const { return Median(us); }
  json Json() const {
    std::vector<double> v = us;
    std::sort(v.begin(), v.end());
    const double p90 = v.empty() ? 0.0 : v[static_cast<size_t>(0.9 * (v.size() - 1))];
    return {{"median_us", median()}, {"p90_us", p90}, {"n", v.size()}};
  }
};

template <typename Fn>
Status Time(Latency* out, Fn&& fn) {
  const auto t0 = Clock::now();
  KVSTASH_RETURN_IF_ERROR(fn());
  out->us.push_back(MsSince(t0) * 1000);
  return Status::OK();
}

// A run of this binary: exit code, wall time, what it printed. (Not its
// peak RSS: ru_maxrss of a spawned child starts at the parent's peak, so the
// fresh process reports its own VmHWM instead.)
struct ChildRun {
  int exit_code = -1;
  double wall_ms = 0;
  std::string out, err;
};

Result<ChildRun> RunSelf(const std::vector<std::string>& args, const std::string& work) {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return PosixError("find this executable", "/proc/self/exe");
  exe[n] = '\0';
  const std::string out_path = work + "/child.out", err_path = work + "/child.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  ChildRun run;
  pid_t pid = 0;
  const auto t0 = Clock::now();
  const int rc = posix_spawn(&pid, exe, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Status::IOError(std::string("spawn ") + exe + ": " + std::strerror(rc));
  int wstatus = 0;
  if (waitpid(pid, &wstatus, 0) != pid) return PosixError("wait for", exe);
  run.wall_ms = MsSince(t0);
  run.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (auto text = ReadTextFile(out_path); text.ok()) run.out = std::move(text).value();
  if (auto text = ReadTextFile(err_path); text.ok()) run.err = std::move(text).value();
  if (run.exit_code != 0) {
    return Status::IOError("kvstash " + args[0] + " exited " + std::to_string(run.exit_code) +
                           ": " + run.err);
  }
  return run;
}

Result<json> RunSelfJson(const std::vector<std::string>& args, const std::string& work,
                         ChildRun* run) {
  KVSTASH_ASSIGN_OR_RETURN(*run, RunSelf(args, work));
  json j = json::parse(run->out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption("kvstash " + args[0] + " printed no JSON");
  return j;
}

// Reads every file under `dir` once, sequentially: the floor of any pass
// over the store's bytes.
Result<uint64_t> ReadAllFiles(const std::string& dir) {
  std::vector<char> buf(4 << 20);
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const int fd = open(entry.path().c_str(), O_RDONLY);
    if (fd < 0) return PosixError("open", entry.path());
    ssize_t got;
    while ((got = read(fd, buf.data(), buf.size())) > 0) total += got;
    close(fd);
    if (got < 0) return PosixError("read", entry.path());
  }
  if (ec) return Status::IOError("list " + dir + ": " + ec.message());
  return total;
}

StoreOptions ScaleStoreOptions(const ScaleFlags& f, const std::string& path, uint64_t budget) {
  StoreOptions o = BenchStoreOptions(path, budget, "cpu");
  if (auto codec = ParseCodec(f.codec); codec.ok()) o.encode.codec = *codec;
  return o;
}

struct Requests {
  // match_stored_again: the same prompt right after, its index and meta
  // blocks now in RocksDB's block cache: the index's own cost, without the
  // cache miss every first lookup of a large store pays.
  Latency match_stored, match_stored_again, match_new, insert, load;
  double flush_ms = 0;  // the Flush() after the timed inserts
};

// The timed requests against `store`: stored prompts are drawn from
// [stored_first, stored_end), new ones from `fresh` on (never stored).
Status MeasureRequests(Store* store, const ModelId& model, const ScaleModel& m, int samples,
                       uint64_t stored_first, uint64_t stored_end, uint64_t fresh,
                       const std::vector<KvCacheView>& pool, Requests* r) {
  KVSTASH_ASSIGN_OR_RETURN(KvCacheView out,
                           AllocateKvView(m.shape(), 2 * m.desc.block_tokens, c10::Device("cpu")));
  const uint32_t bt = m.desc.block_tokens;
  const uint64_t span = stored_end - stored_first;
  for (int s = 0; s < samples; ++s) {
    const auto stored = ScalePrompt(stored_first + SplitMix(s) % span, bt);
    const auto fresh_prompt = ScalePrompt(fresh + s, bt);
    KVSTASH_RETURN_IF_ERROR(Time(&r->match_stored, [&]() -> Status {
      KVSTASH_ASSIGN_OR_RETURN(PrefixMatch match, store->Match(model, stored));
      if (match.tokens != stored.size()) return Status::Corruption("a stored prompt did not match");
      return Status::OK();
    }));
    KVSTASH_RETURN_IF_ERROR(Time(&r->match_stored_again,
                                 [&]() -> Status { return store->Match(model, stored).status(); }));
    KVSTASH_RETURN_IF_ERROR(Time(
        &r->match_new, [&]() -> Status { return store->Match(model, fresh_prompt).status(); }));
    KVSTASH_RETURN_IF_ERROR(Time(&r->load, [&]() -> Status {
      KVSTASH_ASSIGN_OR_RETURN(LoadResult loaded, store->Load(model, stored, out));
      if (loaded.tokens != stored.size()) return Status::Corruption("a stored prompt did not load");
      return Status::OK();
    }));
    KVSTASH_RETURN_IF_ERROR(Time(&r->insert, [&]() -> Status {
      return store->Insert(model, fresh_prompt, pool[s % pool.size()]).status();
    }));
  }
  const auto t0 = Clock::now();
  KVSTASH_RETURN_IF_ERROR(store->Flush());
  r->flush_ms = MsSince(t0);
  return Status::OK();
}

// Inserts prompts from `*next` on until `*blocks` reaches `target`.
Status Fill(Store* store, const ModelId& model, const ScaleModel& m,
            const std::vector<KvCacheView>& pool, uint64_t target, uint64_t* next,
            uint64_t* blocks) {
  while (*blocks < target) {
    KVSTASH_ASSIGN_OR_RETURN(
        InsertResult r,
        store->Insert(model, ScalePrompt(*next, m.desc.block_tokens), pool[*next % pool.size()]));
    *blocks += r.blocks_added;
    ++*next;
  }
  return store->Flush();
}

json RequestsJson(const Requests& r) {
  return {{"match_stored", r.match_stored.Json()},
          {"match_stored_again", r.match_stored_again.Json()},
          {"match_new", r.match_new.Json()},
          {"insert", r.insert.Json()},
          {"load", r.load.Json()},
          {"flush_after_inserts_ms", r.flush_ms}};
}

Result<json> MeasureDisk(const ScaleFlags& f, const ScaleModel& m, const std::string& work,
                         const std::string& path, const ModelId& model,
                         const std::vector<KvCacheView>& pool, uint64_t target, uint64_t* next,
                         uint64_t* blocks, uint64_t* recent_first, size_t round) {
  json j;
  {
    KVSTASH_ASSIGN_OR_RETURN(auto store, Store::Open(ScaleStoreOptions(f, path, 0)));
    KVSTASH_RETURN_IF_ERROR(store->RegisterModel(m.desc).status());
    const uint64_t before = *blocks;
    const auto t0 = Clock::now();
    KVSTASH_RETURN_IF_ERROR(Fill(store.get(), model, m, pool, target, next, blocks));
    const double fill_s = MsSince(t0) / 1000;
    j["fill"] = {{"blocks_added", *blocks - before},
                 {"seconds", fill_s},
                 {"blocks_per_s", (*blocks - before) / std::max(fill_s, 1e-9)}};
    KVSTASH_RETURN_IF_ERROR(store->Close());
  }
  {
    // Reopened: what a restarted server meets, everything in table files,
    // once RocksDB has worked off the fill's compaction backlog (timed: it
    // is part of what filling costs).
    KVSTASH_ASSIGN_OR_RETURN(auto store, Store::Open(ScaleStoreOptions(f, path, 0)));
    const auto t0 = Clock::now();
    while (store->disk()->BackgroundWorkPending()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    j["fill"]["compaction_wait_s"] = MsSince(t0) / 1000;
    Requests r;
    KVSTASH_RETURN_IF_ERROR(MeasureRequests(store.get(), model, m, f.samples, *recent_first, *next,
                                            4000000000ull + round * 1000000ull, pool, &r));
    *blocks += 2 * f.samples;
    j["requests"] = RequestsJson(r);
    j["blocks"] = *blocks;  // what open, ls, stat, verify and prune meet
    KVSTASH_RETURN_IF_ERROR(store->Close());
  }
  Latency open_rw, open_ro;
  for (int i = 0; i < 5; ++i) {
    for (bool read_only : {false, true}) {
      StoreOptions o = ScaleStoreOptions(f, path, 0);
      o.read_only = read_only;
      std::unique_ptr<Store> opened;  // closed after the timed part
      KVSTASH_RETURN_IF_ERROR(Time(read_only ? &open_ro : &open_rw, [&]() -> Status {
        KVSTASH_ASSIGN_OR_RETURN(opened, Store::Open(o));
        return Status::OK();
      }));
      KVSTASH_RETURN_IF_ERROR(opened->Close());
    }
  }
  j["open_ms"] = {{"read_write", open_rw.median() / 1000}, {"read_only", open_ro.median() / 1000}};

  ChildRun run;
  KVSTASH_ASSIGN_OR_RETURN(json probe,
                           RunSelfJson({"bench", "scale", "--probe-store", path, "--probe-first",
                                        std::to_string(*recent_first), "--probe-count", "20"},
                                       work, &run));
  j["fresh_process"] = probe;

  KVSTASH_ASSIGN_OR_RETURN(json stat, RunSelfJson({"stat", "--store", path, "--json"}, work, &run));
  j["stat"] = {{"ms", run.wall_ms}};
  const uint64_t stored_bytes = stat["stored_bytes"].get<uint64_t>();
  j["stored_bytes"] = stored_bytes;
  j["disk_usage_bytes"] = stat["disk_usage_bytes"];
  KVSTASH_ASSIGN_OR_RETURN(run, RunSelf({"ls", "--store", path, "--json"}, work));
  j["ls"] = {{"ms", run.wall_ms}};
  KVSTASH_ASSIGN_OR_RETURN(
      run, RunSelf({"ls", "--store", path, "--model", model.ToHex(), "--json"}, work));
  j["ls_model"] = {{"ms", run.wall_ms}};

  {
    DiskTierOptions o;
    o.path = path;
    o.read_only = true;
    KVSTASH_ASSIGN_OR_RETURN(auto disk, DiskTier::Open(o));
    DropPageCache(path);
    const auto t0 = Clock::now();
    KVSTASH_ASSIGN_OR_RETURN(VerifyReport report, VerifyStore(disk.get()));
    const double verify_s = MsSince(t0) / 1000;
    if (!report.clean()) return Status::Corruption("verify found problems in the bench's store");
    DropPageCache(path);
    const auto t1 = Clock::now();
    KVSTASH_ASSIGN_OR_RETURN(uint64_t file_bytes, ReadAllFiles(path));
    const double read_s = MsSince(t1) / 1000;
    const double verify_gbps = report.stored_bytes / verify_s / 1e9;
    const double read_gbps = file_bytes / read_s / 1e9;
    j["verify"] = {{"seconds", verify_s},
                   {"blocks", report.blocks},
                   {"blocks_per_s", report.blocks / verify_s},
                   {"gb_per_s", verify_gbps},
                   {"file_read_bytes", file_bytes},
                   {"file_read_gb_per_s", read_gbps},
                   {"vs_file_read", verify_gbps / read_gbps}};
  }

  KVSTASH_ASSIGN_OR_RETURN(json prune,
                           RunSelfJson({"prune", "--store", path, "--max-bytes",
                                        std::to_string(stored_bytes - stored_bytes / 10), "--json"},
                                       work, &run));
  j["prune_10pct"] = {{"ms", run.wall_ms},
                      {"blocks", prune["blocks"]},
                      {"stored_bytes", prune["stored_bytes"]},
                      {"freed_bytes", prune["freed_bytes"]}};
  *blocks -= prune["blocks"].get<uint64_t>();
  // Pruning takes the least recently used: the oldest prompts. Requests at
  // the next size draw stored prompts from those added after this point.
  *recent_first = *next;
  return j;
}

Result<json> MeasureDevice(const ScaleFlags& f, const ScaleModel& m, uint64_t target,
                           const std::vector<KvCacheView>& pool, size_t round) {
  // Budget for exactly `target` blocks: every timed insert evicts.
  KVSTASH_ASSIGN_OR_RETURN(auto store,
                           Store::Open(ScaleStoreOptions(f, "", target * m.block_bytes())));
  KVSTASH_ASSIGN_OR_RETURN(ModelId model, store->RegisterModel(m.desc));
  uint64_t next = 0, blocks = 0;
  const auto t0 = Clock::now();
  KVSTASH_RETURN_IF_ERROR(Fill(store.get(), model, m, pool, target, &next, &blocks));
  const double fill_s = MsSince(t0) / 1000;
  Requests r;
  // Stored prompts from the newest half: the timed inserts evict the oldest.
  KVSTASH_RETURN_IF_ERROR(MeasureRequests(store.get(), model, m, f.samples, next / 2, next,
                                          5000000000ull + round * 1000000ull, pool, &r));
  json j = RequestsJson(r);
  j["blocks"] = store->Stats().device_blocks;
  j["fill"] = {{"seconds", fill_s}, {"blocks_per_s", blocks / std::max(fill_s, 1e-9)}};
  j["rss_kb"] = ProcStatusKb("VmRSS");
  return j;
}

// The fresh process: opens the store as a server would, loads prompts.
int RunProbe(const ScaleFlags& f) {
  json j = {{"rss_start_kb", ProcStatusKb("VmRSS")}};
  Status s = [&]() -> Status {
    const auto t0 = Clock::now();
    StoreOptions o;
    o.path = f.probe_store;
    o.device = "cpu";
    o.device_budget_bytes = 0;
    o.promote_on_hit = false;
    KVSTASH_ASSIGN_OR_RETURN(auto store, Store::Open(o));
    j["open_ms"] = MsSince(t0);
    j["rss_open_kb"] = ProcStatusKb("VmRSS");
    KVSTASH_ASSIGN_OR_RETURN(auto models, store->disk()->ListModels());
    if (models.size() != 1) return Status::InvalidArgument("probe: expected one model");
    KVSTASH_ASSIGN_OR_RETURN(ModelDescription desc,
                             ModelDescription::FromCanonicalText(models[0].second));
    KVSTASH_ASSIGN_OR_RETURN(
        KvCacheView out,
        AllocateKvView(BlockShapeOf(desc), 2 * desc.block_tokens, c10::Device("cpu")));
    uint64_t tokens = 0;
    const auto t1 = Clock::now();
    for (uint64_t i = 0; i < f.probe_count; ++i) {
      KVSTASH_ASSIGN_OR_RETURN(
          LoadResult r,
          store->Load(models[0].first, ScalePrompt(f.probe_first + i, desc.block_tokens), out));
      tokens += r.tokens;
    }
    j["loads_ms"] = MsSince(t1);
    j["loaded_tokens"] = tokens;
    j["rss_end_kb"] = ProcStatusKb("VmRSS");
    j["rss_peak_kb"] = ProcStatusKb("VmHWM");
    return store->Close();
  }();
  if (!s.ok()) return Fail("bench scale", s);
  PrintJson(j);
  return kExitOk;
}

Result<std::vector<uint64_t>> ParseSizes(const std::string& list) {
  std::vector<uint64_t> sizes;
  for (const std::string& item : SplitList(list)) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (*end != '\0' || !(v >= 100) || v > 1e8 || v != std::floor(v)) {
      return Status::InvalidArgument("--blocks: '" + item +
                                     "' is not a whole number in [100, 1e8]");
    }
    sizes.push_back(static_cast<uint64_t>(v));
  }
  if (sizes.empty()) return Status::InvalidArgument("--blocks: no sizes");
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

// "x1.23" of `value` against the same figure at the smallest size.
double Ratio(double value, double base) { return base > 0 ? value / base : 0; }

void PrintText(const json& doc) {
  std::printf("bench scale: %s\n", doc["machine"].get<std::string>().c_str());
  std::printf("blocks of %s, %llu raw bytes each, codec %s; %d samples per request\n",
              doc["shape"].get<std::string>().c_str(),
              static_cast<unsigned long long>(doc["block_bytes"].get<uint64_t>()),
              doc["codec"].get<std::string>().c_str(), doc["samples"].get<int>());
  std::printf(
      "\ndisk tier (device tier off; medians in us; ratio to the smallest size in brackets)\n");
  std::printf("%10s %9s %16s %16s %16s %16s %9s %9s %9s %8s %8s %10s %9s %9s\n", "blocks", "fill/s",
              "match-stored", "match-new", "insert", "load", "open-rw", "open-ro", "rss-MB",
              "stat-s", "ls-s", "verify", "vs-read", "prune-s");
  const json& base = doc["disk"][0];
  auto req = [](const json& r, const char* k) {
    return r["requests"][k]["median_us"].get<double>();
  };
  for (const json& r : doc["disk"]) {
    auto cell = [&](const char* k) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.0f (x%.2f)", req(r, k), Ratio(req(r, k), req(base, k)));
      return std::string(buf);
    };
    const json& probe = r["fresh_process"];
    const double rss_mb =
        (probe["rss_end_kb"].get<double>() - probe["rss_start_kb"].get<double>()) / 1024;
    std::printf(
        "%10llu %9.0f %16s %16s %16s %16s %9.2f %9.2f %9.1f %8.2f %8.2f %7.2fGB/s %8.2fx %9.2f\n",
        static_cast<unsigned long long>(r["blocks"].get<uint64_t>()),
        r["fill"]["blocks_per_s"].get<double>(), cell("match_stored").c_str(),
        cell("match_new").c_str(), cell("insert").c_str(), cell("load").c_str(),
        r["open_ms"]["read_write"].get<double>(), r["open_ms"]["read_only"].get<double>(), rss_mb,
        r["stat"]["ms"].get<double>() / 1000, r["ls_model"]["ms"].get<double>() / 1000,
        r["verify"]["gb_per_s"].get<double>(), r["verify"]["vs_file_read"].get<double>(),
        r["prune_10pct"]["ms"].get<double>() / 1000);
  }
  std::printf(
      "  (open in ms; rss-MB: a fresh process's RSS growth from opening the store and "
      "loading 20 prompts; ls-s: ls --model, every chain; verify vs a plain read of the "
      "store's files, both with the page cache dropped)\n");
  if (doc["device"].empty()) return;
  std::printf("\ndevice tier alone (budget = the blocks held; every insert evicts)\n");
  std::printf("%10s %9s %16s %16s %16s %16s\n", "blocks", "fill/s", "match-stored", "match-new",
              "insert", "load");
  const json& dbase = doc["device"][0];
  for (const json& r : doc["device"]) {
    auto cell = [&](const char* k) {
      char buf[32];
      const double v = r[k]["median_us"].get<double>(), b = dbase[k]["median_us"].get<double>();
      std::snprintf(buf, sizeof(buf), "%.1f (x%.2f)", v, Ratio(v, b));
      return std::string(buf);
    };
    std::printf("%10llu %9.0f %16s %16s %16s %16s\n",
                static_cast<unsigned long long>(r["blocks"].get<uint64_t>()),
                r["fill"]["blocks_per_s"].get<double>(), cell("match_stored").c_str(),
                cell("match_new").c_str(), cell("insert").c_str(), cell("load").c_str());
  }
}

int RunScale(const ScaleFlags& f) {
  if (!f.probe_store.empty()) return RunProbe(f);
  auto sizes = ParseSizes(f.blocks);
  if (!sizes.ok()) return Fail("bench", sizes.status());
  auto model_or = MakeScaleModel(f);
  if (!model_or.ok()) return Fail("bench", model_or.status());
  const ScaleModel& m = *model_or;
  if (!ParseCodec(f.codec).ok()) return Fail("bench", ParseCodec(f.codec).status());
  auto work = TempWorkDir(f.dir);
  if (!work.ok()) return Fail("bench", work.status());
  json doc = {{"machine", CpuName()},
              {"shape", std::to_string(m.shape().layers) + " layers x " +
                            std::to_string(m.shape().kv_heads) + " kv heads x " +
                            std::to_string(m.shape().head_dim) + " dims x " +
                            std::to_string(f.block_tokens) + " tokens, " + f.kv_dtype},
              {"block_bytes", m.block_bytes()},
              {"codec", f.codec},
              {"samples", f.samples},
              {"disk", json::array()},
              {"device", json::array()}};
  Status status = [&]() -> Status {
    KVSTASH_ASSIGN_OR_RETURN(std::vector<KvCacheView> pool, MakeKvPool(m, 16));
    KVSTASH_ASSIGN_OR_RETURN(ModelId model, m.desc.Fingerprint());
    const std::string path = *work + "/store";
    uint64_t next = 0, blocks = 0, recent_first = 0;
    for (size_t i = 0; i < sizes->size(); ++i) {
      const uint64_t target = (*sizes)[i];
      std::fprintf(stderr, "bench scale: %llu blocks on disk...\n",
                   static_cast<unsigned long long>(target));
      KVSTASH_ASSIGN_OR_RETURN(json d, MeasureDisk(f, m, *work, path, model, pool, target, &next,
                                                   &blocks, &recent_first, i));
      doc["disk"].push_back(d);
      if (target <= f.device_max_blocks) {
        std::fprintf(stderr, "bench scale: %llu blocks in the device tier...\n",
                     static_cast<unsigned long long>(target));
        KVSTASH_ASSIGN_OR_RETURN(json dev, MeasureDevice(f, m, target, pool, i));
        doc["device"].push_back(dev);
      }
    }
    return Status::OK();
  }();
  if (f.keep) {
    std::fprintf(stderr, "bench scale: kept the store at %s/store\n", work->c_str());
  } else {
    RemoveWorkDir(*work);
  }
  if (!status.ok()) return Fail("bench", status);
  if (f.json) {
    PrintJson(doc, 2);
  } else {
    PrintText(doc);
  }
  return kExitOk;
}

}  // namespace

void AddBenchScaleCommand(CLI::App& bench, Action* action) {
  auto f = std::make_shared<ScaleFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "scale", "How match, insert, load, open, ls/stat, verify and prune grow with the store");
  cmd->add_option("--blocks", f->blocks, "Comma-separated store sizes in blocks (1e6 works)")
      ->capture_default_str();
  cmd->add_option("--shape", f->shape, "LAYERS,KV_HEADS,HEAD_DIM of the synthetic KV")
      ->capture_default_str();
  cmd->add_option("--block-tokens", f->block_tokens, "Tokens per block")
      ->check(CLI::Range(5, 4096))
      ->capture_default_str();
  cmd->add_option("--kv-dtype", f->kv_dtype, "f32, f16 or bf16")->capture_default_str();
  cmd->add_option("--codec", f->codec, "none, zstd or zstd-planes")->capture_default_str();
  cmd->add_option("--samples", f->samples, "Timed requests of each kind per size")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd->add_option("--device-max-blocks", f->device_max_blocks,
                  "Measure the device tier alone at sizes up to this (0: never)")
      ->check(WholeNumber())
      ->capture_default_str();
  cmd->add_option("--dir", f->dir, "Parent of the work directory (default: $TMPDIR or /tmp)");
  cmd->add_flag("--json", f->json, "Print one JSON document");
  cmd->add_flag("--keep", f->keep, "Keep the store (for a look with kvstash stat, ls, ...)");
  // The fresh process the bench starts to measure an opened store's memory.
  cmd->add_option("--probe-store", f->probe_store)->group("");
  cmd->add_option("--probe-first", f->probe_first)->group("");
  cmd->add_option("--probe-count", f->probe_count)->group("");
  cmd->callback([f, action] { *action = [f] { return RunScale(*f); }; });
}

}  // namespace kvstash::cli
