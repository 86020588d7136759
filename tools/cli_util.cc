#include "tools/cli_util.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "store/disk_tier.h"
#include "store/file_util.h"
#include "store/store_options.h"
#include "tools/commands.h"

namespace kvstash::cli {

Result<std::unique_ptr<DiskTier>> OpenStoreReadOnly(const std::string& flag,
                                                    const std::string& purpose) {
  DiskTierOptions options;
  options.path = ResolveStoreDir(flag);
  if (options.path.empty()) return Status::InvalidArgument("--store none: no store to " + purpose);
  options.read_only = true;  // a fixed view as of now
  return DiskTier::Open(options);
}

CLI::Validator FiniteNumber() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str() || *end != '\0' || !std::isfinite(v)) {
          return "'" + value + "' is not a finite number";
        }
        return "";
      },
      "NUMBER");
}

CLI::Validator WholeNumber() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
          return "'" + value + "' is not a whole number >= 0";
        }
        return "";
      },
      "UINT");
}

int Fail(const std::string& command, const Status& status) {
  std::fprintf(stderr, "kvstash %s: %s\n", command.c_str(), status.ToString().c_str());
  return kExitFailure;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  }
  return buf;
}

std::string HumanMs(double ms) {
  char buf[32];
  if (ms >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.2f s", ms / 1000);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f ms", ms);
  }
  return buf;
}

std::string ResolveStoreDir(const std::string& flag) {
  if (flag == "none") return "";
  return flag.empty() ? DefaultStoreDir() : flag;
}

Result<std::string> ReadTextFile(const std::string& path) { return ReadFileToString(path); }

Result<std::string> ReadTokenFile(const std::string& path) {
  KVSTASH_ASSIGN_OR_RETURN(std::string token, ReadFileToString(path));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return Status::InvalidArgument("token file " + path + " is empty");
  return token;
}

Result<std::string> ReadRemoteToken(const std::string& path) {
  if (path.empty()) return std::string();
  auto token = ReadTokenFile(path);
  if (!token.ok()) return token.status().WithContext("--remote-token-file");
  return token;
}

}  // namespace kvstash::cli
