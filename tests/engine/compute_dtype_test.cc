// The compute dtype apart from the KV dtype: how `auto` chooses, that the
// choice is part of the model's identity, that warm equals cold for each
// compute dtype, and that a bf16 checkpoint computed in f32 matches a plain
// f32 reference decoder written the way transformers' modeling code is.
#include "engine/compute_dtype.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "engine/model_maker.h"
#include "engine/safetensors.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

using testing::TempDir;

std::string CpuInfo() {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether this CPU has what libtorch 1.13 needs to send bf16 matmul to oneDNN.
bool CpuHasAvx512ForOneDnn() {
  const std::string info = CpuInfo();
  for (const char* flag : {" avx512bw", " avx512vl", " avx512dq"}) {
    if (info.find(flag) == std::string::npos) return false;
  }
  return true;
}

// Native bf16 dot products: oneDNN's bf16 matmul is then clearly faster than f32.
bool CpuHasAvx512Bf16() { return CpuInfo().find(" avx512_bf16") != std::string::npos; }

// Turns libtorch's oneDNN off for a scope: bf16 matmul then runs the same
// scalar fallback as on a CPU without AVX-512.
class OneDnnOff {
 public:
  OneDnnOff() : was_(at::globalContext().userEnabledMkldnn()) {
    at::globalContext().setUserEnabledMkldnn(false);
  }
  ~OneDnnOff() { at::globalContext().setUserEnabledMkldnn(was_); }

 private:
  bool was_;
};

TEST(ComputeDTypeRuleTest, Bf16OnlyWhereAccelerated) {
  // Measured on this project's machines (GFLOP/s, 2 threads).
  EXPECT_EQ(ComputeDTypeFor({/*f32=*/90, /*bf16=*/2.2}), DType::kF32);  // Zen 3, scalar bf16
  EXPECT_EQ(ComputeDTypeFor({25.7, 1.0}), DType::kF32);                 // oneDNN off
  EXPECT_EQ(ComputeDTypeFor({60, 500}), DType::kBF16);                  // Zen 4, avx512_bf16
  EXPECT_EQ(ComputeDTypeFor({90, 45}), DType::kBF16);                   // emulated bf16
  EXPECT_EQ(ComputeDTypeFor({100, 25}), DType::kBF16);                  // the boundary
  EXPECT_EQ(ComputeDTypeFor({100, 24.9}), DType::kF32);
}

TEST(ComputeDTypeRuleTest, ExplicitAndImpliedChoicesRunNoProbe) {
  auto f32 = ChooseComputeDType(DType::kF32, DType::kBF16, /*cpu=*/true);
  ASSERT_OK(f32.status());
  EXPECT_EQ(f32->dtype, DType::kF32);
  EXPECT_FALSE(f32->auto_chosen);
  EXPECT_FALSE(f32->probe.has_value());

  auto f32_kv = ChooseComputeDType(std::nullopt, DType::kF32, true);
  ASSERT_OK(f32_kv.status());
  EXPECT_EQ(f32_kv->dtype, DType::kF32);
  EXPECT_FALSE(f32_kv->probe.has_value());

  auto cuda = ChooseComputeDType(std::nullopt, DType::kF16, /*cpu=*/false);
  ASSERT_OK(cuda.status());
  EXPECT_EQ(cuda->dtype, DType::kF16);

  auto f16_cpu = ChooseComputeDType(DType::kF16, DType::kBF16, true);
  EXPECT_TRUE(f16_cpu.status().IsInvalidArgument());
  EXPECT_NE(f16_cpu.status().ToString().find("f16 is not supported on the CPU"), std::string::npos)
      << f16_cpu.status().ToString();
}

TEST(ComputeDTypeProbeTest, AutoPicksWhatTheProbeMeasures) {
  at::set_num_threads(2);
  auto choice = ChooseComputeDType(std::nullopt, DType::kBF16, /*cpu=*/true);
  ASSERT_OK(choice.status());
  ASSERT_TRUE(choice->probe.has_value());
  EXPECT_TRUE(choice->auto_chosen);
  EXPECT_GT(choice->probe->f32_gflops, 0);
  EXPECT_GT(choice->probe->bf16_gflops, 0);
  EXPECT_EQ(choice->dtype, ComputeDTypeFor(*choice->probe));
  // And the measurement agrees with the CPU's features: without AVX-512
  // libtorch runs bf16 matmul in scalar code; with avx512_bf16 oneDNN runs it
  // natively. (AVX-512 without avx512_bf16 emulates bf16 in oneDNN: either
  // choice may be right there, the probe decides.)
  const std::string measured = "f32 " + std::to_string(choice->probe->f32_gflops) +
                               " GFLOP/s, bf16 " + std::to_string(choice->probe->bf16_gflops);
  if (!CpuHasAvx512ForOneDnn()) {
    EXPECT_EQ(choice->dtype, DType::kF32) << measured;
  }
  if (CpuHasAvx512ForOneDnn() && CpuHasAvx512Bf16()) {
    EXPECT_EQ(choice->dtype, DType::kBF16) << measured;
  }
  EXPECT_NE(choice->reason.find("measured at start"), std::string::npos) << choice->reason;
}

TEST(ComputeDTypeProbeTest, WithoutOneDnnAutoComputesInF32) {
  at::set_num_threads(2);
  OneDnnOff off;
  auto choice = ChooseComputeDType(std::nullopt, DType::kBF16, /*cpu=*/true);
  ASSERT_OK(choice.status());
  ASSERT_TRUE(choice->probe.has_value());
  EXPECT_EQ(choice->dtype, DType::kF32)
      << "f32 " << choice->probe->f32_gflops << " GFLOP/s, bf16 " << choice->probe->bf16_gflops;
  EXPECT_NE(choice->reason.find("not accelerated"), std::string::npos) << choice->reason;
}

class ComputeDTypeModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    MakeModelOptions make;
    make.preset = "tiny";
    make.seed = 11;
    make.dtype = DType::kBF16;
    ASSERT_OK(MakeModel(dir_->Sub("tiny-bf16"), make));
    for (DType compute : {DType::kF32, DType::kBF16}) {
      ModelLoadOptions load;
      load.threads = 2;
      load.compute_dtype = compute;
      auto model = LlamaModel::Load(dir_->Sub("tiny-bf16"), load);
      ASSERT_OK(model.status());
      (compute == DType::kF32 ? f32_ : bf16_) = std::move(model).value().release();
    }
  }
  static void TearDownTestSuite() {
    delete f32_;
    delete bf16_;
    delete dir_;
  }

  static std::unique_ptr<Store> OpenStore(const std::string& path) {
    StoreOptions options;
    options.path = path;
    options.device = "cpu";
    options.device_budget_bytes = 0;  // every hit comes from disk
    auto store = Store::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }

  static std::unique_ptr<Engine> NewEngine(const LlamaModel* model, Store* store) {
    EngineOptions options;
    options.context = 512;
    options.prefill_chunk = 48;
    options.block_tokens = 16;
    options.use_stored_logits = false;  // the last token runs through the model
    auto engine = Engine::Create(model, store, options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return std::move(engine).value();
  }

  static std::vector<int32_t> Prompt(size_t n) {
    std::vector<int32_t> t(n);
    for (size_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 53 + 5) % 500);
    return t;
  }

  static double MaxDiff(const at::Tensor& a, const at::Tensor& b) {
    return (a - b).abs().max().item<double>();
  }

  static TempDir* dir_;
  static LlamaModel* f32_;   // bf16 checkpoint, f32 compute, bf16 KV
  static LlamaModel* bf16_;  // bf16 checkpoint, bf16 compute, bf16 KV
};

