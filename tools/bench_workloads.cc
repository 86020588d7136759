// kvstash bench workloads: the prompts users actually send, each next to its
// cold baseline in the same run.
//
//   doc-question   a stored document followed by a new question: the
//                  document's KV is loaded, the question prefilled.
//   chat           a multi-turn conversation: each prompt is the previous
//                  prompt + its answer + a new user turn.
//   system-prompt  many users behind one stored system prompt.
//   miss           a prompt the store has never seen, with the store on
//                  versus no store at all: what the store costs on a miss.
//
// Every warm request runs on a fresh engine over one store whose device tier
// is off, so all reuse comes from the disk tier as in a restarted process.
// Writes are flushed between requests (untimed) so the background writer of
// one request never runs during the next one's timing.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/engine.h"
#include "engine/llama_model.h"
#include "tools/bench_util.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

const char* const kWorkloads[] = {"doc-question", "chat", "system-prompt", "miss"};

struct WorkloadFlags {
  BenchModelFlags model;
  std::string workloads = "doc-question,chat,system-prompt,miss";
  size_t doc_tokens = 2048, question_tokens = 32;
  size_t turns = 8, first_turn_tokens = 256, user_turn_tokens = 64, answer_tokens = 32;
  size_t system_tokens = 1024, users = 20;
  size_t miss_tokens = 2048;
  int repeat = 3;
  bool json = false;
};

// One line of results: a step of a workload, medians over its requests.
struct WorkloadRow {
  WorkloadRow(std::string w, std::string s) : workload(std::move(w)), step(std::move(s)) {}
  std::string workload, step;
  size_t requests = 0;
  size_t prompt_tokens = 0, reused_tokens = 0, computed_tokens = 0;
  std::vector<double> cold_ttft, warm_ttft, load;

  double Cold() const { return Median(cold_ttft); }
  double Warm() const { return Median(warm_ttft); }
  double LoadMs() const { return Median(load); }
  // The model's part of a warm TTFT: what the load did not take.
  double ModelMs() const { return std::max(0.0, Warm() - LoadMs()); }
  double LoadShare() const { return Warm() > 0 ? LoadMs() / Warm() : 0; }
  double Speedup() const { return Warm() > 0 ? Cold() / Warm() : 0; }
};

