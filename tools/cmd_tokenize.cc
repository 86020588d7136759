// kvstash tokenize: text -> token ids, as llama.cpp's llama-tokenize prints them.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/model_config.h"
#include "engine/tokenizer.h"
#include "tools/commands.h"

namespace kvstash::cli {

void AddTokenizeCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string model, tokenizer, text, text_file;
    bool json = false, add_bos = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  auto* model = cmd->add_option("--model", flags->model, "Model directory (its tokenizer.json)");
  auto* tok = cmd->add_option("--tokenizer", flags->tokenizer, "A tokenizer.json file");
  model->excludes(tok);
  auto* text = cmd->add_option("--text", flags->text, "Text to tokenize");
  auto* file = cmd->add_option("--text-file", flags->text_file, "File whose text to tokenize");
  text->excludes(file);
  cmd->add_flag("--add-bos", flags->add_bos, "Prepend the model's BOS token (needs --model)");
  cmd->add_flag("--json", flags->json, "Print one JSON object");
  cmd->callback([flags, action] {
    *action = [flags]() -> int {
      if (flags->model.empty() == flags->tokenizer.empty()) {
        std::fprintf(stderr, "kvstash tokenize: give exactly one of --model or --tokenizer\n");
        return kExitUsage;
      }
      if (flags->text.empty() && flags->text_file.empty()) {
        std::fprintf(stderr, "kvstash tokenize: give --text or --text-file\n");
        return kExitUsage;
      }
      const std::string path =
          flags->model.empty() ? flags->tokenizer : flags->model + "/tokenizer.json";
      auto tokenizer = Tokenizer::FromFile(path);
      if (!tokenizer.ok()) return Fail("tokenize", tokenizer.status());
      std::string input = flags->text;
      if (!flags->text_file.empty()) {
        auto read = ReadTextFile(flags->text_file);
        if (!read.ok()) return Fail("tokenize", read.status());
        input = std::move(read).value();
      }
      auto ids = (*tokenizer)->Encode(input);
      if (!ids.ok()) return Fail("tokenize", ids.status());
      if (flags->add_bos) {
        if (flags->model.empty()) {
          std::fprintf(stderr, "kvstash tokenize: --add-bos needs --model (config.json)\n");
          return kExitUsage;
        }
        auto config = ModelConfig::FromFile(flags->model + "/config.json");
        if (!config.ok()) return Fail("tokenize", config.status());
        if (!config->bos_token_id) {
          return Fail("tokenize", Status::InvalidArgument("config.json has no bos_token_id"));
        }
        ids->insert(ids->begin(), *config->bos_token_id);
      }
      if (flags->json) {
        nlohmann::json j = {{"ids", *ids}, {"count", ids->size()}};
        PrintJson(j);
        return kExitOk;
      }
      std::string line;
      for (size_t i = 0; i < ids->size(); ++i) {
        if (i) line += ' ';
        line += std::to_string((*ids)[i]);
      }
      std::printf("%s\n", line.c_str());
      return kExitOk;
    };
  });
}

}  // namespace kvstash::cli
