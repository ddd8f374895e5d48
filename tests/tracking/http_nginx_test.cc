// aim::Run through REAL nginx (tests/support/nginx: examples/server/nginx/aim.conf.template,
// TLS with a test CA) in front of the stand-in Aim server, nginx requiring one credential
// kind as an operator would configure it. The recorded scenario must store exactly what the
// Python client stored, with the credential on every request and every WebSocket handshake,
// reconnects included; a missing, wrong or redirected credential must be a clear error.
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/nginx/nginx.h"
#include "tests/support/server/http_test_server.h"
#include "tests/tracking/scenario.h"

namespace aim {
namespace {

using ::aim::test_server::HttpTestServer;
using ::testing::HasSubstr;
using ::testing::Not;

// One credential kind nginx can require: how nginx is told, how the SDK is given it, and the
// headers that must reach the upstream.
struct CredentialKind {
  const char* name;
  testing::NginxOptions nginx;  // upstream_port filled in by the test
  std::vector<auth::Header> headers;
  // The same kind with a value nginx does not accept.
  std::vector<auth::Header> wrong_headers;

  friend void PrintTo(const CredentialKind& k, std::ostream* os) { *os << k.name; }
};

auth::CredentialsPtr Make(const char* kind, const std::vector<auth::Header>& headers) {
  absl::StatusOr<auth::CredentialsPtr> c;
  const std::string k = kind;
  if (k == "Bearer") {
    // headers[0].value is "Bearer <token>": BearerToken takes the bare token.
    c = auth::BearerToken(headers[0].value.substr(7));
  } else if (k == "CloudflareServiceToken") {
    c = auth::CloudflareServiceToken(headers[0].value, headers[1].value);
  } else {
    c = auth::CustomHeaders(headers);
  }
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : nullptr;
}

CredentialKind Bearer() {
  CredentialKind k{.name = "Bearer"};
  k.nginx.bearer_token = "nginx-s3cr3t-token";
  k.headers = {{"Authorization", "Bearer nginx-s3cr3t-token"}};
  k.wrong_headers = {{"Authorization", "Bearer wrong-token-value"}};
  return k;
}

CredentialKind CloudflareServiceTokenPair() {
  CredentialKind k{.name = "CloudflareServiceToken"};
  k.nginx.cf_client_id = "client-id.access";
  k.nginx.cf_client_secret = "cf-s3cr3t-value";
  k.headers = {{"CF-Access-Client-Id", "client-id.access"},
               {"CF-Access-Client-Secret", "cf-s3cr3t-value"}};
  k.wrong_headers = {{"CF-Access-Client-Id", "client-id.access"},
                     {"CF-Access-Client-Secret", "wrong-secret-value"}};
  return k;
}

CredentialKind CustomHeader() {
  CredentialKind k{.name = "CustomHeader"};
  k.nginx.header_name = "X-Aim-Access-Key";
  k.nginx.header_value = "hdr-s3cr3t-value";
  k.headers = {{"X-Aim-Access-Key", "hdr-s3cr3t-value"}};
  k.wrong_headers = {{"X-Aim-Access-Key", "wrong-header-value"}};
  return k;
}

class HttpNginxTest : public ::testing::Test {
 protected:
  void Start(testing::NginxOptions nginx) {
    auto server = HttpTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    nginx.upstream_port = server_->port();
    auto proxy = testing::NginxProxy::Start(nginx);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    nginx_ = *std::move(proxy);
  }

  // aim:// and Scheme::kAuto, as a user writes it: the probe has to find TLS on its own.
  RunOptions Options(auth::CredentialsPtr credentials) const {
    RunOptions o{.repo = absl::StrCat("aim://127.0.0.1:", nginx_->port()),
                 .credentials = std::move(credentials),
                 .scheme = Scheme::kAuto,
                 .request_timeout = absl::Seconds(5)};
    o.tls.ca_file = nginx_->pki().ca_cert_path;
    return o;
  }

