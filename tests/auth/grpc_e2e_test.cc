// End to end over gRPC: an in-process server on 127.0.0.1 over TLS (test-made certificates)
// whose AuthMetadataProcessor accepts only the expected metadata, and clients using
// MakeGrpcChannel / MakeGrpcCallCredentials with every credential kind.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <thread>

#include "aim/auth/credentials.h"
#include "aim/auth/grpc.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "tests/auth/test_util.h"
#include "tests/support/nginx/tls.h"

// gRPC's executor threads can still own OpenSSL's per-thread error state when the process
// exits, which LeakSanitizer then reports (rarely, depending on timing) as a leak in
// libcrypto. It is neither ours nor a real leak.
extern "C" const char* __lsan_default_suppressions() { return "leak:libcrypto.so\n"; }

namespace aim::auth {
namespace {

using ::aim::auth::testing::MakeJwt;
using ::aim::testing::TempDir;
using ::aim::testing::TestPki;
using ::aim::testing::WriteFile;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;
using ::testing::Pair;

using Metadata = std::map<std::string, std::string>;
constexpr char kEchoMethod[] = "/aim.test.Echo/Call";

// Accepts a call whose metadata contains every entry of one of `accepted`; answers
// UNAUTHENTICATED when none of the expected keys is present and PERMISSION_DENIED otherwise,
// like a proxy's 401/403. Remembers the credential metadata of every call it saw.
class RequireMetadata final : public grpc::AuthMetadataProcessor {
 public:
  explicit RequireMetadata(std::vector<Metadata> accepted) : accepted_(std::move(accepted)) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& input, grpc::AuthContext* /*context*/,
                       OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) override {
    Metadata seen;
    bool any_expected_key = false;
    for (const auto& [key, value] : input) {
      const std::string k(key.data(), key.size());
      for (const Metadata& set : accepted_) any_expected_key |= set.count(k) != 0;
      if (!absl::StartsWith(k, ":") && k != "user-agent" && k != "te" &&
          k != "content-type" && k != "grpc-accept-encoding" && k != "grpc-timeout") {
        seen[k] = std::string(value.data(), value.size());
      }
    }
    {
      absl::MutexLock lock(&mu_);
      seen_.push_back(seen);
    }
    for (const Metadata& set : accepted_) {
      bool all = true;
      for (const auto& [key, value] : set) {
        auto it = seen.find(key);
        all &= it != seen.end() && it->second == value;
      }
      if (all) return grpc::Status::OK;
    }
    return any_expected_key
               ? grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong credential")
               : grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing credential");
  }

  std::vector<Metadata> Seen() const {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  const std::vector<Metadata> accepted_;
  mutable absl::Mutex mu_;
  std::vector<Metadata> seen_ ABSL_GUARDED_BY(mu_);
};

// Echoes one message back: the tiny service the tests call. Remembers the "authorization"
// metadata each call arrived with (also on plaintext servers, which have no processor).
class EchoService final : public grpc::CallbackGenericService {
  class Reactor final : public grpc::ServerGenericBidiReactor {
   public:
    Reactor() { StartRead(&message_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      StartWriteAndFinish(&message_, grpc::WriteOptions(), grpc::Status::OK);
    }
    void OnDone() override { delete this; }

   private:
    grpc::ByteBuffer message_;
  };

 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    if (ctx->method() != kEchoMethod) {
      class Unimplemented final : public grpc::ServerGenericBidiReactor {
       public:
        Unimplemented() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")); }
        void OnDone() override { delete this; }
      };
      return new Unimplemented;
    }
    auto authorization = ctx->client_metadata().find("authorization");
    {
      absl::MutexLock lock(&mu_);
      authorizations_.push_back(authorization == ctx->client_metadata().end()
                                    ? ""
                                    : std::string(authorization->second.data(),
                                                  authorization->second.size()));
    }
    return new Reactor;
  }

  std::vector<std::string> Authorizations() const {
    absl::MutexLock lock(&mu_);
    return authorizations_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
};

struct Server {
  std::unique_ptr<EchoService> echo = std::make_unique<EchoService>();
  std::shared_ptr<RequireMetadata> processor;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  ~Server() {
    if (server) server->Shutdown(std::chrono::system_clock::now());
  }
};

// Calls `method` with `payload` and waits for the result.
grpc::Status Call(grpc::Channel& channel, std::string_view payload,
                  std::shared_ptr<grpc::CallCredentials> per_call = nullptr,
                  const std::string& method = kEchoMethod, std::string* response = nullptr) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (per_call) context.set_credentials(per_call);
  grpc::Slice slice(payload.data(), payload.size());
  grpc::ByteBuffer request(&slice, 1), reply;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &reply,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (response != nullptr && status.ok()) {
    std::vector<grpc::Slice> slices;
    (void)reply.Dump(&slices);
    response->clear();
    for (const grpc::Slice& s : slices) response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return status;
}

class GrpcE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { grpc::EnableDefaultHealthCheckService(true); }

