// The engine's promise: logits after loading a cached prefix, from any tier,
// equal a cold full prefill, and reuse is exactly what it should be.
#include "engine/engine.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/model_maker.h"
#include "store/disk_tier.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::TempDir;

class EngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    MakeModelOptions options;
    options.preset = "tiny";
    options.seed = 7;
    ASSERT_OK(MakeModel(dir_->Sub("tiny-f32"), options));
    options.seed = 8;
    ASSERT_OK(MakeModel(dir_->Sub("tiny-f32-seed8"), options));
    ModelLoadOptions load;
    load.threads = 2;
    auto model = LlamaModel::Load(dir_->Sub("tiny-f32"), load);
    ASSERT_OK(model.status());
    model_ = std::move(model).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete dir_;
  }

  std::unique_ptr<Store> OpenStore(const std::string& path, uint64_t device_budget = 1ull << 30) {
    StoreOptions options;
    options.path = path;
    options.device = "cpu";
    options.device_budget_bytes = device_budget;
    auto store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }

  std::unique_ptr<Engine> NewEngine(Store* store, const LlamaModel* model = nullptr) {
    EngineOptions options;
    options.context = 1024;
    options.prefill_chunk = 48;  // several chunks, not aligned with blocks
    options.block_tokens = 16;
    auto engine = Engine::Create(model ? model : model_, store, options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return std::move(engine).value();
  }

  static std::vector<int32_t> Prompt(size_t n, int32_t salt = 0) {
    std::vector<int32_t> t(n);
    for (size_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 37 + 11 + salt) % 500);
    return t;
  }

  // Cold logits of the last token of `tokens` with no store at all.
  at::Tensor ColdLogits(const std::vector<int32_t>& tokens) {
    auto engine = NewEngine(nullptr);
    auto logits = engine->Prefill(tokens, nullptr);
    EXPECT_TRUE(logits.ok()) << logits.status().ToString();
    return logits.ok() ? *logits : at::Tensor();
  }

  static double MaxDiff(const at::Tensor& a, const at::Tensor& b) {
    return (a - b).abs().max().item<double>();
  }

  static TempDir* dir_;
  static LlamaModel* model_;
};

TempDir* EngineTest::dir_ = nullptr;
LlamaModel* EngineTest::model_ = nullptr;

TEST_F(EngineTest, ChunkedPrefillEqualsOnePass) {
  const auto tokens = Prompt(150);
  auto cache = model_->NewCache(256).value();
  auto one = model_->Forward(tokens.data(), 150, 0, cache);
  ASSERT_OK(one.status());
  EXPECT_LE(MaxDiff(*one, ColdLogits(tokens)), 1e-4);
}

TEST_F(EngineTest, WarmFromDeviceTierEqualsCold) {
  TempDir store_dir;
  auto store = OpenStore(store_dir.path());
  const auto tokens = Prompt(150);  // 9 full blocks + 6
  auto engine = NewEngine(store.get());
  PrefillStats first, second;
  ASSERT_OK(engine->Prefill(tokens, &first).status());
  EXPECT_EQ(first.reused_tokens, 0u);
  EXPECT_EQ(first.computed_tokens, 150u);
  ASSERT_OK(store->Insert(engine->model_id(), tokens, engine->cache()).status());

  auto engine2 = NewEngine(store.get());
  auto warm = engine2->Prefill(tokens, &second);
  ASSERT_OK(warm.status());
  EXPECT_EQ(second.reused_tokens, 150u);
  EXPECT_EQ(second.reused_device, 150u);
  EXPECT_EQ(second.computed_tokens, 1u);  // only the last token, for its logits
  EXPECT_LE(MaxDiff(*warm, ColdLogits(tokens)), 1e-4);
  // And the comparison has teeth: one token less gives clearly other logits.
  EXPECT_GT(MaxDiff(*warm, ColdLogits(Prompt(149))), 1e-2);
}

TEST_F(EngineTest, WarmFromDiskInTheSameProcessEqualsCold) {
  TempDir store_dir;
  const auto tokens = Prompt(200);
  {
    auto store = OpenStore(store_dir.path());
    auto engine = NewEngine(store.get());
    GenerateOptions g;
    g.max_new_tokens = 1;
    ASSERT_OK(engine->Generate(tokens, g).status());
    ASSERT_OK(store->Close());
  }
  // No device memory: everything comes from disk.
  auto store = OpenStore(store_dir.path(), /*device_budget=*/0);
  auto engine = NewEngine(store.get());
  PrefillStats st;
  auto warm = engine->Prefill(tokens, &st);
  ASSERT_OK(warm.status());
  EXPECT_EQ(st.reused_disk, 200u);
  EXPECT_LE(MaxDiff(*warm, ColdLogits(tokens)), 1e-4);
}

