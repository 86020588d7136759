#include "tools/model_flags.h"

#include <ATen/Context.h>

#include <cstdio>

#include "tools/cli_util.h"

namespace kvstash::cli {

void AddModelFlags(CLI::App* cmd, ModelFlags* f) {
  cmd->add_option("--kv-dtype,--dtype", f->kv_dtype,
                  "KV cache and stored block dtype (default: the checkpoint's)")
      ->check(CLI::IsMember({"f32", "bf16", "f16"}));
  cmd->add_option("--compute-dtype", f->compute_dtype,
                  "Weights and arithmetic dtype; auto: the KV dtype, or f32 where a probe at "
                  "start finds bf16 matmul unaccelerated")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "CPU threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_flag("--no-onednn", f->no_onednn,
                "Turn libtorch's oneDNN off, as on a CPU without AVX-512 (bf16 matmul then "
                "runs a scalar fallback): to measure or test that path");
}

Result<ModelLoadOptions> LoadOptionsFromFlags(const ModelFlags& f) {
  ModelLoadOptions load;
  load.device = f.device;
  load.threads = f.threads;
  if (!f.kv_dtype.empty()) {
    KVSTASH_ASSIGN_OR_RETURN(DType dtype, ParseDType(f.kv_dtype));
    load.kv_dtype = dtype;
  }
  if (f.compute_dtype != "auto") {
    KVSTASH_ASSIGN_OR_RETURN(DType dtype, ParseDType(f.compute_dtype));
    load.compute_dtype = dtype;
  }
  if (f.no_onednn) at::globalContext().setUserEnabledMkldnn(false);
  return load;
}

namespace {
bool HadAChoice(const LlamaModel& model) {
  return model.compute_choice().probe.has_value() || model.compute_dtype() != model.kv_dtype();
}
}  // namespace

void ReportComputeChoice(const LlamaModel& model) {
  if (!HadAChoice(model)) return;
  std::string converted;
  if (model.converted_weight_bytes() > 0) {
    converted = "; weights converted to " + std::string(DTypeName(model.compute_dtype())) +
                " once at load: " + HumanBytes(model.converted_weight_bytes()) + " in " +
                HumanMs(model.weights_convert_ms());
  }
  std::fprintf(stderr, "kvstash: computing in %s, KV in %s: %s%s\n",
               DTypeName(model.compute_dtype()), DTypeName(model.kv_dtype()),
               model.compute_choice().reason.c_str(), converted.c_str());
}

nlohmann::json ComputeJson(const LlamaModel& model) {
  const ComputeChoice& choice = model.compute_choice();
  nlohmann::json probe = nullptr;
  if (choice.probe) {
    probe = {{"f32_gflops", choice.probe->f32_gflops},
             {"bf16_gflops", choice.probe->bf16_gflops},
             {"probe_ms", choice.probe->probe_ms}};
  }
  return {{"compute_dtype", DTypeName(model.compute_dtype())},
          {"kv_dtype", DTypeName(model.kv_dtype())},
          {"compute_dtype_auto", choice.auto_chosen},
          {"compute_dtype_reason", choice.reason},
          {"compute_probe", probe},
          {"weights_converted_bytes", model.converted_weight_bytes()},
          {"weights_convert_ms", model.weights_convert_ms()}};
}

}  // namespace kvstash::cli
