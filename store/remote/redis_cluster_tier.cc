#include "store/remote/redis_cluster_tier.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "store/remote/redis_cluster_internal.h"
#include "store/remote/redis_keys.h"

namespace kvstash {

namespace {

// Keys scanned per SCAN call (a hint to Redis) and sized per pipeline.
constexpr const char* kScanCount = "1000";
// Threads for one request's commands: one per master it reaches, up to this.
constexpr size_t kMaxNodesAtOnce = 16;

// A GET-like reply: the value, NotFound for nil, IOError for an error reply
// (CLUSTERDOWN, NOAUTH, LOADING...: the node cannot answer now).
Status ValueOf(Result<RedisReply> reply, std::string* out) {
  if (!reply.ok()) return reply.status();
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_NIL) return Status::NotFound("not in the redis cluster");
  if (r.type == REDIS_REPLY_STRING) {
    out->assign(r.str, r.len);
    return Status::OK();
  }
  if (r.type == REDIS_REPLY_ERROR) {
    return Status::IOError("redis cluster: " + std::string(ReplyText(r)));
  }
  return Status::IOError("redis cluster: unexpected reply type " + std::to_string(r.type));
}

// A SET reply: OK, or nil when NX found the key already there (kept: the
// first value stays).
Status SetOutcome(Result<RedisReply> reply) {
  if (!reply.ok()) return reply.status();
  if ((*reply)->type == REDIS_REPLY_ERROR) {
    return Status::IOError("redis cluster: " + std::string(ReplyText(**reply)));
  }
  return Status::OK();
}

// The value of "field:value" in INFO's "\r\n"-separated lines; "" if absent.
std::string InfoText(std::string_view info, std::string_view field) {
  for (size_t at = 0; at < info.size();) {
    size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::string(line.substr(field.size() + 1));
    }
    at = end + 1;
  }
  return "";
}

uint64_t InfoField(std::string_view info, std::string_view field) {
  return std::strtoull(InfoText(info, field).c_str(), nullptr, 10);
}

}  // namespace

struct RedisClusterTier::Impl {
  explicit Impl(RedisClusterOptions options) : cluster(std::move(options)) {}
  RedisCluster cluster;
  std::atomic<uint64_t> dropped{0};
};

RedisClusterTier::RedisClusterTier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RedisClusterTier::~RedisClusterTier() = default;

std::unique_ptr<RedisClusterTier> RedisClusterTier::Open(RedisClusterOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  const Status s = impl->cluster.Refresh();
  if (!s.ok()) {
    std::fprintf(stderr, "kvstash: error: remote %s: %s; its blocks are misses until it answers\n",
                 DescribeRedisSeeds(impl->cluster.options()).c_str(), s.message().c_str());
  }
  return std::unique_ptr<RedisClusterTier>(new RedisClusterTier(std::move(impl)));
}

std::string RedisClusterTier::Describe() const {
  return "redis cluster " + DescribeRedisSeeds(impl_->cluster.options());
}

Result<uint32_t> RedisClusterTier::Match(const ModelId& model,
                                         const std::vector<BlockHash>& hashes) {
  std::vector<RedisCluster::Command> commands(hashes.size());
  for (size_t i = 0; i < hashes.size(); ++i) {
    commands[i].key = RedisBlockKey(model, hashes[i]);
    commands[i].argv = {"EXISTS", commands[i].key};
  }
  std::vector<char> present(hashes.size(), 0);
  impl_->cluster.Run(commands, kMaxNodesAtOnce, [&](size_t i, Result<RedisReply> reply) {
    present[i] = reply.ok() && (*reply)->type == REDIS_REPLY_INTEGER && (*reply)->integer == 1;
  });
  uint32_t n = 0;
  while (n < present.size() && present[n]) ++n;
  return n;
}

Status RedisClusterTier::Get(const ModelId& model, const BlockHash& hash, std::string* blob) {
  RedisCluster::Command c;
  c.key = RedisBlockKey(model, hash);
  c.argv = {"GET", c.key};
  return ValueOf(impl_->cluster.RunOne(c), blob);
}

void RedisClusterTier::GetMany(const ModelId& model, const std::vector<BlockHash>& hashes,
                               size_t parallelism, const BlobSink& sink) {
  std::vector<RedisCluster::Command> commands(hashes.size());
  for (size_t i = 0; i < hashes.size(); ++i) {
    commands[i].key = RedisBlockKey(model, hashes[i]);
    commands[i].argv = {"GET", commands[i].key};
  }
  impl_->cluster.Run(commands, parallelism, [&](size_t i, Result<RedisReply> reply) {
    std::string blob;
    Status s = ValueOf(std::move(reply), &blob);
    sink(i, std::move(s), &blob);
  });
}

