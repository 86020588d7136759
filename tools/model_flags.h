// The flags every command that loads a model takes (run and the bench
// subcommands): KV and compute dtypes, device, threads; and how the compute
// dtype choice is reported.
#ifndef KVSTASH_TOOLS_MODEL_FLAGS_H_
#define KVSTASH_TOOLS_MODEL_FLAGS_H_

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/llama_model.h"
#include "serde/status.h"

namespace kvstash::cli {

struct ModelFlags {
  std::string kv_dtype;                // "": the checkpoint's
  std::string compute_dtype = "auto";  // auto | f32 | bf16
  std::string device = "auto";
  int threads = 0;
  bool no_onednn = false;
};

// Adds --kv-dtype (alias --dtype), --compute-dtype, --threads, --no-onednn.
// --device is left to the command (its default differs).
void AddModelFlags(CLI::App* cmd, ModelFlags* flags);

// The load options the flags ask for. --no-onednn turns libtorch's oneDNN off
// for the whole process here (as on a CPU without AVX-512, where bf16 matmul
// runs libtorch's scalar fallback).
Result<ModelLoadOptions> LoadOptionsFromFlags(const ModelFlags& flags);

// One line on stderr saying what the model computes in and why, and what
// converting its weights cost; printed only when there was a choice to make
// (auto measured, or the compute dtype differs from the KV dtype).
void ReportComputeChoice(const LlamaModel& model);

// {"compute_dtype", "kv_dtype", "compute_dtype_reason", "compute_probe",
//  "weights_converted_bytes", "weights_convert_ms"} for --json outputs.
nlohmann::json ComputeJson(const LlamaModel& model);

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_MODEL_FLAGS_H_
