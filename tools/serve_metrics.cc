#include "tools/serve_metrics.h"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

namespace kvstash::cli {

namespace {

// Prometheus text, one family at a time (HELP and TYPE once per name).
class PromWriter {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels`: `key="value",...` (values already escaped), or empty.
  void Sample(std::string_view name, std::string_view labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %.17g\n", value);
    out_ += buf;
  }
  void One(std::string_view name, std::string_view type, std::string_view help, double value) {
    Family(name, type, help);
    Sample(name, "", value);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// A label value: backslash, double quote and newline escaped.
std::string Escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string RenderServeMetrics(const ServeMetricsSources& src) {
  const ServerStats s = src.server->Stats();
  PromWriter w;
  w.One("kvstash_server_connections", "gauge", "Client connections open now.",
        s.connections_active);
  w.One("kvstash_server_connections_accepted_total", "counter", "Client connections accepted.",
        s.connections_accepted);
  w.One("kvstash_server_connections_refused_total", "counter",
        "Connections turned away (over --max-connections).", s.connections_refused);
  w.One("kvstash_server_requests_total", "counter", "Requests answered.", s.requests);
  w.One("kvstash_server_protocol_errors_total", "counter", "Malformed or hostile frames.",
        s.protocol_errors);

  w.Family("kvstash_match_blocks_total", "counter",
           "Blocks clients asked for in match requests, by whether they were held (hit) or not.");
  w.Sample("kvstash_match_blocks_total", "result=\"hit\"", s.match_blocks_found);
  w.Sample("kvstash_match_blocks_total", "result=\"miss\"", s.match_blocks_missed);
  w.Family("kvstash_blocks_served_total", "counter", "Blocks sent to clients, by tier.");
  w.Sample("kvstash_blocks_served_total", "tier=\"disk\"",
           s.blocks_served - std::min(s.blocks_served, s.upstream_blocks));
  w.Sample("kvstash_blocks_served_total", "tier=\"upstream\"", s.upstream_blocks);
  w.Family("kvstash_tokens_served_total", "counter",
           "Tokens of the blocks sent to clients (their hits), by tier.");
  w.Sample("kvstash_tokens_served_total", "tier=\"disk\"", s.tokens_served_disk);
  w.Sample("kvstash_tokens_served_total", "tier=\"upstream\"", s.tokens_served_upstream);
  w.One("kvstash_read_bytes_total", "counter", "Block and logits bytes sent to clients.",
        s.bytes_served);
  w.One("kvstash_blocks_written_total", "counter", "Blocks clients put that were stored.",
        s.blocks_stored);
  w.One("kvstash_written_bytes_total", "counter",
        "Bytes of the blocks clients put that were stored.", s.bytes_stored);
  w.Family("kvstash_puts_not_stored_total", "counter", "Puts not stored, by reason.");
  w.Sample("kvstash_puts_not_stored_total", "reason=\"rejected\"", s.puts_rejected);
  w.Sample("kvstash_puts_not_stored_total", "reason=\"already_stored\"", s.puts_already_stored);
  w.Sample("kvstash_puts_not_stored_total", "reason=\"read_only_token\"", s.puts_refused_read_only);
  w.Family("kvstash_corrupt_blocks_total", "counter",
           "Blocks or logits records that failed their check, by where they came from.");
  w.Sample("kvstash_corrupt_blocks_total", "source=\"upstream\"", s.upstream_corrupt);

  w.Family("kvstash_get_duration_seconds", "histogram",
           "Time to answer one get (a block load), from disk or upstream.");
  uint64_t cumulative = 0;
  for (size_t b = 0; b < LatencyHistogram::kBounds.size(); ++b) {
    cumulative += s.get_seconds.counts[b];
    char le[64];
    std::snprintf(le, sizeof(le), "le=\"%g\"", LatencyHistogram::kBounds[b]);
    w.Sample("kvstash_get_duration_seconds_bucket", le, cumulative);
  }
  w.Sample("kvstash_get_duration_seconds_bucket", "le=\"+Inf\"", s.get_seconds.count);
  w.Sample("kvstash_get_duration_seconds_sum", "", s.get_seconds.sum_seconds);
  w.Sample("kvstash_get_duration_seconds_count", "", s.get_seconds.count);

  const DiskTierSizes z = src.disk->Sizes();
  w.Family("kvstash_disk_bytes", "gauge", "The disk tier's files, by kind.");
  w.Sample("kvstash_disk_bytes", "kind=\"blob\"", z.blob_bytes);
  w.Sample("kvstash_disk_bytes", "kind=\"sst\"", z.sst_bytes);
  w.Sample("kvstash_disk_bytes", "kind=\"wal\"", z.wal_bytes);
  w.One("kvstash_disk_live_bytes", "gauge", "Live data in the disk tier (RocksDB's estimate).",
        z.estimate_live_data_bytes);
  w.One("kvstash_disk_budget_bytes", "gauge", "The disk budget gc holds the store to (0: none).",
        src.disk_budget_bytes);

  if (src.upstream != nullptr) {
    const std::string backend = "backend=\"" + Escape(src.upstream->Backend()) + "\"";
    w.Family("kvstash_remote_puts_total", "counter", "Puts sent on to the upstream remote tier.");
    w.Sample("kvstash_remote_puts_total", backend, s.upstream_puts);
    w.Family("kvstash_remote_put_errors_total", "counter",
             "Puts to the upstream remote tier that failed or were dropped (queue full).");
    w.Sample("kvstash_remote_put_errors_total", backend, s.upstream_put_errors);
    w.Family("kvstash_remote_queue_bytes", "gauge",
             "Bytes waiting to be sent on to the upstream remote tier.");
    w.Sample("kvstash_remote_queue_bytes", backend, s.upstream_queue_bytes);
    const std::vector<RemoteNodeHealth> nodes = src.upstream->Health();
    w.Family("kvstash_remote_errors_total", "counter",
             "Remote tier connection failures and timeouts, by node.");
    for (const RemoteNodeHealth& n : nodes) {
      w.Sample("kvstash_remote_errors_total", backend + ",node=\"" + Escape(n.node) + "\"",
               n.failures);
    }
    w.Family("kvstash_remote_node_up", "gauge", "1 if the node is asked now, 0 while it is down.");
    for (const RemoteNodeHealth& n : nodes) {
      w.Sample("kvstash_remote_node_up", backend + ",node=\"" + Escape(n.node) + "\"",
               n.down ? 0 : 1);
    }
  }
  return w.Take();
}

}  // namespace kvstash::cli
