// What `kvstash serve --metrics` shows: the server's counters, its disk tier's
// sizes against the budget, and its upstream remote tier, as Prometheus text
// (exposition format 0.0.4; names `kvstash_..._total` for counters, `_bytes`
// and `_seconds` units). The names are listed in README.md ("Metrics").
#ifndef KVSTASH_TOOLS_SERVE_METRICS_H_
#define KVSTASH_TOOLS_SERVE_METRICS_H_

#include <cstdint>
#include <string>

#include "store/disk_tier.h"
#include "store/remote/remote_tier.h"
#include "store/remote/server.h"

namespace kvstash::cli {

struct ServeMetricsSources {
  const Server* server = nullptr;  // required
  DiskTier* disk = nullptr;        // required
  RemoteTier* upstream = nullptr;  // optional
  uint64_t disk_budget_bytes = 0;  // 0: none
};

std::string RenderServeMetrics(const ServeMetricsSources& sources);

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_SERVE_METRICS_H_
