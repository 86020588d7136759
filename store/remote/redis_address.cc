#include "store/remote/redis_address.h"

#include <cstdlib>

namespace kvstash {

namespace {

constexpr std::string_view kScheme = "redis://";

Result<RedisNodeAddress> ParseNode(const std::string& address, const std::string& node) {
  const size_t colon = node.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == node.size()) {
    return Status::InvalidArgument("remote '" + address + "': node '" + node +
                                   "' is not HOST:PORT");
  }
  RedisNodeAddress out;
  out.host = node.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);  // [::1]:7000
  }
  const std::string port = node.substr(colon + 1);
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (*end != '\0' || p == 0 || p > 65535 || port[0] == '-' || port[0] == '+') {
    return Status::InvalidArgument("remote '" + address + "': bad port '" + port + "'");
  }
  out.port = static_cast<uint16_t>(p);
  return out;
}

}  // namespace

bool IsRedisAddress(const std::string& address) {
  return address.compare(0, kScheme.size(), kScheme) == 0;
}

Result<RedisClusterOptions> ParseRedisAddress(const std::string& address,
                                              const std::string& token) {
  if (!IsRedisAddress(address)) {
    return Status::InvalidArgument("remote '" + address + "' is not redis://HOST:PORT[,...]");
  }
  RedisClusterOptions options;
  std::string rest = address.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  // Credentials end at the last '@': a password may hold one.
  const size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = credentials.find(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("remote redis://" + rest +
                                     ": credentials are written [USER]:PASSWORD@");
    }
    options.user = credentials.substr(0, colon);
    options.password = credentials.substr(colon + 1);
    if (options.password.empty()) {
      return Status::InvalidArgument("remote redis://" + rest + ": empty password");
    }
    if (!token.empty()) {
      return Status::InvalidArgument("remote redis://" + rest +
                                     ": a password in the address and a token file; give one");
    }
  } else {
    options.password = token;
  }
  // Messages show the address without its credentials.
  const std::string shown = std::string(kScheme) + rest;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    const std::string node = rest.substr(start, comma - start);
    if (!node.empty()) {
      KVSTASH_ASSIGN_OR_RETURN(RedisNodeAddress seed, ParseNode(shown, node));
      options.seeds.push_back(std::move(seed));
    }
    start = comma + 1;
  }
  if (options.seeds.empty()) {
    return Status::InvalidArgument("remote '" + shown +
                                   "' names no node (redis://HOST:PORT[,HOST:PORT...])");
  }
  return options;
}

std::string DescribeRedisSeeds(const RedisClusterOptions& options) {
  std::string out(kScheme);
  for (size_t i = 0; i < options.seeds.size(); ++i) {
    if (i > 0) out += ',';
    out += options.seeds[i].ToString();
  }
  return out;
}

}  // namespace kvstash
