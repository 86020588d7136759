// Registration of the kvstash subcommands. Each Add*Command adds its
// subcommand to `app` and, when that subcommand is chosen, stores in
// `*action` what to run after parsing.
#ifndef KVSTASH_TOOLS_COMMANDS_H_
#define KVSTASH_TOOLS_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "store/disk_tier.h"
#include "tools/cli_util.h"

namespace kvstash::cli {

void AddBenchCommand(CLI::App& app, Action* action);
void AddExportCommand(CLI::App& app, Action* action);
void AddImportCommand(CLI::App& app, Action* action);
void AddInspectCommand(CLI::App& app, Action* action);
void AddLsCommand(CLI::App& app, Action* action);
void AddMkmodelCommand(CLI::App& app, Action* action);
void AddPruneCommand(CLI::App& app, Action* action);
void AddRunCommand(CLI::App& app, Action* action);
void AddServeCommand(CLI::App& app, Action* action);
void AddStatCommand(CLI::App& app, Action* action);
void AddTokenizeCommand(CLI::App& app, Action* action);
void AddUnpinCommand(CLI::App& app, Action* action);
void AddVerifyCommand(CLI::App& app, Action* action);

// Opens the store named by a --store flag as a read-only view as of now,
// which works while another process holds it (DiskTierOptions::read_only).
// `purpose` completes "--store none: no store to ..." ("list", "verify").
Result<std::unique_ptr<DiskTier>> OpenStoreReadOnly(const std::string& flag,
                                                    const std::string& purpose);

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_COMMANDS_H_
