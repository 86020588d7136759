// kvstash unpin: removes a pinned prefix (made by `kvstash run --pin`), so
// gc may delete its blocks again. Needs the store to itself.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "store/disk_tier.h"
#include "tools/commands.h"

namespace kvstash::cli {

namespace {

int Unpin(const std::string& store_flag, const std::string& name) {
  DiskTierOptions options;
  options.path = ResolveStoreDir(store_flag);
  if (options.path.empty())
    return Fail("unpin", Status::InvalidArgument("--store none has no pins"));
  if (!std::filesystem::exists(options.path + "/CURRENT")) {
    return Fail("unpin", Status::NotFound("no kvstash store at " + options.path));
  }
  auto disk = DiskTier::Open(options);
  if (!disk.ok()) return Fail("unpin", disk.status());
  auto pin = (*disk)->GetPin(name);
  if (!pin.ok()) return Fail("unpin", pin.status());
  Status s = (*disk)->DeletePin(name);
  if (!s.ok()) return Fail("unpin", s);
  std::printf("unpinned %s (%llu tokens of model %s)\n", name.c_str(),
              static_cast<unsigned long long>(pin->tokens), pin->model.ToHex().c_str());
  return kExitOk;
}

}  // namespace

void AddUnpinCommand(CLI::App& app, Action* action) {
  struct Flags {
    std::string store, name;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd =
      app.add_subcommand("unpin", "Remove a pinned prefix so gc may delete its blocks again");
  cmd->add_option("NAME", flags->name, "Pin name (kvstash ls --pinned)")->required();
  cmd->add_option("--store", flags->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->callback(
      [flags, action] { *action = [flags] { return Unpin(flags->store, flags->name); }; });
}

}  // namespace kvstash::cli