TempDir* ComputeDTypeModelTest::dir_ = nullptr;
LlamaModel* ComputeDTypeModelTest::f32_ = nullptr;
LlamaModel* ComputeDTypeModelTest::bf16_ = nullptr;

TEST_F(ComputeDTypeModelTest, KvKeepsTheCheckpointDtypeWhateverTheCompute) {
  for (const LlamaModel* m : {f32_, bf16_}) {
    EXPECT_EQ(m->kv_dtype(), DType::kBF16);
    auto cache = m->NewCache(8);
    ASSERT_OK(cache.status());
    EXPECT_EQ(cache->keys[0].scalar_type(), at::kBFloat16);
  }
  EXPECT_EQ(f32_->compute_dtype(), DType::kF32);
  EXPECT_EQ(bf16_->compute_dtype(), DType::kBF16);
  // The f32 copy of the weights is made once, at load, and its cost known.
  EXPECT_GT(f32_->converted_weight_bytes(), 0u);
  EXPECT_EQ(bf16_->converted_weight_bytes(), 0u);  // used in place
}

TEST_F(ComputeDTypeModelTest, ComputeDtypeIsPartOfTheIdentity) {
  auto f32_id = f32_->Describe(16).Fingerprint();
  auto bf16_id = bf16_->Describe(16).Fingerprint();
  ASSERT_OK(f32_id.status());
  ASSERT_OK(bf16_id.status());
  EXPECT_NE(*f32_id, *bf16_id);
  EXPECT_EQ(f32_->Describe(16).extra.at("compute_dtype"), "f32");
  // Equal compute and KV dtypes add nothing, so ids of older stores hold.
  EXPECT_EQ(bf16_->Describe(16).extra.count("compute_dtype"), 0u);
}

