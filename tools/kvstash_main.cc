// kvstash: the command line. Each subcommand lives in its own cmd_*.cc and
// only parses, calls the library and prints.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace {

// libtorch allocates and frees its large intermediates (attention scores,
// MLP activations: 5-15 MB each for the 0.5B shape) on every forward pass.
// glibc's defaults give such blocks back to the kernel (munmap, or trimming
// the heap top), and every pass then faults them in again at ~0.3 GB/s:
// measured (2-core Zen 4 EPYC, AVX-512, otherwise idle), a 2048-token
// prefill of the 0.5B shape ran 10-25% slower, and slower still in a
// process whose store thread frees blocks the forward pass allocated. Fixed
// thresholds keep freed memory in the process for reuse (the dynamic mmap
// threshold is off once set). A C++ service linking kvstash should do the
// same, or use jemalloc/tcmalloc (docs/architecture.md).
void KeepFreedMemory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kvstash::cli;
  KeepFreedMemory();
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
  if (!action) return kExitUsage;
  // Errors are Status values; an exception reaching here is a bug, but it
  // still ends in one line on stderr and exit status 1, not an abort.
  try {
    return action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvstash: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "kvstash: internal error\n");
  }
  return kExitFailure;
}
