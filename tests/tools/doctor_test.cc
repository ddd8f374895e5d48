// aim-doctor against the stand-in Aim server and real nginx (TLS, credential checks): every
// failure class gives its own message and exit code, success gives 0, and no secret value
// ever appears in the output.
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/nginx/nginx.h"
#include "tests/support/nginx/upstream.h"
#include "tests/support/server/grpc_test_server.h"
#include "tests/support/server/http_test_server.h"
#include "tests/tools/subprocess.h"
#include "tools/doctor.h"

namespace aim::tools_test {
namespace {

using ::aim::test_server::HttpTestServer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "doctor-s3cr3t-token";
constexpr char kWrongToken[] = "doctor-wrong-token";

ProcessResult Doctor(const std::string& repo, std::map<std::string, std::string> env = {},
                     const std::string& ca_file = "") {
  std::vector<std::string> argv = {AIM_DOCTOR, repo, "--timeout", "5"};
  if (!ca_file.empty()) {
    argv.push_back("--ca-file");
    argv.push_back(ca_file);
  }
  ProcessResult r = RunProcess(argv, env);
  // Whatever happened, no secret value is printed.
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kToken)));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr(kWrongToken)));
  return r;
}

class DoctorNginxTest : public ::testing::Test {
 protected:
  void Start(testing::NginxOptions options) {
    auto server = HttpTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    options.upstream_port = server_->port();
    auto nginx = testing::NginxProxy::Start(options);
    ASSERT_TRUE(nginx.ok()) << nginx.status();
    nginx_ = *std::move(nginx);
  }
  static testing::NginxOptions Bearer() {
    testing::NginxOptions o;
    o.bearer_token = kToken;
    return o;
  }
  std::string Repo() const { return absl::StrCat("aim://127.0.0.1:", nginx_->port()); }
  std::string Ca() const { return nginx_->pki().ca_cert_path; }

  std::unique_ptr<HttpTestServer> server_;
  std::unique_ptr<testing::NginxProxy> nginx_;
};

TEST(DoctorTest, SuccessAgainstThePlainTestServer) {
  auto server = HttpTestServer::Start();
  ASSERT_TRUE(server.ok());
  ProcessResult r = Doctor((*server)->aim_url());
  EXPECT_EQ(r.exit_code, tools::kExitOk) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("plain HTTP"));
  EXPECT_THAT(r.out, HasSubstr("101 Switching Protocols"));
  EXPECT_THAT(r.out, HasSubstr("Aim 3.29.1"));
  EXPECT_THAT(r.out, HasSubstr("would send: none"));
}

TEST(DoctorTest, ServerDown) {
  auto server = HttpTestServer::Start();
  ASSERT_TRUE(server.ok());
  const std::string repo = (*server)->aim_url();
  (*server)->StopAccepting();
  ProcessResult r = Doctor(repo);
  EXPECT_EQ(r.exit_code, tools::kExitTcp) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[FAIL] TCP: cannot connect"));
  EXPECT_THAT(r.out, HasSubstr("is `aim server`"));
}

TEST(DoctorTest, WrongPortAnsweredByAnotherService) {
  auto other = testing::LoopbackHttpUpstream::Start();
  ASSERT_TRUE(other.ok()) << other.status();
  ProcessResult r = Doctor(absl::StrCat("aim://127.0.0.1:", (*other)->port()));
  EXPECT_EQ(r.exit_code, tools::kExitNotAim) << r.out;
  EXPECT_THAT(r.out, HasSubstr("another service answers on this port"));
}

TEST(DoctorTest, NotFoundMeansOldServerOrWrongBasePath) {
  test_server::HttpTestServerOptions o;
  o.base_path = "/aim";
  auto server = HttpTestServer::Start(o);
  ASSERT_TRUE(server.ok());
  ProcessResult r = Doctor(absl::StrCat("aim://127.0.0.1:", (*server)->port()));
  EXPECT_EQ(r.exit_code, tools::kExitOldServer) << r.out;
  EXPECT_THAT(r.out, HasSubstr("likely an Aim < 3.19 gRPC server, or a base path"));
  EXPECT_THAT(r.out, HasSubstr("no Aim gRPC server either"));
  EXPECT_EQ(Doctor((*server)->aim_url()).exit_code, tools::kExitOk);
}

TEST(DoctorTest, OldGrpcServerIsFoundAndWorks) {
  auto server = test_server::GrpcTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ProcessResult r = Doctor((*server)->aim_url());
  EXPECT_EQ(r.exit_code, tools::kExitOk) << r.out;
  EXPECT_THAT(r.out, HasSubstr("does not speak HTTP/1.1"));
  EXPECT_THAT(r.out, HasSubstr("grpc.health.v1.Health/Check (plaintext)"));
  EXPECT_THAT(r.out, HasSubstr("over gRPC"));
}

