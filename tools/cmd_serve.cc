// kvstash serve: share one store with every inference process on a host or
// in a rack. SIGINT/SIGTERM stop accepting, finish requests in flight, flush
// and exit 0.
#include <signal.h>

#include <cstdio>
#include <memory>

#include "gc/managed_store.h"
#include "gc/units.h"
#include "store/file_util.h"
#include "store/remote/remote_tier.h"
#include "store/remote/server.h"
#include "store/store.h"
#include "tools/commands.h"
#include "tools/metrics_http.h"
#include "tools/serve_metrics.h"

namespace kvstash::cli {

namespace {

struct ServeFlags {
  std::string store, listen = "127.0.0.1:7420", token_file, read_token_file;
  int threads = 2;
  size_t max_connections = 256;
  uint32_t max_frame_mib = 64;
  int idle_timeout_s = 120;
  std::string disk_budget, max_idle;
  std::string remote, remote_token_file, metrics;
};

// "HOST:PORT" ("[::1]:PORT"), or "PORT" where `default_host` is given.
bool ParseListen(const char* flag, const std::string& text, const char* default_host,
                 std::string* host, uint16_t* port_out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos && default_host == nullptr) {
    std::fprintf(stderr, "kvstash serve: %s must be HOST:PORT\n", flag);
    return false;
  }
  *host = colon == std::string::npos ? default_host : text.substr(0, colon);
  if (!host->empty() && host->front() == '[') *host = host->substr(1, host->size() - 2);
  // A port that does not parse must not become "any free port" (0).
  const std::string port = colon == std::string::npos ? text : text.substr(colon + 1);
  char* end = nullptr;
  const unsigned long number = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || *end != '\0' ||
      number > 65535) {
    std::fprintf(stderr, "kvstash serve: %s: '%s' is not a port (0-65535)\n", flag, port.c_str());
    return false;
  }
  *port_out = static_cast<uint16_t>(number);
  return true;
}