  void SetUp() override {
    absl::StatusOr<TempDir> dir = TempDir::Create();
    ASSERT_TRUE(dir.ok());
    dir_.emplace(*std::move(dir));
    absl::StatusOr<TestPki> pki = aim::testing::MakeTestPki(dir_->path());
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
  }

  // A TLS server accepting any of `accepted`.
  void StartTlsServer(std::vector<Metadata> accepted) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({pki_.server_key_pem, pki_.server_cert_pem});
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
    server_.processor = std::make_shared<RequireMetadata>(std::move(accepted));
    credentials->SetAuthMetadataProcessor(server_.processor);
    Start(credentials);
  }

  void Start(std::shared_ptr<grpc::ServerCredentials> credentials) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &server_.port);
    builder.RegisterCallbackGenericService(server_.echo.get());
    server_.server = builder.BuildAndStart();
    ASSERT_NE(server_.server, nullptr);
    ASSERT_GT(server_.port, 0);
  }

  std::string Target() const { return absl::StrCat("127.0.0.1:", server_.port); }

  std::shared_ptr<grpc::Channel> TlsChannel(const absl::StatusOr<CredentialsPtr>& credentials) {
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    GrpcChannelOptions options;
    options.ssl.pem_root_certs = pki_.ca_cert_pem;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        MakeGrpcChannel(Target(), credentials.ok() ? *credentials : NoCredentials(), options);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return *channel;
  }

  std::optional<TempDir> dir_;
  TestPki pki_;
  Server server_;
};

TEST_F(GrpcE2eTest, BearerTokenArrivesAndHealthServiceAnswers) {
  StartTlsServer({{{"authorization", "Bearer tok-1"}}});
  std::shared_ptr<grpc::Channel> channel = TlsChannel(BearerToken("tok-1"));
  std::string response;
  ASSERT_TRUE(Call(*channel, "ping", nullptr, kEchoMethod, &response).ok());
  EXPECT_EQ(response, "ping");
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest (zero bytes), as the
  // example does; the reply is HealthCheckResponse{status: SERVING} = 08 01.
  ASSERT_TRUE(Call(*channel, "", nullptr, "/grpc.health.v1.Health/Check", &response).ok());
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  EXPECT_THAT(server_.processor->Seen(), Contains(Contains(Pair("authorization", "Bearer tok-1"))));
}

TEST_F(GrpcE2eTest, CloudflareServiceTokenArrives) {
  StartTlsServer({{{"cf-access-client-id", "id.access"}, {"cf-access-client-secret", "sec"}}});
  EXPECT_TRUE(Call(*TlsChannel(CloudflareServiceToken("id.access", "sec")), "x").ok());
  EXPECT_EQ(Call(*TlsChannel(CloudflareServiceToken("id.access", "bad")), "x").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GrpcE2eTest, CloudflareAccessJwtArrives) {
  const std::string jwt = MakeJwt(absl::StrCat(R"({"exp":)", absl::ToUnixSeconds(absl::Now()) + 600, "}"));
  StartTlsServer({{{"cf-access-token", jwt}}});
  EXPECT_TRUE(Call(*TlsChannel(CloudflareAccessJwt(jwt)), "x").ok());
}

TEST_F(GrpcE2eTest, SixCustomHeadersArriveWithLowercaseKeys) {
  Headers headers;
  Metadata expected;
  for (int i = 1; i <= 6; ++i) {
    headers.push_back({absl::StrCat("X-Custom-", i), absl::StrCat("value-", i)});
    expected[absl::StrCat("x-custom-", i)] = absl::StrCat("value-", i);
  }
  StartTlsServer({expected});
  EXPECT_TRUE(Call(*TlsChannel(CustomHeaders(headers)), "x").ok());
  ASSERT_EQ(server_.processor->Seen().size(), 1u);
  EXPECT_THAT(server_.processor->Seen()[0], IsSupersetOf(expected));
}

// A credential whose header set the test changes between calls.
class ChangingHeaders final : public Credentials {
 public:
  void Set(absl::StatusOr<Headers> headers) {
    absl::MutexLock lock(&mu_);
    headers_ = std::move(headers);
  }
  absl::StatusOr<Headers> GetHeaders(std::string_view) const override {
    absl::MutexLock lock(&mu_);
    return headers_;
  }
  std::string DebugString() const override { return "ChangingHeaders"; }

 private:
  mutable absl::Mutex mu_;
  absl::StatusOr<Headers> headers_ ABSL_GUARDED_BY(mu_);
};

// Small header sets are produced inline, large ones on gRPC's plugin threads (gRPC refuses
// more than 4 inline); a set that grows costs at most one call, and failures stay redacted
// on either path.
TEST_F(GrpcE2eTest, HeaderSetThatGrowsPastFourSwitchesToThePluginThreads) {
  Headers two = {{"X-A", "1"}, {"X-B", "2"}};
  Headers six = two;
  for (int i = 3; i <= 6; ++i) six.push_back({absl::StrCat("X-", i), "v"});
  StartTlsServer({{{"x-a", "1"}, {"x-b", "2"}}});
  auto credentials = std::make_shared<ChangingHeaders>();
  credentials->Set(two);
  std::shared_ptr<grpc::Channel> channel = TlsChannel(CredentialsPtr(credentials));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Call(*channel, "x").ok()) << "call " << i;

  credentials->Set(six);
  (void)Call(*channel, "x");  // may fail: it was asked inline
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Call(*channel, "x").ok()) << "call " << i;
  EXPECT_EQ(server_.processor->Seen().back().size(), 6u);

  credentials->Set(two);
  EXPECT_TRUE(Call(*channel, "x").ok());  // back to inline
  credentials->Set(absl::UnauthenticatedError("token file gone"));
  grpc::Status failed = Call(*channel, "x");
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(failed.error_message(), HasSubstr("token file gone"));
}

