// The spellings operators use for gc budgets: byte sizes and durations.
// Used by `kvstash prune` (and by configuration that sets a collector).
//
// Thread-safety: pure functions.
#ifndef KVSTASH_GC_UNITS_H_
#define KVSTASH_GC_UNITS_H_

#include <chrono>
#include <cstdint>
#include <string_view>

#include "serde/status.h"

namespace kvstash {

// "1234" (bytes), "500M", "1.5G", "2GiB", "64k", "10MB". K, M, G, T (with or
// without "iB") are powers of 1024; KB, MB, GB, TB are powers of 1000, as in
// GNU coreutils. Case-insensitive; a fraction is allowed with a unit.
// InvalidArgument naming the text otherwise (or if it overflows 64 bits).
Result<uint64_t> ParseByteSize(std::string_view text);

// "30s", "10m", "2h", "7d", "1w", "1.5h", "250ms". A unit is required.
// InvalidArgument naming the text otherwise.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace kvstash

#endif  // KVSTASH_GC_UNITS_H_
