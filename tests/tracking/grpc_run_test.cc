// aim::Run over gRPC (Aim 3.15.2-3.18) into the gRPC stand-in server: the recorded scenario
// stores what the real 3.18 server stored for the Python client (the same assertion as the
// HTTP suite), with every credential kind behind TLS, through a router and workers, across
// a server restart, and with the transport found automatically.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "aim/auth/credentials.h"
#include "aim/run.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/nginx/tls.h"
#include "tests/support/server/grpc_test_server.h"
#include "tests/tracking/scenario.h"

// gRPC's executor threads can still own OpenSSL's per-thread error state at exit, which
// LeakSanitizer then reports as a leak in libcrypto (see tests/auth/grpc_e2e_test.cc).
extern "C" const char* __lsan_default_suppressions() { return "leak:libcrypto.so\n"; }

namespace aim {
namespace {

using ::aim::test_server::GrpcTestServer;
using ::aim::test_server::GrpcTestServerOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kVersion[] = "3.18.1";  // no typed_traces, no TreeView.update
constexpr char kToken[] = "grpc-t0ken-value";
constexpr char kCfId[] = "cf-id.access";
constexpr char kCfSecret[] = "cf-s3cret-value";
constexpr char kTeamKey[] = "team-k3y-value";

RunOptions GrpcOptions(const GrpcTestServer& server) {
  return {.repo = server.aim_url(),
          .credentials = auth::NoCredentials(),
          .protocol = Protocol::kGrpc,
          .scheme = Scheme::kHttp};
}

// Points stored in the run's `seqs` container (one metric, one context in these tests).
int StoredPoints(const test_server::FakeAimRepo& repo, const std::string& hash) {
  int points = 0;
  for (const auto& [key, value] : repo.Records("seqs", hash)) {
    points += key.find(std::string("step\xfe\xfe", 6)) != std::string::npos;
  }
  return points;
}

std::unique_ptr<GrpcTestServer> MustStart(GrpcTestServerOptions options = {}) {
  auto server = GrpcTestServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  (*server)->repo().SetVersion(kVersion);
  for (int i = 1; i <= (*server)->workers(); ++i) (*server)->worker_repo(i).SetVersion(kVersion);
  return *std::move(server);
}

struct Strategy {
  const char* name;
  bool per_field_writes;
  friend void PrintTo(const Strategy& s, std::ostream* os) { *os << s.name; }
};

class GrpcScenarioTest : public ::testing::TestWithParam<Strategy> {};

TEST_P(GrpcScenarioTest, StoresExactlyWhatThePythonClientStored) {
  auto server = MustStart();
  ASSERT_NE(server, nullptr);
  RunOptions options = GrpcOptions(*server);
  options.per_field_writes = GetParam().per_field_writes;
  absl::StatusOr<std::string> hash = scenario::RunBasicScenario(options);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(scenario::DiffFromGolden(server->repo(), *hash, /*typed_traces=*/false), "");
  EXPECT_FALSE(server->repo().IsLocked(*hash));
}

INSTANTIATE_TEST_SUITE_P(WriteStrategies, GrpcScenarioTest,
                         ::testing::Values(Strategy{"Coalesced", false},
                                           Strategy{"PerFieldLikePython", true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(GrpcRun, AutoDetectsAPlaintextGrpcServer) {
  auto server = MustStart();
  ASSERT_NE(server, nullptr);
  // What examples/train_loop.cc does: only the URL, everything else by default.
  absl::StatusOr<std::string> hash = scenario::RunBasicScenario(
      {.repo = server->aim_url(), .credentials = auth::NoCredentials()});
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(scenario::DiffFromGolden(server->repo(), *hash, /*typed_traces=*/false), "");
}

TEST(GrpcRun, RouterSendsTheRunToTheWorkerItNames) {
  auto server = MustStart({.workers = 2, .route_to = 2});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::string> hash = scenario::RunBasicScenario(GrpcOptions(*server));
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(scenario::DiffFromGolden(server->worker_repo(2), *hash, /*typed_traces=*/false), "");
  EXPECT_TRUE(server->worker_repo(1).RunHashes().empty());
  EXPECT_TRUE(server->repo().RunHashes().empty());
  EXPECT_EQ(server->worker_repo(1).Counters().get_resource_calls, 0u);
  EXPECT_GT(server->worker_repo(2).Counters().write_messages, 0u);
}

TEST(GrpcRun, ServerRestartMidRunLosesNothing) {
  auto server = MustStart();
  ASSERT_NE(server, nullptr);
  auto run = Run::Create(GrpcOptions(*server));
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string hash = (*run)->hash();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*run)->Track(i * 0.5, "loss").ok());
  ASSERT_TRUE((*run)->Flush().ok());

  // Restarted: the server forgot every handler; the run re-creates them and resends.
  ASSERT_TRUE(server->Restart().ok());
  for (int i = 50; i < 100; ++i) ASSERT_TRUE((*run)->Track(i * 0.5, "loss").ok());
  ASSERT_TRUE((*run)->Flush().ok());

  // Down while points are queued: the sender retries until the server is back.
  server->Stop();
  for (int i = 100; i < 150; ++i) ASSERT_TRUE((*run)->Track(i * 0.5, "loss").ok());
  ASSERT_TRUE(server->Resume().ok());
  ASSERT_TRUE((*run)->Close().ok());

  EXPECT_EQ(StoredPoints(server->repo(), hash), 150);
  EXPECT_GE((*run)->stats().reconnects, 1u);
  EXPECT_EQ((*run)->stats().points_failed, 0u);
  EXPECT_FALSE(server->repo().IsLocked(hash));
}

TEST(GrpcRun, RestartWithWorkersKeepsTheRunOnItsWorker) {
  auto server = MustStart({.workers = 2, .route_to = 2});
  ASSERT_NE(server, nullptr);
  auto run = Run::Create(GrpcOptions(*server));
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string hash = (*run)->hash();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*run)->Track(i, "loss").ok());
  ASSERT_TRUE((*run)->Flush().ok());
  ASSERT_TRUE(server->Restart().ok());
  for (int i = 20; i < 40; ++i) ASSERT_TRUE((*run)->Track(i, "loss").ok());
  ASSERT_TRUE((*run)->Close().ok());
  EXPECT_EQ(StoredPoints(server->worker_repo(2), hash), 40);
  EXPECT_TRUE(server->worker_repo(1).RunHashes().empty());
  EXPECT_GE((*run)->stats().reconnects, 1u);
}

TEST(GrpcRun, CloseAgainstAStalledServerIsBounded) {
  auto server = MustStart({});
  ASSERT_NE(server, nullptr);
  auto run = Run::Create({.repo = server->aim_url(),
                          .credentials = auth::NoCredentials(),
                          .protocol = Protocol::kGrpc,
                          .scheme = Scheme::kHttp,
                          .request_timeout = absl::Seconds(30)});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE((*run)->Track(1.0, "loss").ok());
  ASSERT_TRUE((*run)->Flush().ok());

  server->SetWriteDelay(absl::Minutes(10));
  ASSERT_TRUE((*run)->Track(2.0, "loss").ok());
  const absl::Time start = absl::Now();
  absl::Status closed = (*run)->Close(absl::Seconds(1));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(closed.code(), absl::StatusCode::kDataLoss) << closed;
  // A failure bound, not timing: the write in flight is cancelled at Close()'s deadline
  // instead of waiting out its 30 s timeout.
  EXPECT_LT(took, absl::Seconds(10)) << "Close took " << took;
}

TEST(GrpcRun, UnreachableServerFailsCleanly) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);  // bound, never listening
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = absl::StrCat("aim://127.0.0.1:", ntohs(addr.sin_port));

  auto grpc = Run::Create({.repo = url,
                           .credentials = auth::NoCredentials(),
                           .protocol = Protocol::kGrpc,
                           .request_timeout = absl::Seconds(2)});
  EXPECT_EQ(grpc.status().code(), absl::StatusCode::kUnavailable) << grpc.status();
  EXPECT_THAT(std::string(grpc.status().message()), HasSubstr("127.0.0.1:"));

  auto any = Run::Create(
      {.repo = url, .credentials = auth::NoCredentials(), .request_timeout = absl::Seconds(2)});
  EXPECT_EQ(any.status().code(), absl::StatusCode::kUnavailable) << any.status();
  EXPECT_THAT(std::string(any.status().message()), HasSubstr("no Aim server answered"));
  close(fd);
}

