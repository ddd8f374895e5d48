// End to end over HTTP: libcurl with each credential kind through REAL nginx (TLS with a
// test-made certificate, verification on) running examples/server/nginx/aim.conf.template.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "aim/auth/credentials.h"
#include "aim/auth/curl.h"
#include "aim/auth/http.h"
#include "absl/strings/str_join.h"
#include "tests/auth/test_util.h"
#include "tests/support/nginx/nginx.h"
#include "tests/support/nginx/upstream.h"

namespace aim::auth {
namespace {

using ::aim::auth::testing::MakeJwt;
using ::aim::auth::testing::ScopedEnv;
using ::aim::testing::LoopbackHttpUpstream;
using ::aim::testing::NginxOptions;
using ::aim::testing::NginxProxy;
using ::aim::testing::TempDir;
using ::aim::testing::WriteFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Response {
  long code = 0;
  std::string body;
  std::string redirect;  // Location of a 3xx
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

class NginxE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LoopbackHttpUpstream>> upstream = LoopbackHttpUpstream::Start();
    ASSERT_TRUE(upstream.ok()) << upstream.status();
    upstream_ = *std::move(upstream);
  }

  void StartNginx(NginxOptions options) {
    options.upstream_port = upstream_->port();
    absl::StatusOr<std::unique_ptr<NginxProxy>> nginx = NginxProxy::Start(options);
    ASSERT_TRUE(nginx.ok()) << nginx.status();
    nginx_ = *std::move(nginx);
  }

  // GET <nginx>/api/projects with `credentials` applied through the libcurl adapter.
  Response Get(const Credentials& credentials) {
    const std::string url = nginx_->url() + "/api/projects";
    absl::StatusOr<CurlHeaderList> headers = CurlHeaderList::Create(credentials, url);
    EXPECT_TRUE(headers.ok()) << headers.status();
    if (!headers.ok()) return {};
    Response response;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CAINFO, nginx_->pki().ca_cert_path.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    EXPECT_TRUE(headers->ApplyTo(curl).ok());
    const CURLcode rc = curl_easy_perform(curl);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << "\nnginx log:\n" << nginx_->Log();
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.code);
    const char* location = nullptr;
    curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
    if (location != nullptr) response.redirect = location;
    curl_easy_cleanup(curl);
    return response;
  }

  long Status(const absl::StatusOr<CredentialsPtr>& credentials) {
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? Get(**credentials).code : -1;
  }