TEST_F(ComputeDTypeModelTest, AStoreNeverServesOneComputeDtypeToTheOther) {
  TempDir store_dir;
  auto store = OpenStore(store_dir.path());
  const auto tokens = Prompt(100);
  {
    auto engine = NewEngine(f32_, store.get());
    ASSERT_OK(engine->Prefill(tokens, nullptr).status());
    ASSERT_OK(store->Insert(engine->model_id(), tokens, engine->cache()).status());
  }
  PrefillStats other, same;
  ASSERT_OK(NewEngine(bf16_, store.get())->Prefill(tokens, &other).status());
  EXPECT_EQ(other.reused_tokens, 0u);
  ASSERT_OK(NewEngine(f32_, store.get())->Prefill(tokens, &same).status());
  EXPECT_EQ(same.reused_tokens, 100u);
}

// Warm (K/V loaded from disk) equals cold for each compute dtype, and greedy
// generations are token-identical.
TEST_F(ComputeDTypeModelTest, WarmEqualsColdForEachComputeDtype) {
  const auto tokens = Prompt(150);  // 9 blocks + 6: the last chunk is partial
  for (const LlamaModel* m : {f32_, bf16_}) {
    SCOPED_TRACE(DTypeName(m->compute_dtype()));
    TempDir store_dir;
    GenerateOptions gen;
    gen.max_new_tokens = 12;
    gen.stop_at_eos = false;
    Result<Generation> cold = Status::Aborted("not run");
    {
      auto store = OpenStore(store_dir.path());
      cold = NewEngine(m, store.get())->Generate(tokens, gen);
      ASSERT_OK(cold.status());
      ASSERT_OK(store->Close());
    }
    auto store = OpenStore(store_dir.path());
    auto warm = NewEngine(m, store.get())->Generate(tokens, gen);
    ASSERT_OK(warm.status());
    EXPECT_EQ(warm->prefill.reused_disk, 150u);
    EXPECT_EQ(warm->tokens, cold->tokens);
    // f32 arithmetic over the same rounded K/V: equal up to summation order.
    const double tolerance = m->compute_dtype() == DType::kF32 ? 1e-4 : 5e-2;
    EXPECT_LE(MaxDiff(warm->prompt_logits, cold->prompt_logits), tolerance);
  }
}