TEST(GrpcRun, SilentServerTimesOut) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(fd, 8), 0);  // the kernel accepts; nobody ever answers
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto run = Run::Create({.repo = absl::StrCat("aim://127.0.0.1:", ntohs(addr.sin_port)),
                          .credentials = auth::NoCredentials(),
                          .protocol = Protocol::kGrpc,
                          .scheme = Scheme::kHttp,
                          .request_timeout = absl::Milliseconds(500)});
  EXPECT_EQ(run.status().code(), absl::StatusCode::kDeadlineExceeded) << run.status();
  close(fd);
}

// --- TLS with a credential check (an AuthMetadataProcessor, as a proxy would) ---

class GrpcAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_.emplace(*std::move(dir));
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki(dir_->path());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    server_ = MustStart(
        {.tls_cert_chain = pki_.server_cert_pem,
         .tls_private_key = pki_.server_key_pem,
         .required_metadata = {{{"authorization", absl::StrCat("Bearer ", kToken)}},
                               {{"cf-access-client-id", kCfId},
                                {"cf-access-client-secret", kCfSecret}},
                               {{"x-team-key", kTeamKey}}}});
    ASSERT_NE(server_, nullptr);
  }

  RunOptions Options(auth::CredentialsPtr credentials) const {
    return {.repo = server_->aim_url(),
            .credentials = std::move(credentials),
            .tls = {.ca_file = pki_.ca_cert_path},
            .protocol = Protocol::kGrpc};
  }

  void ExpectScenarioPasses(RunOptions options) {
    absl::StatusOr<std::string> hash = scenario::RunBasicScenario(std::move(options));
    ASSERT_TRUE(hash.ok()) << hash.status();
    EXPECT_EQ(scenario::DiffFromGolden(server_->repo(), *hash, /*typed_traces=*/false), "");
    EXPECT_TRUE(server_->Refused().empty());
  }

  std::optional<testing::TempDir> dir_;
  testing::TestPki pki_;
  std::unique_ptr<GrpcTestServer> server_;
};

