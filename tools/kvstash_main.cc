// kvstash: the command line. Each subcommand lives in its own cmd_*.cc and
// only parses, calls the library and prints.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "tools/cli_util.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  using namespace kvstash::cli;
  CLI::App app{"kvstash: a persistent prompt (KV) cache for LLM inference"};
  app.set_version_flag("--version", "kvstash 0.1.0");
  app.require_subcommand(1);
  Action action;
  AddBenchCommand(app, &action);
  AddExportCommand(app, &action);
  AddImportCommand(app, &action);
  AddInspectCommand(app, &action);
  AddLsCommand(app, &action);
  AddMkmodelCommand(app, &action);
  AddPruneCommand(app, &action);
  AddRunCommand(app, &action);
  AddServeCommand(app, &action);
  AddStatCommand(app, &action);
  AddTokenizeCommand(app, &action);
  AddUnpinCommand(app, &action);
  AddVerifyCommand(app, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return action ? action() : kExitUsage;
}