// Token ids below `vocab` that depend on (`salt`, position), so differently
// salted spans share no prefix.
std::vector<int32_t> Span(size_t length, uint64_t salt, int64_t vocab) {
  std::vector<int32_t> tokens(length);
  uint64_t x = salt * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < length; ++i) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 29;
    tokens[i] = static_cast<int32_t>((x + i) % static_cast<uint64_t>(vocab));
  }
  return tokens;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class Workloads {
 public:
  Workloads(const LlamaModel& model, const WorkloadFlags& flags, Store* store)
      : model_(model), f_(flags), store_(store), vocab_(model.config().vocab_size) {}

  Status Init() {
    EngineOptions options;
    options.context = 1024;  // grows as prompts need
    KVSTASH_ASSIGN_OR_RETURN(cold_engine_, Engine::Create(&model_, nullptr, options));
    return Status::OK();
  }

  std::vector<WorkloadRow>& rows() { return rows_; }

  // The document is stored by a first request (untimed); each question is
  // then a new request, warm and cold.
  Status DocQuestion() {
    const std::vector<int32_t> doc = Span(f_.doc_tokens, 1, vocab_);
    KVSTASH_RETURN_IF_ERROR(StorePrompt(doc));
    WorkloadRow row("doc-question", "question");
    for (int r = 0; r < f_.repeat; ++r) {
      const auto prompt = Concat(doc, Span(f_.question_tokens, 100 + r, vocab_));
      KVSTASH_RETURN_IF_ERROR(Measure(prompt, /*insert=*/false, &row).status());
    }
    rows_.push_back(row);
    return Status::OK();
  }

  // Conversations of `turns` turns; each answer is generated greedily (and
  // stored with its prompt), and the next turn quotes it.
  Status Chat() {
    std::vector<WorkloadRow> turns;
    for (size_t t = 0; t < f_.turns; ++t) {
      turns.push_back(WorkloadRow("chat", "turn " + std::to_string(t + 1)));
    }
    for (int r = 0; r < f_.repeat; ++r) {
      std::vector<int32_t> prompt = Span(f_.first_turn_tokens, 200 + r, vocab_);
      for (size_t t = 0; t < f_.turns; ++t) {
        KVSTASH_ASSIGN_OR_RETURN(std::vector<int32_t> answer,
                                 Measure(prompt, /*insert=*/true, &turns[t], f_.answer_tokens));
        if (t + 1 == f_.turns) break;
        prompt =
            Concat(Concat(prompt, answer), Span(f_.user_turn_tokens, 1000 * (r + 1) + t, vocab_));
      }
    }
    rows_.insert(rows_.end(), turns.begin(), turns.end());
    return Status::OK();
  }

  // The first user's request prefills and stores the system prompt (a miss,
  // with the store on); every later user's reuses it.
  Status SystemPrompt() {
    const std::vector<int32_t> system = Span(f_.system_tokens, 3, vocab_);
    WorkloadRow first("system-prompt", "first user"), users{"system-prompt", "other users"};
    KVSTASH_RETURN_IF_ERROR(
        Measure(Concat(system, Span(f_.question_tokens, 300, vocab_)), true, &first).status());
    for (size_t u = 1; u < f_.users; ++u) {
      const auto prompt = Concat(system, Span(f_.question_tokens, 300 + u, vocab_));
      // Users' prompts are equally long: a cold baseline for `repeat` of
      // them stands for all.
      const bool cold = u <= static_cast<size_t>(f_.repeat);
      KVSTASH_RETURN_IF_ERROR(Measure(prompt, true, &users, 1, cold).status());
    }
    rows_.push_back(first);
    if (f_.users > 1) rows_.push_back(users);
    return Status::OK();
  }

  // New prompts, each once with the store (match, then insert after the
  // first token) and once without; interleaved so drift hits both alike.
  // Both run on a long-lived engine, as a serving process does, so the
  // difference is the store's alone (not a fresh engine's first pass).
  Status Miss() {
    WorkloadRow row("miss", "new prompt");
    EngineOptions options;
    options.context = f_.miss_tokens + 8;
    KVSTASH_ASSIGN_OR_RETURN(auto engine, Engine::Create(&model_, store_, options));
    for (int r = 0; r < f_.repeat; ++r) {
      const auto prompt = Span(f_.miss_tokens, 400 + r, vocab_);
      KVSTASH_RETURN_IF_ERROR(Measure(prompt, true, &row, 1, true, engine.get()).status());
    }
    rows_.push_back(row);
    return Status::OK();
  }

 private:
  // Stores `prompt`'s KV as a request would, untimed.
  Status StorePrompt(const std::vector<int32_t>& prompt) {
    BenchRequest request;
    request.insert = true;
    KVSTASH_RETURN_IF_ERROR(RunBenchRequest(model_, store_, prompt, request).status());
    return store_->Flush();
  }

  // One warm request (a fresh engine on the store, or `engine`) and, if
  // `cold`, one cold request (no store) of the same prompt. Returns the
  // generated tokens.
  Result<std::vector<int32_t>> Measure(const std::vector<int32_t>& prompt, bool insert,
                                       WorkloadRow* row, size_t new_tokens = 1, bool cold = true,
                                       Engine* engine = nullptr) {
    BenchRequest request;
    request.insert = insert;
    request.new_tokens = new_tokens;
    // Alternate which goes first, so drift (caches, clocks) hits both alike.
    const bool cold_first = row->requests % 2 == 1;
    Generation base;
    if (cold && cold_first) {
      KVSTASH_ASSIGN_OR_RETURN(base, RunCold(prompt));
    }
    KVSTASH_ASSIGN_OR_RETURN(Generation warm,
                             RunBenchRequest(model_, store_, prompt, request, engine));
    KVSTASH_RETURN_IF_ERROR(store_->Flush());
    if (cold && !cold_first) {
      KVSTASH_ASSIGN_OR_RETURN(base, RunCold(prompt));
    }
    row->warm_ttft.push_back(warm.ttft_ms);
    row->load.push_back(warm.prefill.load_ms);
    row->prompt_tokens = prompt.size();
    row->reused_tokens = warm.prefill.reused_tokens;
    row->computed_tokens = warm.prefill.computed_tokens;
    ++row->requests;
    if (cold) {
      if (base.tokens.empty() || warm.tokens.empty() || base.tokens[0] != warm.tokens[0]) {
        return Status::Aborted(
            "bench: the warm request's first token differs from the cold "
            "one's (" +
            row->workload + ", " + row->step + ")");
      }
      row->cold_ttft.push_back(base.ttft_ms);
    }
    return warm.tokens;
  }

  // The baseline: the same prompt on an engine without a store.
  Result<Generation> RunCold(const std::vector<int32_t>& prompt) {
    return RunBenchRequest(model_, nullptr, prompt, BenchRequest{}, cold_engine_.get());
  }

  const LlamaModel& model_;
  const WorkloadFlags& f_;
  kvstash::Store* store_;
  const int64_t vocab_;
  std::unique_ptr<Engine> cold_engine_;
  std::vector<WorkloadRow> rows_;
};