// A generation keeps the prompt's next-token logits; a warm start of exactly
// that prompt then runs nothing through the model and gets the cold logits
// bit for bit. Once the prompt's last block is gone, the record (still kept
// under its parent) must not be used: the engine computes again.
TEST_F(EngineTest, StoredLogitsAreUsedOnlyWhenTheWholePromptIsRestored) {
  TempDir store_dir;
  const auto tokens = Prompt(150);  // 9 full blocks + 6
  at::Tensor cold;
  {
    auto store = OpenStore(store_dir.path());
    auto engine = NewEngine(store.get());
    GenerateOptions g;
    g.max_new_tokens = 1;
    auto gen = engine->Generate(tokens, g);
    ASSERT_OK(gen.status());
    EXPECT_FALSE(gen->prefill.logits_reused);
    cold = gen->prompt_logits.clone();
    ASSERT_OK(store->Close());
  }
  auto store = OpenStore(store_dir.path(), /*device_budget=*/0);
  PrefillStats st;
  auto warm = NewEngine(store.get())->Prefill(tokens, &st);
  ASSERT_OK(warm.status());
  EXPECT_EQ(st.reused_disk, 150u);
  EXPECT_EQ(st.computed_tokens, 0u);
  EXPECT_TRUE(st.logits_reused);
  EXPECT_TRUE(at::equal(*warm, cold));

  // Turned off: the last token runs again, and agrees.
  EngineOptions off;
  off.context = 1024;
  off.block_tokens = 16;
  off.use_stored_logits = false;
  auto engine_off = Engine::Create(model_, store.get(), off).value();
  auto recomputed = engine_off->Prefill(tokens, &st);
  ASSERT_OK(recomputed.status());
  EXPECT_EQ(st.computed_tokens, 1u);
  EXPECT_FALSE(st.logits_reused);
  EXPECT_LE(MaxDiff(*recomputed, cold), 1e-4);

  // Delete the last (partial) block: only 144 tokens load, the record is
  // still stored (under block 8) but must not be used.
  auto match = store->Match(engine_off->model_id(), tokens);
  ASSERT_OK(match.status());
  const auto& last = match->pieces.back();
  ASSERT_OK(store->disk()->DeleteBlock(engine_off->model_id(), last.hash,
                                       match->pieces[match->pieces.size() - 2].hash));
  auto store2 = std::move(store);
  ASSERT_OK(store2->Close());
  store2 = OpenStore(store_dir.path(), /*device_budget=*/0);
  auto partial = NewEngine(store2.get())->Prefill(tokens, &st);
  ASSERT_OK(partial.status());
  EXPECT_EQ(st.reused_tokens, 144u);
  EXPECT_EQ(st.computed_tokens, 6u);
  EXPECT_FALSE(st.logits_reused);
  EXPECT_LE(MaxDiff(*partial, cold), 1e-4);
}

TEST_F(EngineTest, PrefixEndingMidBlockExtendingAndDivergingPrompts) {
  TempDir store_dir;
  auto store = OpenStore(store_dir.path());
  const auto base = Prompt(100);  // 6 blocks of 16 + 4
  {
    auto engine = NewEngine(store.get());
    ASSERT_OK(engine->Prefill(base, nullptr).status());
    ASSERT_OK(store->Insert(engine->model_id(), base, engine->cache()).status());
  }
  // Extends the cached prompt: reuses all 100 (incl. the 4 of the partial block).
  auto longer = Prompt(170);
  {
    auto engine = NewEngine(store.get());
    PrefillStats st;
    auto logits = engine->Prefill(longer, &st);
    ASSERT_OK(logits.status());
    EXPECT_EQ(st.reused_tokens, 100u);
    EXPECT_EQ(st.computed_tokens, 70u);
    EXPECT_LE(MaxDiff(*logits, ColdLogits(longer)), 1e-4);
    ASSERT_OK(store->Insert(engine->model_id(), longer, engine->cache()).status());
  }
  // Diverges after 3 blocks + 5 tokens: reuses exactly 53.
  auto diverging = longer;
  diverging[53] = (diverging[53] + 1) % 500;
  {
    auto engine = NewEngine(store.get());
    PrefillStats st;
    auto logits = engine->Prefill(diverging, &st);
    ASSERT_OK(logits.status());
    EXPECT_EQ(st.reused_tokens, 53u);
    EXPECT_LE(MaxDiff(*logits, ColdLogits(diverging)), 1e-4);
  }
  // A shorter prompt ending mid-block inside the cached one.
  auto shorter = Prompt(41);
  {
    auto engine = NewEngine(store.get());
    PrefillStats st;
    auto logits = engine->Prefill(shorter, &st);
    ASSERT_OK(logits.status());
    EXPECT_EQ(st.reused_tokens, 41u);
    EXPECT_LE(MaxDiff(*logits, ColdLogits(shorter)), 1e-4);
  }
}