int Serve(const ServeFlags& f) {
  ServerOptions options;
  if (!ParseListen("--listen", f.listen, nullptr, &options.host, &options.port)) {
    return kExitUsage;
  }
  std::string metrics_host;
  uint16_t metrics_port = 0;
  if (!f.metrics.empty() &&
      !ParseListen("--metrics", f.metrics, "127.0.0.1", &metrics_host, &metrics_port)) {
    return kExitUsage;
  }
  options.threads = f.threads;
  options.max_connections = f.max_connections;
  options.max_frame_bytes = f.max_frame_mib << 20;
  options.idle_timeout = std::chrono::seconds(f.idle_timeout_s);
  if (!f.token_file.empty()) {
    auto token = ReadTokenFile(f.token_file);
    if (!token.ok()) return Fail("serve", token.status().WithContext("--token-file"));
    options.token = *token;
  }
  if (!f.read_token_file.empty()) {
    if (options.token.empty()) {
      std::fprintf(stderr,
                   "kvstash serve: --read-token-file needs --token-file (without a write token "
                   "every client may write)\n");
      return kExitUsage;
    }
    auto token = ReadTokenFile(f.read_token_file);
    if (!token.ok()) return Fail("serve", token.status().WithContext("--read-token-file"));
    options.read_token = *token;
    if (options.read_token == options.token) {
      std::fprintf(stderr, "kvstash serve: the read token must differ from the write token\n");
      return kExitUsage;
    }
  }

  StoreOptions store_options;
  store_options.path = ResolveStoreDir(f.store);
  if (store_options.path.empty()) {
    std::fprintf(stderr, "kvstash serve: needs a store directory (not --store none)\n");
    return kExitUsage;
  }
  store_options.device = "cpu";
  store_options.device_budget_bytes = 0;  // the server shares disk; clients cache in memory
  if (!f.disk_budget.empty()) {
    auto budget = ParseByteSize(f.disk_budget);
    if (!budget.ok()) return Fail("serve", budget.status().WithContext("--disk-budget"));
    store_options.disk_budget_bytes = *budget;
  }
  if (!f.max_idle.empty()) {
    auto idle = ParseDuration(f.max_idle);
    if (!idle.ok()) return Fail("serve", idle.status().WithContext("--max-idle"));
    store_options.max_idle = std::chrono::duration_cast<std::chrono::seconds>(*idle);
  }
  // With a budget or an idle limit, a collector holds the store to them
  // while serving (pinned prefixes are kept).
  auto managed = OpenStoreWithGc(store_options);
  if (!managed.ok()) return Fail("serve", managed.status());
  Store* const store = managed->store();

  // A remote tier behind the disk: what it lacks is looked up there, what
  // clients put is sent on.
  std::unique_ptr<RemoteTier> upstream;
  if (!f.remote.empty()) {
    auto token = ReadRemoteToken(f.remote_token_file);
    if (!token.ok()) return Fail("serve", token.status());
    auto opened = OpenRemoteTier(f.remote, *token);
    if (!opened.ok()) return Fail("serve", opened.status().WithContext("--remote"));
    upstream = std::move(opened).value();
    options.upstream = upstream.get();
  }

  // Block the stop signals in every thread; this one waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = Server::Start(store->disk(), options);
  if (!server.ok()) return Fail("serve", server.status());
  std::unique_ptr<MetricsHttpServer> metrics;
  if (!f.metrics.empty()) {
    ServeMetricsSources sources;
    sources.server = server->get();
    sources.disk = store->disk();
    sources.upstream = upstream.get();
    sources.disk_budget_bytes = store_options.disk_budget_bytes;
    auto started = MetricsHttpServer::Start(metrics_host, metrics_port,
                                            [sources] { return RenderServeMetrics(sources); });
    if (!started.ok()) return Fail("serve", started.status().WithContext("--metrics"));
    metrics = std::move(started).value();
    std::fprintf(stderr, "kvstash serve: metrics on http://%s:%u/metrics\n", metrics_host.c_str(),
                 metrics->port());
  }
  std::fprintf(stderr, "kvstash serve: serving %s on %s:%u%s\n", store_options.path.c_str(),
               options.host.c_str(), (*server)->port(),
               options.token.empty() ? "" : " (token required)");
  if (options.host != "127.0.0.1" && options.host != "::1" && options.host != "localhost" &&
      options.token.empty()) {
    std::fprintf(stderr,
                 "kvstash serve: warning: listening beyond loopback without --token-file\n");
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "kvstash serve: %s: finishing requests in flight\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  metrics.reset();
  (*server)->Stop();
  const ServerStats stats = (*server)->Stats();
  Status closed = managed->Close();  // stops gc, then closes the store
  if (!closed.ok()) return Fail("serve", closed);
  std::fprintf(stderr,
               "kvstash serve: stopped after %llu requests (%llu blocks served, %llu stored, "
               "%llu protocol errors)\n",
               static_cast<unsigned long long>(stats.requests),
               static_cast<unsigned long long>(stats.blocks_served),
               static_cast<unsigned long long>(stats.blocks_stored),
               static_cast<unsigned long long>(stats.protocol_errors));
  return kExitOk;
}

}  // namespace

void AddServeCommand(CLI::App& app, Action* action) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Share a store with other processes over TCP");
  cmd->add_option("--store", f->store, "Store directory (default: $KVSTASH_DIR, ...)");
  cmd->add_option("--listen", f->listen,
                  "HOST:PORT to listen on (anything but loopback is an explicit choice)")
      ->capture_default_str();
  cmd->add_option("--token-file", f->token_file,
                  "File holding the secret clients must present to read and write");
  cmd->add_option("--read-token-file", f->read_token_file,
                  "File holding a second secret that may only read (match, get), never put");
  cmd->add_option("--threads", f->threads, "I/O threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-connections", f->max_connections, "Connections served at once")
      ->capture_default_str();
  cmd->add_option("--max-frame-mib", f->max_frame_mib, "Largest request accepted, MiB")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--disk-budget", f->disk_budget,
                  "Hold the store's blocks to SIZE (500M, 2G) with background gc; pinned "
                  "prefixes are kept");
  cmd->add_option("--max-idle", f->max_idle,
                  "Background gc deletes blocks not used for DURATION (7d), whole subtrees");
  cmd->add_option("--idle-timeout", f->idle_timeout_s, "Seconds before an idle client is closed")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--remote", f->remote,
                  "A remote tier behind this store: redis://[:PASSWORD@]HOST:PORT[,...] of a "
                  "Redis Cluster many hosts share (blocks the disk lacks are fetched there, puts "
                  "are sent on)");
  cmd->add_option("--remote-token-file", f->remote_token_file,
                  "File holding the Redis password (or the upstream peer's token)");
  cmd->add_option("--metrics", f->metrics,
                  "Serve Prometheus metrics at http://ADDR/metrics; ADDR is PORT (loopback) or "
                  "HOST:PORT");
  cmd->callback([f, action] { *action = [f] { return Serve(*f); }; });
}

}  // namespace kvstash::cli
