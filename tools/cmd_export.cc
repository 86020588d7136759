// kvstash export / import: move a model's cached blocks (or one pinned
// prefix) between stores as a self-checking pack file (docs/format.md, 8).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "gc/pack.h"
#include "store/disk_tier.h"
#include "store/file_util.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

struct ExportFlags {
  std::string store, model, pin, out;
};

int Export(const ExportFlags& f) {
  auto model = Hash128::FromHex(f.model);
  if (!model.ok()) return Fail("export", model.status().WithContext("--model"));
  auto disk = OpenStoreReadOnly(f.store, "export from");
  if (!disk.ok()) return Fail("export", disk.status());
  std::optional<BlockHash> leaf;
  if (!f.pin.empty()) {
    auto pin = (*disk)->GetPin(f.pin);
    if (!pin.ok()) return Fail("export", pin.status());
    if (pin->model != *model) {
      return Fail("export", Status::InvalidArgument("pin " + f.pin + " is of model " +
                                                    pin->model.ToHex() + ", not " + f.model));
    }
    leaf = pin->leaf;
  }
  auto pack = ExportPack(disk->get(), *model, leaf);
  if (!pack.ok()) return Fail("export", pack.status());
  Status s = WriteFileAtomically(f.out, *pack);
  if (!s.ok()) return Fail("export", s);
  std::printf("exported %s (%s) of model %s to %s\n",
              leaf ? ("pin " + f.pin).c_str() : "all blocks", HumanBytes(pack->size()).c_str(),
              model->ToHex().c_str(), f.out.c_str());
  return kExitOk;
}

int Import(const std::string& store_flag, const std::string& file) {
  auto bytes = ReadFileToString(file);
  if (!bytes.ok()) return Fail("import", bytes.status());
  DiskTierOptions options;
  options.path = ResolveStoreDir(store_flag);
  if (options.path.empty()) {
    return Fail("import", Status::InvalidArgument("--store none cannot hold blocks"));
  }
  // Verify before opening (which creates the store): a bad pack changes nothing.
  auto parsed = ParsePack(*bytes);
  if (!parsed.ok()) return Fail("import", parsed.status().WithContext(file));
  auto disk = DiskTier::Open(options);
  if (!disk.ok()) return Fail("import", disk.status());
  auto result = ImportPack(disk->get(), *bytes);
  if (!result.ok()) return Fail("import", result.status().WithContext(file));
  std::printf("imported %llu blocks (%llu new, %s) and %llu logits records of model %s into %s\n",
              static_cast<unsigned long long>(result->blocks),
              static_cast<unsigned long long>(result->new_blocks),
              HumanBytes(result->stored_bytes).c_str(),
              static_cast<unsigned long long>(result->logits), result->model.ToHex().c_str(),
              options.path.c_str());
  return kExitOk;
}

}  // namespace

void AddExportCommand(CLI::App& app, Action* action) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd =
      app.add_subcommand("export", "Write a model's blocks (or one pinned prefix) to a pack file");
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_option("--model", flags->model, "Model id (hex; kvstash ls)")->required();
  cmd->add_option("--pin", flags->pin, "Only this pinned prefix's chain");
  cmd->add_option("-o,--out", flags->out, "Pack file to write")->required();
  cmd->callback([flags, action] { *action = [flags] { return Export(*flags); }; });
}

void AddImportCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string store, file;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "import", "Verify a pack file and add its blocks to a store (all or nothing)");
  cmd->add_option("FILE", flags->file, "Pack file (kvstash export)")->required();
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->callback(
      [flags, action] { *action = [flags] { return Import(flags->store, flags->file); }; });
}

}  // namespace kvstash::cli
