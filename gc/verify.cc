#include "gc/verify.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "gc/pins.h"
#include "serde/block_codec.h"
#include "serde/logits_record.h"
#include "serde/mutex.h"
#include "store/parallel.h"

namespace kvstash {

const char* ProblemKindName(BlockProblem::Kind kind) {
  switch (kind) {
    case BlockProblem::Kind::kCorrupt:
      return "corrupt";
    case BlockProblem::Kind::kOrphan:
      return "orphan";
    case BlockProblem::Kind::kDanglingLink:
      return "dangling-link";
    case BlockProblem::Kind::kBadLogits:
      return "bad-logits";
  }
  return "unknown";
}

namespace {

// Asks the kernel to read the store's blob files ahead of a pass over their
// blocks in write order: a window of kWindow bytes past where the pass is,
// in the files' order (blob files are numbered as written). The pass only
// approximates the files' order (blocks of one write batch share a
// timestamp), so the window, not the kernel's own read-ahead, keeps the reads
// sequential. Best effort: without blob files it does nothing.
class BlobReadahead {
 public:
  explicit BlobReadahead(const std::string& dir) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".blob") continue;
      const uint64_t number = std::strtoull(entry.path().stem().c_str(), nullptr, 10);
      files_.push_back({number, entry.path().string(), entry.file_size(ec)});
    }
    std::sort(files_.begin(), files_.end(),
              [](const File& a, const File& b) { return a.number < b.number; });
  }
  // `done`: bytes of blobs the pass has read so far.
  void Advance(uint64_t done) {
    const uint64_t want = done + kWindow;
    while (issued_ < want && file_ < files_.size()) {
      File& f = files_[file_];
      const uint64_t chunk = std::min<uint64_t>(kStep, f.size - offset_);
      const int fd = open(f.path.c_str(), O_RDONLY);
      if (fd >= 0) {
        (void)posix_fadvise(fd, static_cast<off_t>(offset_), static_cast<off_t>(chunk),
                            POSIX_FADV_WILLNEED);
        close(fd);
      }
      issued_ += chunk;
      offset_ += chunk;
      if (offset_ >= f.size) {
        ++file_;
        offset_ = 0;
      }
    }
  }

 private:
  static constexpr uint64_t kWindow = 256ull << 20;
  static constexpr uint64_t kStep = 32ull << 20;
  struct File {
    uint64_t number;
    std::string path;
    uint64_t size;
  };
  std::vector<File> files_;
  size_t file_ = 0;
  uint64_t offset_ = 0, issued_ = 0;
};

std::string TokensDiff(const std::vector<int32_t>& header, const std::vector<int32_t>& meta) {
  if (header.size() != meta.size()) {
    return "blob holds " + std::to_string(header.size()) + " tokens, meta " +
           std::to_string(meta.size());
  }
  size_t i = 0;
  while (header[i] == meta[i]) ++i;
  return "token " + std::to_string(i) + " differs between blob and meta (" +
         std::to_string(header[i]) + " != " + std::to_string(meta[i]) + ")";
}

// What is wrong with one block ("" if nothing); a Status only if the store
// could not be read.
Result<std::string> CheckBlock(DiskTier::BlobReader* reader, BlockCodec* codec, bool decode,
                               const ModelId& model, const BlockHash& hash,
                               const Result<BlockMeta>& meta, std::string* blob) {
  if (!meta.ok()) return "meta: " + meta.status().ToString();
  Status read = reader->Read(model, hash, blob);
  if (read.IsNotFound()) return std::string("blob missing (meta present)");
  if (read.IsCorruption()) return "blob unreadable: " + read.ToString();
  KVSTASH_RETURN_IF_ERROR(read);
  auto header = decode ? codec->Decode(*blob, ScatterMap()) : ParseBlockHeader(*blob, true);
  if (!header.ok()) return header.status().ToString();
  const BlockMeta& m = *meta;
  if (header->model != model) {
    return "blob header names model " + header->model.ToHex() + ", key " + model.ToHex();
  }
  if (header->hash != hash) return "blob header names block " + header->hash.ToHex();
  if (header->parent != m.parent) {
    return "blob header names parent " + header->parent.ToHex() + ", meta " + m.parent.ToHex();
  }
  if (header->tokens != m.tokens) return TokensDiff(header->tokens, m.tokens);
  if (header->raw_bytes != m.raw_bytes) {
    return "raw size " + std::to_string(header->raw_bytes) + " in blob, " +
           std::to_string(m.raw_bytes) + " in meta";
  }
  if (header->codec != m.codec || header->shape.dtype != m.dtype) {
    return std::string("codec/dtype ") + CodecName(header->codec) + "/" +
           DTypeName(header->shape.dtype) + " in blob, " + CodecName(m.codec) + "/" +
           DTypeName(m.dtype) + " in meta";
  }
  if (blob->size() != m.stored_bytes) {
    return "blob is " + std::to_string(blob->size()) + " bytes, meta says " +
           std::to_string(m.stored_bytes);
  }
  return std::string();
}

