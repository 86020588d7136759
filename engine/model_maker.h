// Writes complete Hugging Face model directories with deterministic random
// weights (config.json, model.safetensors, tokenizer.json), loadable by the
// same code path as a real checkpoint: for tests and benchmarks, since
// nothing can be downloaded at run time.
#ifndef KVSTASH_ENGINE_MODEL_MAKER_H_
#define KVSTASH_ENGINE_MODEL_MAKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model_config.h"
#include "serde/dtype.h"
#include "serde/status.h"

namespace kvstash {

struct MakeModelOptions {
  // "tiny" (seconds; for tests) or "qwen2.5-0.5b" (Qwen2.5-0.5B's exact
  // shapes; for benchmarks). Default: "tiny".
  std::string preset = "tiny";
  // Same preset + seed + dtype: byte-identical files on every machine.
  uint64_t seed = 0;
  DType dtype = DType::kF32;
  // Split the weights over this many safetensors shards with an index
  // (model.safetensors.index.json); 1: a single model.safetensors.
  int shards = 1;
};

std::vector<std::string> ModelPresets();
Result<ModelConfig> PresetConfig(const std::string& preset);

// Creates `dir` (if needed) and writes the model there. Files are written
// atomically (temporary name, fsync, rename).
Status MakeModel(const std::string& dir, const MakeModelOptions& options);

}  // namespace kvstash

#endif  // KVSTASH_ENGINE_MODEL_MAKER_H_