Result<std::vector<std::string>> ParseWorkloads(const std::string& flag) {
  std::vector<std::string> chosen;
  for (const std::string& w : SplitList(flag)) {
    if (std::find(std::begin(kWorkloads), std::end(kWorkloads), w) == std::end(kWorkloads)) {
      return Status::InvalidArgument("--workloads: unknown workload '" + w +
                                     "' (doc-question, chat, system-prompt, miss)");
    }
    chosen.push_back(w);
  }
  if (chosen.empty()) return Status::InvalidArgument("--workloads: name at least one");
  return chosen;
}

nlohmann::json RowJson(const WorkloadRow& r) {
  const double warm = r.Warm(), cold = r.Cold();
  nlohmann::json j = {
      {"workload", r.workload},
      {"step", r.step},
      {"requests", r.requests},
      {"prompt_tokens", r.prompt_tokens},
      {"reused_tokens", r.reused_tokens},
      {"computed_tokens", r.computed_tokens},
      {"cold_ttft_ms", cold},
      {"warm_ttft_ms", warm},
      {"warm_ttft_ms_min", *std::min_element(r.warm_ttft.begin(), r.warm_ttft.end())},
      {"warm_ttft_ms_max", *std::max_element(r.warm_ttft.begin(), r.warm_ttft.end())},
      {"load_ms", r.LoadMs()},
      {"model_ms", r.ModelMs()},
      {"load_share", r.LoadShare()},
      {"speedup", r.Speedup()}};
  // On a miss the store can only cost: say how much, against no store.
  if (r.workload == "miss" || r.step == "first user") {
    j["store_overhead"] = cold > 0 ? warm / cold - 1 : 0;
  }
  return j;
}

void PrintRows(const std::vector<WorkloadRow>& rows) {
  std::printf("%-14s %-12s %7s %7s %8s %11s %11s %10s %10s %6s %8s\n", "workload", "step", "prompt",
              "reused", "computed", "cold TTFT", "warm TTFT", "load", "model", "load%", "speedup");
  for (const WorkloadRow& r : rows) {
    std::printf("%-14s %-12s %7zu %7zu %8zu %11s %11s %10s %10s %5.1f%% %7.2fx\n",
                r.workload.c_str(), r.step.c_str(), r.prompt_tokens, r.reused_tokens,
                r.computed_tokens, HumanMs(r.Cold()).c_str(), HumanMs(r.Warm()).c_str(),
                HumanMs(r.LoadMs()).c_str(), HumanMs(r.ModelMs()).c_str(), 100 * r.LoadShare(),
                r.Speedup());
  }
}