  std::unique_ptr<HttpTestServer> server_;
  std::unique_ptr<testing::NginxProxy> nginx_;
};

class HttpNginxCredentialTest : public HttpNginxTest,
                                public ::testing::WithParamInterface<CredentialKind> {};

TEST_P(HttpNginxCredentialTest, ScenarioStoresTheGoldenRecordsWithCredentialsEverywhere) {
  const CredentialKind& kind = GetParam();
  Start(kind.nginx);
  RunOptions options = Options(Make(kind.name, kind.headers));
  // Small messages: the scenario becomes a dozen messages, so the drop below lands mid-run.
  options.max_message_bytes = 256;
  // The third message is the first after AddTag (a read): the WebSocket goes away between
  // the params and the metrics; the rest of the run goes over a new handshake through nginx.
  server_->DropWebSocketAfter(3);

  absl::StatusOr<std::string> hash = scenario::RunBasicScenario(options);
  ASSERT_TRUE(hash.ok()) << hash.status() << "\nnginx: " << nginx_->Log();
  EXPECT_EQ(scenario::DiffFromGolden(server_->repo(), *hash), "");
  EXPECT_GT(server_->websocket_messages(), 3u);

  int handshakes = 0, http_requests = 0;
  for (const test_server::RequestRecord& r : server_->Requests()) {
    (r.websocket ? handshakes : http_requests) += 1;
    for (const auth::Header& h : kind.headers) {
      EXPECT_EQ(r.Header(h.name), h.value) << r.method << " " << r.target;
    }
  }
  EXPECT_GE(handshakes, 2) << "no WebSocket reconnect after the drop";
  EXPECT_EQ(static_cast<std::uint64_t>(handshakes), server_->websocket_connections());
  EXPECT_GT(http_requests, 10);
}

TEST_P(HttpNginxCredentialTest, WrongCredentialIsRefusedWithoutLeakingIt) {
  const CredentialKind& kind = GetParam();
  Start(kind.nginx);
  auto run = Run::Create(Options(Make(kind.name, kind.wrong_headers)));
  ASSERT_FALSE(run.ok());
  const std::string message(run.status().message());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kPermissionDenied) << run.status();
  EXPECT_THAT(message, HasSubstr("403"));
  EXPECT_THAT(message, HasSubstr(kind.headers.back().name));  // the kind, by header name
  for (const auth::Header& h : kind.wrong_headers) {
    if (h.value.find("wrong") != std::string::npos) {
      EXPECT_THAT(message, Not(HasSubstr(h.value)));
    }
  }
  EXPECT_TRUE(server_->Requests().empty()) << "a refused request got past nginx";
}

INSTANTIATE_TEST_SUITE_P(EachKind, HttpNginxCredentialTest,
                         ::testing::Values(Bearer(), CloudflareServiceTokenPair(), CustomHeader()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(HttpNginxTest, NoCredentialsIsAClearAuthenticationErrorNotAHang) {
  Start(Bearer().nginx);
  RunOptions options = Options(auth::NoCredentials());
  const absl::Time start = absl::Now();
  auto run = Run::Create(options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kUnauthenticated) << run.status();
  const std::string message(run.status().message());
  EXPECT_THAT(message, HasSubstr("401"));                              // the proxy's answer
  EXPECT_THAT(message, HasSubstr("credentials sent: NoCredentials"));  // what we sent
  // A refusal is not retried: well within one request timeout, not a hang.
  EXPECT_LT(took, options.request_timeout) << "Run::Create took " << took;
  EXPECT_TRUE(server_->Requests().empty());
}

TEST_F(HttpNginxTest, LoginRedirectIsPermissionDeniedNamingTheRedirect) {
  testing::NginxOptions nginx = Bearer().nginx;
  nginx.login_redirect = true;  // like Cloudflare Access with an identity provider
  Start(nginx);
  auto run = Run::Create(Options(auth::NoCredentials()));
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kPermissionDenied) << run.status();
  const std::string message(run.status().message());
  EXPECT_THAT(message, HasSubstr("302"));
  EXPECT_THAT(message, HasSubstr("redirect"));
  EXPECT_THAT(message, HasSubstr("login.invalid"));
  EXPECT_TRUE(server_->Requests().empty());
}

}  // namespace
}  // namespace aim