TEST_F(EngineTest, GreedyGenerationIsIdenticalColdAndWarm) {
  TempDir store_dir;
  auto store = OpenStore(store_dir.path());
  const auto tokens = Prompt(120);
  GenerateOptions g;
  g.max_new_tokens = 12;
  g.stop_at_eos = false;
  auto cold = NewEngine(nullptr)->Generate(tokens, g);
  ASSERT_OK(cold.status());
  auto first = NewEngine(store.get())->Generate(tokens, g);
  ASSERT_OK(first.status());
  auto warm = NewEngine(store.get())->Generate(tokens, g);
  ASSERT_OK(warm.status());
  EXPECT_EQ(warm->prefill.reused_tokens, 120u);
  EXPECT_EQ(cold->tokens, first->tokens);
  EXPECT_EQ(cold->tokens, warm->tokens);
  // The generation itself was stored too: prompt + 11 generated tokens.
  auto extended = tokens;
  extended.insert(extended.end(), warm->tokens.begin(), warm->tokens.end() - 1);
  EXPECT_EQ(store->Match(NewEngine(store.get())->model_id(), extended)->tokens, extended.size());
}

TEST_F(EngineTest, SampledGenerationIsReproducibleWithASeed) {
  const auto tokens = Prompt(30);
  GenerateOptions g;
  g.max_new_tokens = 16;
  g.stop_at_eos = false;
  g.sampling.temperature = 1.0;
  g.sampling.top_k = 50;
  g.sampling.top_p = 0.9f;
  g.sampling.seed = 1234;
  auto a = NewEngine(nullptr)->Generate(tokens, g);
  auto b = NewEngine(nullptr)->Generate(tokens, g);
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  EXPECT_EQ(a->tokens, b->tokens);
  g.sampling.seed = 99;
  auto c = NewEngine(nullptr)->Generate(tokens, g);
  EXPECT_NE(a->tokens, c->tokens);
}

TEST_F(EngineTest, ModelWithAnotherSeedReusesNothing) {
  TempDir store_dir;
  auto store = OpenStore(store_dir.path());
  const auto tokens = Prompt(64);
  auto engine = NewEngine(store.get());
  ASSERT_OK(engine->Prefill(tokens, nullptr).status());
  ASSERT_OK(store->Insert(engine->model_id(), tokens, engine->cache()).status());

  ModelLoadOptions load;
  auto other = LlamaModel::Load(dir_->Sub("tiny-f32-seed8"), load);
  ASSERT_OK(other.status());
  auto other_engine = NewEngine(store.get(), other->get());
  EXPECT_NE(other_engine->model_id(), engine->model_id());
  PrefillStats st;
  ASSERT_OK(other_engine->Prefill(tokens, &st).status());
  EXPECT_EQ(st.reused_tokens, 0u);
}

TEST_F(EngineTest, TokenOutsideTheVocabularyIsAClearError) {
  auto engine = NewEngine(nullptr);
  std::vector<int32_t> tokens = {1, 2, 100000};
  auto s = engine->Prefill(tokens, nullptr).status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("token id 100000 outside the vocabulary [0, 512)"), std::string::npos)
      << s.ToString();
}

TEST_F(EngineTest, MissingTensorIsNamed) {
  TempDir broken;
  MakeModelOptions options;
  options.shards = 2;
  ASSERT_OK(MakeModel(broken.path(), options));
  // Sharded models load; dropping one shard's entry from the index breaks it.
  auto loaded = LlamaModel::Load(broken.path(), ModelLoadOptions{});
  ASSERT_OK(loaded.status());
  std::string index = broken.path() + "/model.safetensors.index.json";
  std::string text;
  {
    std::ifstream in(index);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string key = "\"model.embed_tokens.weight\"";
  size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos);
  size_t end = text.find_first_of(",}", text.find(':', at));
  if (text[end] == ',') ++end;
  text.erase(at, end - at);
  std::ofstream(index, std::ios::trunc) << text;
  auto broken_model = LlamaModel::Load(broken.path(), ModelLoadOptions{});
  ASSERT_FALSE(broken_model.ok());
  EXPECT_NE(broken_model.status().message().find("model.embed_tokens.weight"), std::string::npos)
      << broken_model.status().ToString();
}

}  // namespace
}  // namespace kvstash
