// The HTTP + WebSocket transport through REAL nginx with TLS (tests/support/nginx) in front of
// the stand-in Aim server, nginx requiring a Bearer token as an operator would configure it.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "aim/auth/credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/http_transport.h"
#include "tests/support/nginx/nginx.h"
#include "tests/support/server/http_test_server.h"
#include "wire/codec.h"

namespace aim::rpc {
namespace {

using ::aim::test_server::HttpTestServer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "nginx-s3cr3t-token";
constexpr char kRunHash[] = "668458c785e24a678bfc6ce3";

class HttpTransportNginxTest : public ::testing::Test {
 protected:
  void Start(bool login_redirect) {
    auto server = HttpTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    testing::NginxOptions no;
    no.upstream_port = server_->port();
    no.bearer_token = kToken;
    no.login_redirect = login_redirect;
    auto nginx = testing::NginxProxy::Start(no);
    ASSERT_TRUE(nginx.ok()) << nginx.status();
    nginx_ = *std::move(nginx);
  }

  HttpTransportOptions Options(auth::CredentialsPtr credentials) {
    HttpTransportOptions o;
    auto url = ParseServerUrl(absl::StrCat("aim://127.0.0.1:", nginx_->port()));
    EXPECT_TRUE(url.ok());
    o.server = *url;
    o.ca_bundle_file = nginx_->pki().ca_cert_path;
    o.credentials = std::move(credentials);
    o.request_timeout = absl::Seconds(5);
    o.read_instruction_timeout = absl::Seconds(5);
    o.ws_ack_timeout = absl::Seconds(5);
    return o;
  }

  static auth::CredentialsPtr Bearer(const char* token) {
    auto c = auth::BearerToken(token);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  std::unique_ptr<HttpTestServer> server_;
  std::unique_ptr<testing::NginxProxy> nginx_;
};

std::string Batch(const std::string& handler, int value) {
  Value instr = Value::MakeList(
      {Value(handler), Value("__setitem__"),
       Value::MakeList({Value::MakeList({Value("x"), Value("v")}), Value(value)})});
  auto packed = wire::Pack(Value::MakeList({instr}));
  EXPECT_TRUE(packed.ok()) << packed.status();
  return packed.ok() ? *packed : "";
}

TEST_F(HttpTransportNginxTest, TlsWritesAndReadsWithBearerToken) {
  Start(/*login_redirect=*/false);
  HttpTransportOptions o = Options(Bearer(kToken));
  // aim:// through a TLS-only proxy: the probe must settle on https.
  auto url = SelectHttpScheme(o);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "https");
  o.server = *url;
  auto t = MakeHttpTransport(o);
  ASSERT_TRUE(t.ok()) << t.status();
  Transport& tr = **t;
  ASSERT_TRUE(tr.Connect().ok()) << nginx_->Log();
  auto meta = tr.GetResource(
      "TreeView",
      Value::MakeDict({{"name", "meta"}, {"sub", kRunHash}, {"read_only", false},
                       {"index", false}, {"timeout", nullptr}}),
      "");
  ASSERT_TRUE(meta.ok()) << meta.status();
  absl::Status w = tr.WriteBatch(Batch(*meta, 1));
  ASSERT_TRUE(w.ok()) << w << nginx_->Log();
  auto read = tr.ReadInstruction(*meta, "collect",
                                 Value::MakeList({Value::MakeList({"x", "v"}), true, false}));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, Value(1));

  // A dropped WebSocket: reconnect through nginx with the token again.
  server_->DropWebSocketAfter(1);
  EXPECT_EQ(tr.WriteBatch(Batch(*meta, 2)).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(tr.Reconnect().ok());
  ASSERT_TRUE(tr.WriteBatch(Batch(*meta, 2)).ok());
  EXPECT_EQ(server_->websocket_connections(), 2u);
}

TEST_F(HttpTransportNginxTest, MissingOrWrongTokenIsAClearAuthError) {
  Start(/*login_redirect=*/false);
  HttpTransportOptions none = Options(nullptr);
  none.server.scheme = "https";
  auto t = MakeHttpTransport(none);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Connect().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*t)->WriteBatch("x").code(), absl::StatusCode::kUnauthenticated);

  HttpTransportOptions wrong = Options(Bearer("wrong-token-value"));
  wrong.server.scheme = "https";
  t = MakeHttpTransport(wrong);
  ASSERT_TRUE(t.ok());
  for (absl::Status s : {(*t)->Connect(), (*t)->WriteBatch("x")}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("Authorization"));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("wrong-token-value")));
  }
  EXPECT_EQ(server_->Requests().size(), 0u);  // nothing got past nginx
}

TEST_F(HttpTransportNginxTest, LoginRedirectNamesTheLoginHost) {
  Start(/*login_redirect=*/true);
  HttpTransportOptions o = Options(Bearer("wrong-token-value"));
  o.server.scheme = "https";
  auto t = MakeHttpTransport(o);
  ASSERT_TRUE(t.ok());
  for (absl::Status s : {(*t)->Heartbeat(), (*t)->WriteBatch("x")}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("302"));
    EXPECT_THAT(std::string(s.message()), HasSubstr("login.invalid"));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("wrong-token-value")));
  }
}

}  // namespace
}  // namespace aim::rpc
