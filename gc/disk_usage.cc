#include "gc/disk_usage.h"

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <utility>

namespace kvstash {

Result<uint64_t> DiskUsageBytes(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return Status::NotFound("no directory " + dir);
  uint64_t bytes = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  if (ec) return Status::IOError("list " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0) continue;  // deleted meanwhile
    if (!S_ISREG(st.st_mode) || !seen.insert({st.st_dev, st.st_ino}).second) continue;
    bytes += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  if (ec) return Status::IOError("walk " + dir + ": " + ec.message());
  return bytes;
}

}  // namespace kvstash