TEST_F(GrpcAuthTest, BearerToken) {
  auto credentials = auth::BearerToken(kToken);
  ASSERT_TRUE(credentials.ok());
  ExpectScenarioPasses(Options(*credentials));
}

TEST_F(GrpcAuthTest, CloudflareServiceToken) {
  auto credentials = auth::CloudflareServiceToken(kCfId, kCfSecret);
  ASSERT_TRUE(credentials.ok());
  ExpectScenarioPasses(Options(*credentials));
}

TEST_F(GrpcAuthTest, CustomHeader) {
  auto credentials = auth::CustomHeaders({{"X-Team-Key", kTeamKey}});
  ASSERT_TRUE(credentials.ok());
  ExpectScenarioPasses(Options(*credentials));
}

TEST_F(GrpcAuthTest, AutoDetectsTheTlsServer) {
  auto credentials = auth::BearerToken(kToken);
  ASSERT_TRUE(credentials.ok());
  RunOptions options = Options(*credentials);
  options.protocol = Protocol::kAuto;
  ExpectScenarioPasses(options);
}

TEST_F(GrpcAuthTest, MissingCredentialsFailCleanly) {
  auto run = Run::Create(Options(auth::NoCredentials()));
  EXPECT_EQ(run.status().code(), absl::StatusCode::kUnauthenticated) << run.status();
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("refused the credentials"));
  EXPECT_TRUE(server_->repo().RunHashes().empty());
}

TEST_F(GrpcAuthTest, WrongCredentialsFailCleanlyWithoutTheSecret) {
  auto credentials = auth::BearerToken("wrong-t0ken-value");
  ASSERT_TRUE(credentials.ok());
  auto run = Run::Create(Options(*credentials));
  EXPECT_EQ(run.status().code(), absl::StatusCode::kPermissionDenied) << run.status();
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("Authorization"));
  EXPECT_THAT(std::string(run.status().message()), Not(HasSubstr("wrong-t0ken-value")));
}

TEST(GrpcMutualTls, ClientCertificateFromTlsOptions) {
  absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki(dir->path());
  ASSERT_TRUE(pki.ok()) << pki.status();
  // A client certificate from the same test CA (MakeTestPki leaves its key in ca.key).
  const std::string openssl = "/usr/bin/openssl", log = dir->File("client.log");
  const std::string key = dir->File("client.key"), csr = dir->File("client.csr"),
                    cert = dir->File("client.pem"), ext = dir->File("client.ext");
  ASSERT_TRUE(testing::WriteFile(ext, "extendedKeyUsage=clientAuth\n").ok());
  ASSERT_TRUE(testing::RunCommand({openssl, "req", "-new", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                                   csr, "-subj", "/CN=aim-cpp test client"},
                                  log)
                  .ok());
  ASSERT_TRUE(testing::RunCommand({openssl, "x509", "-req", "-in", csr, "-CA", pki->ca_cert_path,
                                   "-CAkey", dir->File("ca.key"), "-set_serial", "3", "-days",
                                   "2", "-extfile", ext, "-out", cert},
                                  log)
                  .ok());
  auto server = MustStart({.tls_cert_chain = pki->server_cert_pem,
                           .tls_private_key = pki->server_key_pem,
                           .tls_client_ca = pki->ca_cert_pem});
  ASSERT_NE(server, nullptr);
  RunOptions options{.repo = server->aim_url(),
                     .credentials = auth::NoCredentials(),
                     .tls = {.ca_file = pki->ca_cert_path, .cert_file = cert, .key_file = key},
                     .protocol = Protocol::kGrpc,
                     .scheme = Scheme::kHttps};
  absl::StatusOr<std::string> hash = scenario::RunBasicScenario(options);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(scenario::DiffFromGolden(server->repo(), *hash, /*typed_traces=*/false), "");

  options.tls.cert_file.clear();
  options.tls.key_file.clear();
  options.request_timeout = absl::Seconds(5);
  auto refused = Run::Create(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
}

}  // namespace
}  // namespace aim
