// The remote tier's front door (store/remote/remote_tier.h): which addresses
// reach a backend, and the error for those that reach none.
#include "store/remote/remote_tier.h"

#include <gtest/gtest.h>

#include "store/store.h"
#include "tests/test_util.h"

namespace kvstash {
namespace {

TEST(RemoteTierTest, HostPortIsAKvstashServePeer) {
  auto tier = OpenRemoteTier("127.0.0.1:7420", "token");
  ASSERT_OK(tier.status());
  EXPECT_EQ((*tier)->Describe(), "kvstash serve 127.0.0.1:7420");
}

TEST(RemoteTierTest, AnAddressNoBackendTakesIsRefusedByName) {
  for (const char* address :
       {"memcached://10.0.0.1:11211", "127.0.0.1", "127.0.0.1:99999", ":7420"}) {
    auto tier = OpenRemoteTier(address, "");
    ASSERT_FALSE(tier.ok()) << address;
    EXPECT_TRUE(tier.status().IsInvalidArgument()) << tier.status().ToString();
    EXPECT_NE(tier.status().message().find(address), std::string::npos) << tier.status().ToString();
  }
  // Through the Store, before anything is opened.
  StoreOptions options;
  options.device = "cpu";
  options.remote = "memcached://10.0.0.1:11211";
  auto store = Store::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("HOST:PORT"), std::string::npos)
      << store.status().ToString();
}

}  // namespace
}  // namespace kvstash