// Child links that name a block which does not exist: one pass over the
// links of the models in `graph` (a seek per block would cost an iterator
// each: minutes at a million blocks).
Result<std::vector<BlockProblem>> FindDanglingLinks(DiskTier* disk, const BlockGraph& graph) {
  std::vector<BlockProblem> out;
  Status error;
  for (const auto& [model, mb] : graph.models()) {
    KVSTASH_RETURN_IF_ERROR(disk->ForEachLink(
        model, [&](const ModelId& m, const BlockHash& parent, const ChildLink& link) {
          if (graph.Find({m, link.hash})) return true;
          // Written since the graph was loaded?
          Status meta = disk->GetMeta(m, link.hash).status();
          if (!meta.IsNotFound()) {
            if (!meta.ok() && !meta.IsCorruption()) error = meta;
            return error.ok();
          }
          BlockProblem problem;
          problem.kind = BlockProblem::Kind::kDanglingLink;
          problem.ref = {m, link.hash};
          problem.parent = parent;
          problem.detail = "child link under " + parent.ToHex() + " names a missing block";
          out.push_back(std::move(problem));
          return true;
        }));
    KVSTASH_RETURN_IF_ERROR(error);
  }
  return out;
}

// Logits records that are corrupt or whose parent block is not in `graph`
// (and not written since it was loaded).
Status CheckLogitsRecords(DiskTier* disk, const BlockGraph& graph,
                          const std::optional<ModelId>& model, VerifyReport* report) {
  Status error;
  KVSTASH_RETURN_IF_ERROR(
      disk->ForEachLogits(model, [&](const LogitsKey& key, std::string_view record) {
        ++report->logits_records;
        report->logits_bytes += record.size();
        BlockProblem problem;
        problem.kind = BlockProblem::Kind::kBadLogits;
        problem.ref = {key.model, key.tail};
        problem.parent = key.parent;
        problem.stored_bytes = record.size();
        Result<uint32_t> vocab = VerifyLogitsRecord(record, key);
        if (!vocab.ok()) {
          problem.detail = vocab.status().ToString();
        } else if (!graph.Find({key.model, key.parent})) {
          Status meta = disk->GetMeta(key.model, key.parent).status();
          if (!meta.IsNotFound()) {
            if (!meta.ok()) error = meta;
            return meta.ok();
          }
          problem.detail =
              "logits record of a prompt whose block " + key.parent.ToHex() + " is missing";
        }
        if (!problem.detail.empty()) {
          ++report->bad_logits;
          report->problems.push_back(std::move(problem));
        }
        return true;
      }));
  return error;
}

}  // namespace

Result<VerifyReport> VerifyStore(DiskTier* disk, const VerifyOptions& options) {
  KVSTASH_ASSIGN_OR_RETURN(BlockGraph graph, BlockGraph::Load(disk, options.model));
  VerifyReport report;
  report.models = graph.models().size();

  // Blocks in the order they were written, which is the order of their
  // bytes in the blob files: reading in key order (random in the files)
  // runs at the disk's random-read rate, far below a sequential read.
  std::vector<std::pair<uint64_t, BlockRef>> order;
  order.reserve(graph.block_count());
  for (const auto& [model, mb] : graph.models()) {
    for (const auto& [hash, node] : mb.blocks) order.push_back({node.created_ms, {model, hash}});
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second < b.second;
  });
  BlobReadahead readahead(disk->path());

  const size_t threads = options.threads > 0
                             ? options.threads
                             : std::clamp<size_t>(2 * std::thread::hardware_concurrency(), 2, 16);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  Mutex mu;  // guards what the workers report
  Status error;
  uint64_t done = 0, bytes_done = 0;
  std::vector<BlockProblem> problems;
  BlockSet problem_blocks;
  auto work = [&] {
    BlockCodec codec;
    std::string blob;
    std::unique_ptr<DiskTier::BlobReader> reader = disk->NewBlobReader();
    for (size_t i; !stop && (i = next.fetch_add(1)) < order.size();) {
      const BlockRef& ref = order[i].second;
      const BlockNode* node = graph.Find(ref);
      // Read again, not kept from the graph's scan: the graph holds no tokens
      // (a million metas would double verify's memory), and a block written
      // since is then checked against its current meta.
      Result<BlockMeta> meta = disk->GetMeta(ref.model, ref.hash);
      if (meta.status().IsNotFound()) continue;  // deleted since the graph was loaded
      auto why = CheckBlock(reader.get(), &codec, options.decode_payloads, ref.model, ref.hash,
                            meta, &blob);
      MutexLock lock(&mu);
      if (!why.ok()) {
        if (error.ok()) error = why.status();
        stop = true;
        return;
      }
      ++report.blocks;
      report.stored_bytes += node->stored_bytes;
      bytes_done += node->stored_bytes;
      BlockProblem problem;
      problem.ref = ref;
      problem.parent = node->parent;
      problem.stored_bytes = node->stored_bytes;
      if (!why->empty()) {
        problem.kind = BlockProblem::Kind::kCorrupt;
        problem.detail = std::move(why).value();
        ++report.corrupt;
      } else if (node->orphan) {
        problem.kind = BlockProblem::Kind::kOrphan;
        problem.detail = graph.Find({ref.model, node->parent})
                             ? "its chain of parents loops"
                             : "parent " + node->parent.ToHex() + " is missing";
        ++report.orphans;
      }
      if (!problem.detail.empty()) {
        problem_blocks.insert(problem.ref);
        problems.push_back(std::move(problem));
      }
      readahead.Advance(bytes_done);
      ++done;
      if (options.progress) options.progress(done, order.size());
    }
  };
  RunOnThreads(threads, work);
  KVSTASH_RETURN_IF_ERROR(error);
  std::sort(problems.begin(), problems.end(),
            [](const BlockProblem& a, const BlockProblem& b) { return a.ref < b.ref; });
  report.problems = std::move(problems);

  BlockSet condemned;
  for (const BlockRef& r : problem_blocks) graph.AddSubtree(r, &condemned);
  report.unreachable = condemned.size() - problem_blocks.size();

  KVSTASH_ASSIGN_OR_RETURN(auto links, FindDanglingLinks(disk, graph));
  report.dangling_links = links.size();
  for (auto& l : links) report.problems.push_back(std::move(l));
  KVSTASH_RETURN_IF_ERROR(CheckLogitsRecords(disk, graph, options.model, &report));
  return report;
}

