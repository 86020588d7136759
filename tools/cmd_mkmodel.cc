// kvstash mkmodel: writes a model directory with deterministic random weights.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/model_maker.h"
#include "tools/commands.h"

namespace kvstash::cli {

void AddMkmodelCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string out, preset = "tiny", dtype = "f32";
    uint64_t seed = 0;
    int shards = 1;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "mkmodel", "Write a Hugging Face model directory with deterministic random weights");
  cmd->add_option("--out", flags->out, "Directory to write")->required();
  cmd->add_option("--preset", flags->preset, "tiny (tests) or qwen2.5-0.5b (benchmarks)")
      ->check(CLI::IsMember(ModelPresets()))
      ->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Weights seed")->capture_default_str();
  cmd->add_option("--dtype", flags->dtype, "Weights dtype")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}))
      ->capture_default_str();
  cmd->add_option("--shards", flags->shards, "Safetensors shards (with an index if > 1)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  cmd->callback([flags, action] {
    *action = [flags] {
      const auto start = std::chrono::steady_clock::now();
      MakeModelOptions options;
      options.preset = flags->preset;
      options.seed = flags->seed;
      options.dtype = ParseDType(flags->dtype).value();
      options.shards = flags->shards;
      Status s = MakeModel(flags->out, options);
      if (!s.ok()) return Fail("mkmodel", s);
      uint64_t bytes = 0;
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(flags->out, ec)) {
        if (e.is_regular_file()) bytes += e.file_size(ec);
      }
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      if (flags->json) {
        nlohmann::json j = {{"dir", flags->out},     {"preset", flags->preset},
                            {"dtype", flags->dtype}, {"seed", flags->seed},
                            {"bytes", bytes},        {"ms", ms}};
        PrintJson(j);
      } else {
        std::printf("wrote %s: preset %s, %s, seed %llu, %s in %s\n", flags->out.c_str(),
                    flags->preset.c_str(), flags->dtype.c_str(),
                    static_cast<unsigned long long>(flags->seed), HumanBytes(bytes).c_str(),
                    HumanMs(ms).c_str());
      }
      return kExitOk;
    };
  });
}

}  // namespace kvstash::cli
