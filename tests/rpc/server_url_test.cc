#include "rpc/server_url.h"

#include "gtest/gtest.h"
#include "rpc/transport.h"

namespace aim::rpc {
namespace {

TEST(ServerUrlTest, AimUrls) {
  auto u = ParseServerUrl("aim://127.0.0.1:53800");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(*u, (ServerUrl{"", "127.0.0.1", 53800, ""}));
  EXPECT_EQ(Authority(*u), "127.0.0.1:53800");

  u = ParseServerUrl("aim://Host.Example:8080/foo/bar/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(*u, (ServerUrl{"", "host.example", 8080, "/foo/bar"}));
  EXPECT_EQ(UrlPrefix(*u, "wss"), "wss://host.example:8080/foo/bar");

  u = ParseServerUrl("aim://aim.example.com/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 0);
  EXPECT_EQ(u->base_path, "");
  EXPECT_EQ(Authority(*u), "aim.example.com");
}

TEST(ServerUrlTest, ExplicitSchemesAndIpv6) {
  auto u = ParseServerUrl("https://[::1]:443/x");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(*u, (ServerUrl{"https", "::1", 443, "/x"}));
  EXPECT_EQ(UrlPrefix(*u, "https"), "https://[::1]:443/x");
  u = ParseServerUrl("HTTP://h:1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "http");
}

TEST(ServerUrlTest, Rejected) {
  for (const char* bad :
       {"", "h:1", "ftp://h", "aim://", "aim://:1", "aim://h:", "aim://h:0", "aim://h:65536",
        "aim://h:12a", "aim://user:pw@h:1", "aim://h:1/?q", "aim://h:1/#f", "aim://h 1",
        "aim://[::1", "aim://[::1]x", "aim://h:1/a b", "aim://h:1//a", "aim://h%41:1"}) {
    EXPECT_FALSE(ParseServerUrl(bad).ok()) << bad;
  }
}

TEST(ServerErrorTest, CarriesClassName) {
  absl::Status s = ServerError({"builtins", "KeyError", "[\"x\"]", "'x'"});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "aim server raised builtins.KeyError: 'x'");
  EXPECT_TRUE(IsServerException(s, "KeyError"));
  EXPECT_FALSE(IsServerException(s, "StopIteration"));
  EXPECT_FALSE(IsServerException(absl::FailedPreconditionError("KeyError"), "KeyError"));
  EXPECT_FALSE(IsServerException(absl::OkStatus(), "KeyError"));
}

}  // namespace
}  // namespace aim::rpc