TEST(DoctorTest, InvalidCredentialEnvironment) {
  auto server = HttpTestServer::Start();
  ASSERT_TRUE(server.ok());
  ProcessResult r = Doctor((*server)->aim_url(),
                           {{"AIM_AUTH_TOKEN", kToken}, {"AIM_AUTH_TOKEN_FILE", "/nonexistent"}});
  EXPECT_EQ(r.exit_code, tools::kExitCredentials) << r.out;
  EXPECT_THAT(r.out, HasSubstr("AIM_AUTH_TOKEN"));
}

TEST(DoctorTest, UnresolvableHost) {
  ProcessResult r = Doctor("aim://no-such-host.invalid:53800");
  EXPECT_EQ(r.exit_code, tools::kExitDns) << r.out;
  EXPECT_THAT(r.out, HasSubstr("cannot resolve 'no-such-host.invalid'"));
}

TEST(DoctorTest, BadUrlIsAUsageError) {
  EXPECT_EQ(Doctor("aim://user:pw@host:1").exit_code, tools::kExitUsage);
  EXPECT_EQ(RunProcess({AIM_DOCTOR}).exit_code, tools::kExitUsage);
  ProcessResult help = RunProcess({AIM_DOCTOR, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("17  the WebSocket upgrade"));
}

TEST_F(DoctorNginxTest, SuccessThroughNginxWithTlsAndToken) {
  Start(Bearer());
  ProcessResult r = Doctor(Repo(), {{"AIM_AUTH_TOKEN", kToken}}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitOk) << r.out << nginx_->Log();
  EXPECT_THAT(r.out, HasSubstr("https + wss"));
  EXPECT_THAT(r.out, HasSubstr("would send: Authorization (values not shown)"));
  EXPECT_THAT(r.out, HasSubstr("All checks passed"));
}

TEST_F(DoctorNginxTest, UnknownCa) {
  Start(Bearer());
  ProcessResult r = Doctor(Repo(), {{"AIM_AUTH_TOKEN", kToken}});
  EXPECT_EQ(r.exit_code, tools::kExitTls) << r.out;
  EXPECT_THAT(r.out, HasSubstr("UNKNOWN CA"));
  EXPECT_THAT(r.out, HasSubstr("--ca-file"));
  // The CA from the environment instead of the flag works.
  EXPECT_EQ(Doctor(Repo(), {{"AIM_AUTH_TOKEN", kToken}, {"AIM_CA_FILE", Ca()}}).exit_code,
            tools::kExitOk);
}

TEST_F(DoctorNginxTest, MissingCredentials) {
  Start(Bearer());
  ProcessResult r = Doctor(Repo(), {}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitUnauthenticated) << r.out;
  EXPECT_THAT(r.out, HasSubstr("401"));
  EXPECT_THAT(r.out, HasSubstr("export AIM_AUTH_TOKEN"));
}

TEST_F(DoctorNginxTest, WrongCredentials) {
  Start(Bearer());
  ProcessResult r = Doctor(Repo(), {{"AIM_AUTH_TOKEN", kWrongToken}}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitForbidden) << r.out;
  EXPECT_THAT(r.out, HasSubstr("403 Forbidden: credentials refused (sent: Authorization)"));
}

TEST_F(DoctorNginxTest, LoginRedirectNamesCloudflareAccess) {
  testing::NginxOptions o;
  o.cf_client_id = "doctor-client-id";
  o.cf_client_secret = kToken;
  o.login_redirect = true;
  Start(o);
  ProcessResult r = Doctor(Repo(), {}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitLoginRedirect) << r.out;
  EXPECT_THAT(r.out, HasSubstr("LOGIN PAGE"));
  EXPECT_THAT(r.out, HasSubstr("Cloudflare Access"));
  EXPECT_THAT(r.out, HasSubstr(testing::kNginxLoginUrl));
  // With the service token pair it passes.
  r = Doctor(Repo(), {{"CF_ACCESS_CLIENT_ID", "doctor-client-id"},
                      {"CF_ACCESS_CLIENT_SECRET", kToken}}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitOk) << r.out;
  EXPECT_THAT(r.out, HasSubstr("CF-Access-Client-Id"));
}

TEST_F(DoctorNginxTest, ProxyBlockingWebSocketUpgrades) {
  testing::NginxOptions o = Bearer();
  o.block_websocket = true;
  Start(o);
  ProcessResult r = Doctor(Repo(), {{"AIM_AUTH_TOKEN", kToken}}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitWebSocket) << r.out;
  EXPECT_THAT(r.out, HasSubstr("[ok]   GET /status/"));
  EXPECT_THAT(r.out, HasSubstr("the upgrade to wss://"));
  EXPECT_THAT(r.out, HasSubstr("forward WebSocket upgrades"));
}

TEST_F(DoctorNginxTest, UpstreamDownBehindTheProxy) {
  Start(Bearer());
  server_->StopAccepting();
  ProcessResult r = Doctor(Repo(), {{"AIM_AUTH_TOKEN", kToken}}, Ca());
  EXPECT_EQ(r.exit_code, tools::kExitUpstream) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the Aim server behind it does not"));
}

}  // namespace
}  // namespace aim::tools_test
