// Whole-file reads and crash-safe whole-file writes: the file-system seam
// for small files (configs, tokenizers, packs' sidecars).
#ifndef KVSTASH_STORE_FILE_UTIL_H_
#define KVSTASH_STORE_FILE_UTIL_H_

#include <string>
#include <string_view>

#include "serde/status.h"

namespace kvstash {

// NotFound if `path` does not exist; IOError naming the path otherwise.
Result<std::string> ReadFileToString(const std::string& path);

// Writes `contents` to `path` so that a crash leaves either the old file or
// the new one: a temporary file in the same directory, fsync, rename, fsync
// of the directory. ResourceExhausted on a full disk.
Status WriteFileAtomically(const std::string& path, std::string_view contents);

}  // namespace kvstash

#endif  // KVSTASH_STORE_FILE_UTIL_H_