int RunWorkloads(const WorkloadFlags& f) {
  auto chosen = ParseWorkloads(f.workloads);
  if (!chosen.ok()) return Fail("bench", chosen.status());
  if (f.doc_tokens < 1 || f.question_tokens < 1 || f.turns < 1 || f.first_turn_tokens < 1 ||
      f.user_turn_tokens < 1 || f.answer_tokens < 1 || f.system_tokens < 1 || f.users < 1 ||
      f.miss_tokens < 1) {
    return Fail("bench", Status::InvalidArgument("every token count and count must be >= 1"));
  }
  auto work = TempWorkDir();
  if (!work.ok()) return Fail("bench", work.status());
  std::unique_ptr<LlamaModel> model;
  std::vector<WorkloadRow> rows;
  Status status = [&]() -> Status {
    KVSTASH_ASSIGN_OR_RETURN(model, LoadBenchModel(f.model, *work));
    for (const std::string& name : *chosen) {
      // A store of its own per workload: none sees another's blocks.
      KVSTASH_ASSIGN_OR_RETURN(auto store,
                               OpenBenchStore(*work + "/store-" + name, 0, f.model.load.device));
      Workloads w(*model, f, store.get());
      KVSTASH_RETURN_IF_ERROR(w.Init());
      if (name == "doc-question") KVSTASH_RETURN_IF_ERROR(w.DocQuestion());
      if (name == "chat") KVSTASH_RETURN_IF_ERROR(w.Chat());
      if (name == "system-prompt") KVSTASH_RETURN_IF_ERROR(w.SystemPrompt());
      if (name == "miss") KVSTASH_RETURN_IF_ERROR(w.Miss());
      KVSTASH_RETURN_IF_ERROR(store->Close());
      rows.insert(rows.end(), w.rows().begin(), w.rows().end());
    }
    return Status::OK();
  }();
  RemoveWorkDir(*work);
  if (!status.ok()) return Fail("bench", status);

  if (f.json) {
    nlohmann::json j = {{"model", BenchModelName(f.model)},
                        {"repeat", f.repeat},
                        {"threads", f.model.load.threads},
                        {"results", nlohmann::json::array()}};
    j.update(ComputeJson(*model));
    for (const WorkloadRow& r : rows) j["results"].push_back(RowJson(r));
    PrintJson(j, 2);
  } else {
    std::printf(
        "model %s, KV %s, compute %s, %d repeat(s); warm = a fresh engine on a disk store\n",
        BenchModelName(f.model).c_str(), DTypeName(model->kv_dtype()),
        DTypeName(model->compute_dtype()), f.repeat);
    PrintRows(rows);
  }
  return kExitOk;
}

}  // namespace

void AddBenchWorkloadsCommand(CLI::App& bench, Action* action) {
  auto f = std::make_shared<WorkloadFlags>();
  CLI::App* cmd = bench.add_subcommand(
      "workloads",
      "TTFT of what users send (document + question, chat, shared system prompt, a miss), "
      "warm next to cold");
  AddBenchModelFlags(cmd, &f->model);
  cmd->add_option("--workloads", f->workloads,
                  "Comma-separated: doc-question, chat, system-prompt, miss")
      ->check(CLI::Validator(
          [](std::string& value) {
            auto parsed = ParseWorkloads(value);
            return parsed.ok() ? std::string() : parsed.status().message();
          },
          "WORKLOAD[,WORKLOAD...]"))
      ->capture_default_str();
  cmd->add_option("--doc-tokens", f->doc_tokens, "doc-question: stored document")
      ->capture_default_str();
  cmd->add_option("--question-tokens", f->question_tokens,
                  "doc-question and system-prompt: each new question")
      ->capture_default_str();
  cmd->add_option("--turns", f->turns, "chat: turns per conversation")->capture_default_str();
  cmd->add_option("--first-turn-tokens", f->first_turn_tokens, "chat: the first prompt")
      ->capture_default_str();
  cmd->add_option("--user-turn-tokens", f->user_turn_tokens, "chat: each later user turn")
      ->capture_default_str();
  cmd->add_option("--answer-tokens", f->answer_tokens, "chat: tokens generated per answer")
      ->capture_default_str();
  cmd->add_option("--system-tokens", f->system_tokens, "system-prompt: the shared prefix")
      ->capture_default_str();
  cmd->add_option("--users", f->users, "system-prompt: users (the first stores the prefix)")
      ->capture_default_str();
  cmd->add_option("--miss-tokens", f->miss_tokens, "miss: each new prompt")->capture_default_str();
  cmd->add_option("--repeat", f->repeat,
                  "Questions, conversations and misses measured; cold baselines per workload")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--device", f->model.load.device, "auto, cpu or cuda[:N]")->capture_default_str();
  cmd->add_flag("--json", f->json, "Print one JSON document");
  cmd->callback([f, action] { *action = [f] { return RunWorkloads(*f); }; });
}

}  // namespace kvstash::cli