TEST_F(GrpcE2eTest, WrongOrMissingTokenFailsWithClearStatus) {
  StartTlsServer({{{"authorization", "Bearer tok-1"}}});
  grpc::Status wrong = Call(*TlsChannel(BearerToken("tok-2")), "x");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(wrong.error_message(), "wrong credential");
  grpc::Status missing = Call(*TlsChannel(NoCredentials()), "x");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GrpcE2eTest, SourceFailureFailsTheCallWithRedactedMessage) {
  StartTlsServer({{{"cf-access-token", "anything"}}});
  const std::string expired = MakeJwt(R"({"exp":1700000000})");
  grpc::Status status = Call(*TlsChannel(CloudflareAccessJwt(expired)), "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("expired at 2023-11-14T22:13:20Z"), Not(HasSubstr(expired))));
  EXPECT_TRUE(server_.processor->Seen().empty());  // nothing was sent
}

TEST_F(GrpcE2eTest, EightThreadsWithTokenRotationInTheMiddle) {
  StartTlsServer({{{"authorization", "Bearer tok-old"}}, {{"authorization", "Bearer tok-new"}}});
  const std::string path = dir_->File("token");
  ASSERT_TRUE(WriteFile(path, "tok-old\n").ok());
  std::shared_ptr<grpc::Channel> channel = TlsChannel(
      TokenFile(path, TokenFileKind::kBearerToken, TokenFileOptions{absl::ZeroDuration()}));

  constexpr int kThreads = 8, kCallsPerThread = 500;
  std::atomic<int> calls{0}, failures{0};
  absl::Notification halfway;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        grpc::Status status = Call(*channel, "x");
        if (!status.ok()) {
          ++failures;
          ADD_FAILURE() << status.error_code() << ": " << status.error_message();
        }
        if (++calls == kThreads * kCallsPerThread / 2) halfway.Notify();
      }
    });
  }
  halfway.WaitForNotification();
  ASSERT_TRUE(WriteFile(dir_->File("next"), "tok-new\n").ok());
  ASSERT_EQ(std::rename(dir_->File("next").c_str(), path.c_str()), 0);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(Call(*channel, "x").ok());
  const std::vector<Metadata> seen = server_.processor->Seen();
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kCallsPerThread + 1));
  EXPECT_THAT(seen, Contains(Contains(Pair("authorization", "Bearer tok-old"))));
  EXPECT_THAT(seen.back(), Contains(Pair("authorization", "Bearer tok-new")));
}

TEST_F(GrpcE2eTest, PlaintextChannelWithoutOptInRefusesCredentials) {
  Start(grpc::InsecureServerCredentials());
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  absl::StatusOr<CredentialsPtr> bearer = BearerToken("tok-1");
  ASSERT_TRUE(bearer.ok());
  grpc::Status status = Call(*channel, "x", MakeGrpcCallCredentials(*bearer));
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.error_message(), HasSubstr("security level"));
  EXPECT_TRUE(Call(*channel, "x").ok());  // the server itself is reachable
  EXPECT_THAT(server_.echo->Authorizations(), ::testing::ElementsAre(""));
}

TEST_F(GrpcE2eTest, PlaintextChannelWithExplicitOptIn) {
  Start(grpc::InsecureServerCredentials());
  absl::StatusOr<CredentialsPtr> bearer = BearerToken("tok-1");
  ASSERT_TRUE(bearer.ok());
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeGrpcChannel(Target(), *bearer, GrpcChannelOptions{.insecure_plaintext = true});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_TRUE(Call(**channel, "x").ok());
  EXPECT_THAT(server_.echo->Authorizations(), ::testing::ElementsAre("Bearer tok-1"));
}

TEST_F(GrpcE2eTest, TlsChannelRejectsUntrustedServer) {
  StartTlsServer({{}});
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeGrpcChannel(
      Target(), NoCredentials(), {});  // system roots do not include the test CA
  ASSERT_TRUE(channel.ok());
  EXPECT_EQ(Call(**channel, "x").error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace aim::auth