void RedisClusterTier::Drop(const ModelId& model, const BlockHash& hash) {
  RedisCluster::Command c;
  c.key = RedisBlockKey(model, hash);
  c.argv = {"DEL", c.key};
  if (impl_->cluster.RunOne(c).ok()) ++impl_->dropped;
}

Status RedisClusterTier::Put(const ModelId& model, const BlockHash& hash, std::string_view blob) {
  RedisCluster::Command c;
  c.key = RedisBlockKey(model, hash);
  c.argv = {"SET", c.key, blob, "NX"};
  return SetOutcome(impl_->cluster.RunOne(c));
}

Status RedisClusterTier::Register(const ModelId& model, std::string_view canonical_description) {
  RedisCluster::Command c;
  c.key = RedisModelKey(model);
  c.argv = {"SET", c.key, canonical_description, "NX"};
  return SetOutcome(impl_->cluster.RunOne(c));
}

Status RedisClusterTier::GetLogits(const LogitsKey& key, std::string* record) {
  RedisCluster::Command c;
  c.key = RedisLogitsKey(key);
  c.argv = {"GET", c.key};
  return ValueOf(impl_->cluster.RunOne(c), record);
}

Status RedisClusterTier::PutLogits(const LogitsKey& key, std::string_view record) {
  RedisCluster::Command c;
  c.key = RedisLogitsKey(key);
  c.argv = {"SET", c.key, record, "NX"};
  return SetOutcome(impl_->cluster.RunOne(c));
}

std::vector<RedisNodeCensus> RedisClusterTier::Census() {
  std::vector<RedisNodeCensus> out;
  for (const RedisCluster::MasterView& m : impl_->cluster.Masters()) {
    RedisNodeCensus node;
    node.address = m.address;
    node.slots = m.slots;
    std::string cursor = "0";
    do {
      auto reply = impl_->cluster.RunOnNode(
          m.address,
          {"SCAN", cursor, "MATCH", std::string(kRedisKeyPrefix) + "*", "COUNT", kScanCount});
      if (!reply.ok() || (*reply)->type != REDIS_REPLY_ARRAY || (*reply)->elements != 2) {
        node.error =
            reply.ok() ? "SCAN: " + std::string(ReplyText(**reply)) : reply.status().message();
        break;
      }
      const redisReply& r = **reply;
      cursor = std::string(ReplyText(*r.element[0]));
      std::vector<RedisCluster::Command> sizes;
      std::vector<RedisKeyKind> kinds;
      for (size_t i = 0; i < r.element[1]->elements; ++i) {
        const redisReply* key = r.element[1]->element[i];
        const RedisKeyKind kind = ClassifyRedisKey(ReplyText(*key));
        if (kind == RedisKeyKind::kOther) continue;
        RedisCluster::Command c;
        c.key = std::string(ReplyText(*key));
        sizes.push_back(std::move(c));
        kinds.push_back(kind);
      }
      for (auto& c : sizes) c.argv = {"STRLEN", c.key};
      impl_->cluster.Run(sizes, 1, [&](size_t i, Result<RedisReply> len) {
        if (!len.ok() || (*len)->type != REDIS_REPLY_INTEGER) return;
        const uint64_t bytes = static_cast<uint64_t>((*len)->integer);
        if (bytes == 0) return;  // evicted or deleted since the SCAN
        switch (kinds[i]) {
          case RedisKeyKind::kBlock:
            ++node.blocks;
            node.block_bytes += bytes;
            break;
          case RedisKeyKind::kLogits:
            ++node.logits;
            node.logits_bytes += bytes;
            break;
          case RedisKeyKind::kModel:
            ++node.models;
            break;
          case RedisKeyKind::kOther:
            break;
        }
      });
    } while (cursor != "0");
    if (node.error.empty()) {
      auto info = impl_->cluster.RunOnNode(m.address, {"INFO"});
      if (info.ok() && (*info)->type == REDIS_REPLY_STRING) {
        const std::string_view text = ReplyText(**info);
        node.used_memory = InfoField(text, "used_memory");
        node.maxmemory = InfoField(text, "maxmemory");
        node.maxmemory_policy = InfoText(text, "maxmemory_policy");
        node.evicted_keys = InfoField(text, "evicted_keys");
      }
    }
    out.push_back(std::move(node));
  }
  return out;
}

std::vector<RemoteNodeHealth> RedisClusterTier::Health() {
  std::vector<RemoteNodeHealth> out;
  for (const RedisCluster::MasterView& m : impl_->cluster.Masters()) {
    out.push_back({m.address.ToString(), m.failures, m.down});
  }
  return out;
}

RedisTierStats RedisClusterTier::Stats() const {
  RedisTierStats s;
  s.node_failures = impl_->cluster.failures();
  s.redirections = impl_->cluster.redirections();
  s.dropped = impl_->dropped.load();
  return s;
}

}  // namespace kvstash
