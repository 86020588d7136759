// A second process for the store's multi-process and crash tests.
//
//   store_child insert DIR SEED TOKENS   insert a sequence, Flush, exit 0
//   store_child load DIR SEED TOKENS     load it; exit 0 iff all TOKENS came
//                                        from disk with the expected bytes
//   store_child loadstorm DIR N          load storm sequences 1..N; exit 0 iff
//                                        each is complete and byte-exact
//   store_child storm DIR                insert sequences forever; after each
//                                        Flush prints "flushed SEED TOKENS"
//   store_child open DIR                 open read-write; print the status
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/store.h"
#include "tests/store/store_test_util.h"

using namespace kvstash;

namespace {

std::vector<int32_t> SeqTokens(uint64_t seed, size_t n) {
  std::vector<int32_t> t(n);
  for (size_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((seed * 7919 + i * 31) % 50000);
  return t;
}

size_t StormLength(uint64_t seed) { return 16 + (seed * 37) % 200; }

Result<std::unique_ptr<Store>> OpenAt(const std::string& dir) {
  StoreOptions options;
  options.path = dir;
  options.device = "cpu";
  return Store::Open(options);
}

int Fail(const Status& s) {
  std::fprintf(stderr, "store_child: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::string mode = argv[1], dir = argv[2];
  const auto desc = testing::TestModel(DType::kBF16);
  auto store = OpenAt(dir);
  if (mode == "open") {
    std::printf("%s\n", store.status().ToString().c_str());
    return store.ok() ? 0 : 1;
  }
  if (!store.ok()) return Fail(store.status());
  auto model = (*store)->RegisterModel(desc);
  if (!model.ok()) return Fail(model.status());

  if (mode == "insert" || mode == "load") {
    if (argc < 5) return 2;
    const uint64_t seed = std::strtoull(argv[3], nullptr, 10);
    const size_t n = std::strtoull(argv[4], nullptr, 10);
    const auto tokens = SeqTokens(seed, n);
    const auto kv = testing::MakeKv(desc, tokens, n, seed);
    if (mode == "insert") {
      auto ins = (*store)->Insert(*model, tokens, kv);
      if (!ins.ok()) return Fail(ins.status());
      Status s = (*store)->Flush();
      return s.ok() ? 0 : Fail(s);
    }
    auto dst = testing::MakeKv(desc, {}, n);
    auto loaded = (*store)->Load(*model, tokens, dst);
    if (!loaded.ok()) return Fail(loaded.status());
    std::printf("loaded %zu disk %zu\n", loaded->tokens, loaded->disk_tokens);
    bool equal = testing::PrefixEqual(dst, kv, n);
    return loaded->tokens == n && loaded->disk_tokens == n && equal ? 0 : 3;
  }
  if (mode == "loadstorm") {
    if (argc < 4) return 2;
    const uint64_t last = std::strtoull(argv[3], nullptr, 10);
    for (uint64_t seed = 1; seed <= last; ++seed) {
      const size_t n = StormLength(seed);
      const auto tokens = SeqTokens(seed, n);
      auto dst = testing::MakeKv(desc, {}, n);
      auto loaded = (*store)->Load(*model, tokens, dst);
      if (!loaded.ok()) return Fail(loaded.status());
      if (loaded->tokens != n ||
          !testing::PrefixEqual(dst, testing::MakeKv(desc, tokens, n, seed), n)) {
        std::printf("sequence %llu: loaded %zu of %zu tokens\n",
                    static_cast<unsigned long long>(seed), loaded->tokens, n);
        return 3;
      }
    }
    std::printf("all %llu sequences intact\n", static_cast<unsigned long long>(last));
    return 0;
  }
  if (mode == "storm") {
    for (uint64_t seed = 1;; ++seed) {
      const size_t n = StormLength(seed);
      const auto tokens = SeqTokens(seed, n);
      auto ins = (*store)->Insert(*model, tokens, testing::MakeKv(desc, tokens, n, seed));
      if (!ins.ok()) return Fail(ins.status());
      if (seed % 3 == 0) {
        Status s = (*store)->Flush();
        if (!s.ok()) return Fail(s);
        // Every sequence up to this seed is acknowledged durable.
        std::printf("flushed %llu\n", static_cast<unsigned long long>(seed));
        std::fflush(stdout);
      }
    }
  }
  return 2;
}