Result<RepairResult> Repair(DiskTier* disk, const VerifyReport& report, bool compact) {
  KVSTASH_ASSIGN_OR_RETURN(BlockGraph graph, BlockGraph::Load(disk));
  std::unordered_map<BlockRef, PruneReason, BlockRefHasher> reasons;
  for (const BlockProblem& p : report.problems) {
    if (p.kind == BlockProblem::Kind::kCorrupt) reasons[p.ref] = PruneReason::kCorrupt;
    if (p.kind == BlockProblem::Kind::kOrphan) reasons.try_emplace(p.ref, PruneReason::kOrphan);
  }
  BlockSet condemned;
  for (const auto& [ref, reason] : reasons) graph.AddSubtree(ref, &condemned);
  // A pinned chain keeps every block that is not itself corrupt, even below
  // a problem: the pin's owner asked for it, and a later verify reports it.
  KVSTASH_ASSIGN_OR_RETURN(BlockSet pinned_leaves, PinnedBlocks(disk));
  const BlockSet pinned = WithAncestors(graph, pinned_leaves);
  for (const BlockRef& r : pinned) {
    auto it = reasons.find(r);
    if (it == reasons.end() || it->second != PruneReason::kCorrupt) condemned.erase(r);
  }
  PrunePlan plan;
  RepairResult result;
  for (const BlockRef& r : graph.LeafFirst(condemned)) {
    const BlockNode* node = graph.Find(r);
    auto it = reasons.find(r);
    const PruneReason reason = it == reasons.end() ? PruneReason::kUnreachable : it->second;
    result.unreachable += reason == PruneReason::kUnreachable;
    plan.blocks.push_back({r, node->parent, node->stored_bytes, node->last_access_ms, reason});
    plan.stored_bytes += node->stored_bytes;
  }
  ApplyOptions apply;
  apply.revalidate = false;  // condemned by verification, not by age
  apply.compact = false;
  KVSTASH_ASSIGN_OR_RETURN(result.applied, ApplyPlan(disk, plan, apply));

  // Links are checked again now that the blocks are gone.
  KVSTASH_ASSIGN_OR_RETURN(graph, BlockGraph::Load(disk));
  KVSTASH_ASSIGN_OR_RETURN(auto links, FindDanglingLinks(disk, graph));
  std::vector<DiskBlockDelete> deletes;
  for (const BlockProblem& l : links) deletes.push_back({l.ref.model, l.ref.hash, l.parent, {}});
  KVSTASH_RETURN_IF_ERROR(disk->DeleteBlocks(deletes));
  result.links_deleted = deletes.size();
  for (const BlockProblem& p : report.problems) {
    if (p.kind != BlockProblem::Kind::kBadLogits) continue;
    KVSTASH_RETURN_IF_ERROR(disk->DeleteLogits({p.ref.model, p.parent, p.ref.hash}));
    ++result.logits_deleted;
  }

  if (compact && (result.applied.blocks_deleted > 0 || result.links_deleted > 0 ||
                  result.logits_deleted > 0)) {
    KVSTASH_RETURN_IF_ERROR(disk->Compact());
    result.applied.compacted = true;
  }
  return result;
}

}  // namespace kvstash