  // A raw WebSocket upgrade (libcurl 7.88 has no WebSocket support) with the credential
  // lines HttpHeaderLines produces for a wss:// URL; returns the status line.
  std::string Upgrade(const Credentials& credentials) {
    const std::string url = absl::StrCat("wss://127.0.0.1:", nginx_->port(), "/tracking/ws");
    absl::StatusOr<std::vector<std::string>> lines = HttpHeaderLines(credentials, url);
    EXPECT_TRUE(lines.ok()) << lines.status();
    if (!lines.ok()) return "";
    std::string request = absl::StrCat(
        "GET /tracking/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    for (const std::string& line : *lines) absl::StrAppend(&request, line, "\r\n");
    request += "\r\n";
    absl::StatusOr<std::string> head =
        aim::testing::TlsRequestHead(nginx_->port(), nginx_->pki().ca_cert_path, request);
    EXPECT_TRUE(head.ok()) << head.status();
    return head.ok() ? head->substr(0, head->find("\r\n")) : "";
  }

  std::unique_ptr<LoopbackHttpUpstream> upstream_;
  std::unique_ptr<NginxProxy> nginx_;
};

TEST_F(NginxE2eTest, BearerToken) {
  StartNginx({.bearer_token = "tok-right"});
  EXPECT_EQ(Get(*NoCredentials()).code, 401);
  EXPECT_EQ(Status(BearerToken("tok-wrong")), 403);
  Response ok = Get(**BearerToken("tok-right"));
  EXPECT_EQ(ok.code, 200);
  EXPECT_EQ(ok.body, "upstream ok\n");
  // What reached the upstream went through the proxy block of the operator's file.
  ASSERT_FALSE(upstream_->RequestHeads().empty());
  EXPECT_THAT(upstream_->RequestHeads().back(), StartsWith("GET /api/projects HTTP/1.1\r\n"));
  EXPECT_THAT(upstream_->RequestHeads().back(), HasSubstr("X-Forwarded-Proto: https"));
}

TEST_F(NginxE2eTest, CloudflareServiceToken) {
  StartNginx({.cf_client_id = "id.access", .cf_client_secret = "sec-right"});
  EXPECT_EQ(Get(*NoCredentials()).code, 401);
  EXPECT_EQ(Status(CustomHeaders({{"CF-Access-Client-Id", "id.access"}})), 401);
  EXPECT_EQ(Status(CloudflareServiceToken("id.access", "sec-wrong")), 403);
  EXPECT_EQ(Status(CloudflareServiceToken("id.other", "sec-right")), 403);
  EXPECT_EQ(Status(CloudflareServiceToken("id.access", "sec-right")), 200);
}

TEST_F(NginxE2eTest, CloudflareAccessJwt) {
  const std::string jwt = MakeJwt(absl::StrCat(R"({"sub":"ci","exp":)",
                                               absl::ToUnixSeconds(absl::Now()) + 3600, "}"));
  StartNginx({.header_name = "cf-access-token", .header_value = jwt});
  EXPECT_EQ(Get(*NoCredentials()).code, 401);
  EXPECT_EQ(Status(CloudflareAccessJwt(MakeJwt(R"({"sub":"other"})"))), 403);
  EXPECT_EQ(Status(CloudflareAccessJwt(jwt)), 200);
}

TEST_F(NginxE2eTest, CustomHeaders) {
  StartNginx({.header_name = "X-Api-Key", .header_value = "key-right"});
  EXPECT_EQ(Status(CustomHeaders({{"X-Team", "ml"}})), 401);
  EXPECT_EQ(Status(CustomHeaders({{"X-Team", "ml"}, {"X-Api-Key", "key-wrong"}})), 403);
  EXPECT_EQ(Status(CustomHeaders({{"X-Team", "ml"}, {"x-api-key", "key-right"}})), 200);
}

TEST_F(NginxE2eTest, FromEnvironment) {
  StartNginx({.cf_client_id = "id.access", .cf_client_secret = "sec-right"});
  ScopedEnv env = ScopedEnv::Clean();
  env.Set("CF_ACCESS_CLIENT_ID", "id.access").Set("CF_ACCESS_CLIENT_SECRET", "sec-right");
  EXPECT_EQ(Status(FromEnvironment()), 200);
}

TEST_F(NginxE2eTest, RotatedTokenFileIsUsedWithoutRestart) {
  StartNginx({.bearer_token = "tok-new"});
  absl::StatusOr<TempDir> dir = TempDir::Create();
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFile(dir->File("token"), "tok-old\n").ok());
  absl::StatusOr<CredentialsPtr> file = TokenFile(dir->File("token"), TokenFileKind::kBearerToken,
                                                  TokenFileOptions{absl::ZeroDuration()});
  EXPECT_EQ(Status(file), 403);
  ASSERT_TRUE(WriteFile(dir->File("next"), "tok-new\n").ok());
  ASSERT_EQ(std::rename(dir->File("next").c_str(), dir->File("token").c_str()), 0);
  EXPECT_EQ(Status(file), 200);
}

TEST_F(NginxE2eTest, LoginRedirectLikeCloudflareAccess) {
  StartNginx({.bearer_token = "tok-right", .login_redirect = true});
  Response missing = Get(*NoCredentials());
  EXPECT_EQ(missing.code, 302);
  EXPECT_EQ(missing.redirect, aim::testing::kNginxLoginUrl);
  EXPECT_EQ(Status(BearerToken("tok-wrong")), 302);
  EXPECT_EQ(Status(BearerToken("tok-right")), 200);
}

TEST_F(NginxE2eTest, WebSocketUpgradeCarriesCredentials) {
  StartNginx({.bearer_token = "tok-right"});
  EXPECT_EQ(Upgrade(*NoCredentials()), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(Upgrade(**BearerToken("tok-wrong")), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(Upgrade(**BearerToken("tok-right")), "HTTP/1.1 101 Switching Protocols");
  ASSERT_FALSE(upstream_->RequestHeads().empty());
  const std::string forwarded = upstream_->RequestHeads().back();
  EXPECT_THAT(forwarded, HasSubstr("Upgrade: websocket\r\n"));
  EXPECT_THAT(forwarded, HasSubstr("Connection: upgrade\r\n"));
}

TEST_F(NginxE2eTest, WebSocketBlockedMode) {
  StartNginx({.bearer_token = "tok-right", .block_websocket = true});
  EXPECT_EQ(Upgrade(**BearerToken("tok-right")), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(Get(**BearerToken("tok-right")).code, 200);
}

TEST_F(NginxE2eTest, CertificateIsVerified) {
  StartNginx({});
  CURL* curl = curl_easy_init();
  const std::string url = nginx_->url() + "/";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, "/dev/null");  // not our CA: must fail
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  EXPECT_NE(rc, CURLE_OK);
  EXPECT_EQ(Get(*NoCredentials()).code, 200);  // no check configured
}

}  // namespace
}  // namespace aim::auth