// A decoder written the way transformers' modeling code computes (RMSNorm,
// rotate_half RoPE, repeat_kv GQA, full causal mask, f32 softmax, SwiGLU),
// in f32 on weights read straight from the safetensors, with K/V rounded to
// the KV dtype as a bf16 cache holds them. Returns the last token's logits.
at::Tensor ReferenceLogits(const std::string& dir, const std::vector<int32_t>& tokens,
                           bool round_kv_to_bf16) {
  auto config = ModelConfig::FromFile(dir + "/config.json");
  EXPECT_TRUE(config.ok());
  const ModelConfig& c = *config;
  auto weights = SafetensorsModel::Open(dir);
  EXPECT_TRUE(weights.ok());
  auto w = [&](const std::string& name) {
    TensorView v = (*weights)->Get(name).value();
    const auto stored = ToScalarType(v.dtype).value();
    return at::from_blob(const_cast<char*>(v.data), v.shape, at::TensorOptions().dtype(stored))
        .to(at::kFloat);
  };
  auto rms = [&](const at::Tensor& x, const at::Tensor& g) {
    return g * (x * at::rsqrt(x.pow(2).mean(-1, true) + c.rms_norm_eps));
  };
  auto rotate_half = [](const at::Tensor& x) {
    const int64_t half = x.size(-1) / 2;
    return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  };
  const int64_t n = static_cast<int64_t>(tokens.size()), hd = c.head_dim;
  const int64_t group = c.num_heads / c.num_kv_heads;
  at::Tensor ids = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()));
  at::Tensor x = w("model.embed_tokens.weight").index_select(0, ids);
  at::Tensor inv_freq =
      1.0 / at::pow(c.rope_theta, at::arange(0, hd, 2, at::kDouble) / static_cast<double>(hd));
  at::Tensor freqs = at::outer(at::arange(n, at::kDouble), inv_freq);
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos().to(at::kFloat), sin = emb.sin().to(at::kFloat);
  at::Tensor mask = at::full({n, n}, -INFINITY).triu(1);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    at::Tensor h = rms(x, w(p + "input_layernorm.weight"));
    at::Tensor q = at::linear(h, w(p + "self_attn.q_proj.weight"), w(p + "self_attn.q_proj.bias"));
    at::Tensor k = at::linear(h, w(p + "self_attn.k_proj.weight"), w(p + "self_attn.k_proj.bias"));
    at::Tensor v = at::linear(h, w(p + "self_attn.v_proj.weight"), w(p + "self_attn.v_proj.bias"));
    q = q.view({n, c.num_heads, hd}).transpose(0, 1);  // [heads, n, hd]
    k = k.view({n, c.num_kv_heads, hd}).transpose(0, 1);
    v = v.view({n, c.num_kv_heads, hd}).transpose(0, 1);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    if (round_kv_to_bf16) {
      k = k.to(at::kBFloat16).to(at::kFloat);
      v = v.to(at::kBFloat16).to(at::kFloat);
    }
    k = k.repeat_interleave(group, 0);  // repeat_kv
    v = v.repeat_interleave(group, 0);
    at::Tensor scores = at::matmul(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(hd));
    at::Tensor attn = at::matmul(at::softmax(scores + mask, -1), v);
    attn = attn.transpose(0, 1).reshape({n, c.num_heads * hd});
    x = x + at::linear(attn, w(p + "self_attn.o_proj.weight"));
    h = rms(x, w(p + "post_attention_layernorm.weight"));
    x = x + at::linear(at::silu(at::linear(h, w(p + "mlp.gate_proj.weight"))) *
                           at::linear(h, w(p + "mlp.up_proj.weight")),
                       w(p + "mlp.down_proj.weight"));
  }
  x = rms(x.narrow(0, n - 1, 1), w("model.norm.weight"));
  return at::linear(x, w("model.embed_tokens.weight"));  // tied embeddings
}

TEST_F(ComputeDTypeModelTest, F32ComputeOfABf16CheckpointMatchesTheF32Reference) {
  const auto tokens = Prompt(90);
  const at::Tensor reference = ReferenceLogits(dir_->Sub("tiny-bf16"), tokens, true);
  auto f32 = NewEngine(f32_, nullptr)->Prefill(tokens, nullptr);
  auto bf16 = NewEngine(bf16_, nullptr)->Prefill(tokens, nullptr);
  ASSERT_OK(f32.status());
  ASSERT_OK(bf16.status());
  const double f32_error = MaxDiff(*f32, reference), bf16_error = MaxDiff(*bf16, reference);
  // Both round K/V to bf16; a last-bit difference in f32 may round a value
  // to the neighbouring bf16 (2^-8 apart), hence more than f32's 1e-4 (the
  // logits span about +-14 here).
  EXPECT_LE(f32_error, 2e-3);
  // bf16 arithmetic is visibly further from the f32 reference: the test
  // tells the two paths apart.
  EXPECT_GT(bf16_error, 10 * f32_error) << "f32 " << f32_error << ", bf16 " << bf16_error;
  // And the rounding of K/V into the bf16 cache is what the engine does.
  const at::Tensor unrounded = ReferenceLogits(dir_->Sub("tiny-bf16"), tokens, false);
  EXPECT_GT(MaxDiff(unrounded, reference), f32_error);
}

}  // namespace
}  // namespace kvstash
