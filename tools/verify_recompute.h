// `kvstash verify --recompute`: runs the model again on a sample of stored
// chains and compares the K/V it computes with the K/V that is stored.
//
// Every other check (checksums, headers, the chained hash) proves that a
// block is the one its key names and that its bytes are the ones written. None
// can tell whether those bytes are the K/V the model computes for its tokens:
// a client holding the write token of `kvstash serve` can store well-formed
// garbage under the right key, and a process with a silently different model
// (the same files, another library computing them) stores K/V that other
// processes then reuse. Recomputing is the one check that catches both.
//
// The sample is chains, not blocks: a chain (root to a leaf, a stored prompt)
// is recomputed in one prefill, so every block on it is checked for one
// forward pass over its tokens. Leaves are drawn with a fixed seed, so two runs
// check the same chains.
//
// Thread-safety: one call at a time per model (the model's forward pass is
// not reentrant).
#ifndef KVSTASH_TOOLS_VERIFY_RECOMPUTE_H_
#define KVSTASH_TOOLS_VERIFY_RECOMPUTE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/llama_model.h"
#include "serde/block_hash.h"
#include "serde/model_id.h"
#include "serde/status.h"
#include "store/disk_tier.h"

namespace kvstash::cli {

struct RecomputeOptions {
  // Chains (stored prompts, root to leaf) to recompute. 0: all. Default: 8.
  size_t sample_chains = 8;
  // Largest relative difference a block may have (see RecomputedBlock).
  // 0: by the model's compute dtype (DefaultRecomputeTolerance).
  double tolerance = 0;
  // Seeds the choice of chains. Default: 0.
  uint64_t seed = 0;
};

// 1e-3 for f32 compute; 5e-2 for bf16 and f16, whose rounding differs with
// the chunking of the forward pass (a block stored after a cache hit was
// computed in another chunk than a cold prefill computes it in).
double DefaultRecomputeTolerance(DType compute_dtype);

struct RecomputedBlock {
  BlockHash hash;
  BlockHash parent;
  uint64_t stored_bytes = 0;
  size_t first_position = 0;  // of the block in its chain
  size_t tokens = 0;
  // max over layers and K/V of ||stored - recomputed|| / ||recomputed||
  // (L2 norms over the block's elements, in f32).
  double difference = 0;
};

struct RecomputeReport {
  ModelId model;
  size_t stored_chains = 0;  // leaves of the model's block forest
  size_t chains = 0;         // of them, recomputed
  size_t blocks = 0;         // distinct blocks compared
  size_t tokens = 0;         // positions run through the model
  double tolerance = 0;
  double largest_difference = 0;       // of the blocks within tolerance
  std::vector<RecomputedBlock> wrong;  // beyond tolerance, in chain order
  // Blocks that could not be read or decoded (verify without --recompute
  // reports why); their chain is compared up to them.
  size_t unreadable = 0;
  double seconds = 0;
};

// The stored model `model` computes: the registered model whose description
// equals model.Describe(its block size). NotFound, listing what is stored,
// if none does (another dtype, other weights or tokenizer).
Result<ModelId> FindStoredModel(DiskTier* disk, const LlamaModel& model);

// Recomputes a sample of `model_id`'s stored chains with `model` and compares
// every block on them. Errors are the store's or the model's; blocks that
// differ are in the report.
Result<RecomputeReport> RecomputeStoredChains(DiskTier* disk, const LlamaModel& model,
                                              const ModelId& model_id,
                                              const RecomputeOptions& options);

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_VERIFY_RECOMPUTE_H_
