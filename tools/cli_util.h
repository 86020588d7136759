// Shared by the kvstash subcommands: exit codes, error printing, sizes.
#ifndef KVSTASH_TOOLS_CLI_UTIL_H_
#define KVSTASH_TOOLS_CLI_UTIL_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "serde/status.h"

namespace kvstash::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// What a subcommand runs once its flags are parsed; returns the exit code.
using Action = std::function<int()>;

// Prints "kvstash <command>: <status message>" on stderr; returns kExitFailure
// (or kExitUsage for InvalidArgument from flag validation, when `usage`).
int Fail(const std::string& command, const Status& status);

// "12.4 MiB"
std::string HumanBytes(uint64_t bytes);
// "1.23 s" / "45.6 ms"
std::string HumanMs(double ms);

// --store: "none" means no disk tier; empty means the default directory.
std::string ResolveStoreDir(const std::string& flag);

// Reads a whole file, or fails with a message naming it.
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_CLI_UTIL_H_
