// MetricsHttpServer: answers `GET /metrics` with Prometheus text for
// `kvstash serve --metrics`. One thread; each scrape is read (at most 8 KiB
// of request, 2 s) and answered with a fresh rendering, then the connection
// is closed. Anything but GET /metrics (or /) gets 404 or 405.
//
// Thread-safety: Start and the destructor from one thread; `render` is
// called on the server's thread.
#ifndef KVSTASH_TOOLS_METRICS_HTTP_H_
#define KVSTASH_TOOLS_METRICS_HTTP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "serde/status.h"

namespace kvstash::cli {

class MetricsHttpServer {
 public:
  // Binds `host`:`port` (0: a free port). IOError naming the address if it
  // cannot.
  static Result<std::unique_ptr<MetricsHttpServer>> Start(const std::string& host, uint16_t port,
                                                          std::function<std::string()> render);
  ~MetricsHttpServer();  // stops serving
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  uint16_t port() const;

 private:
  struct Impl;
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvstash::cli

#endif  // KVSTASH_TOOLS_METRICS_HTTP_H_
