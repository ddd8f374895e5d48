// The HTTP + WebSocket transport against the stand-in Aim server, over real loopback sockets.
#include "rpc/http_transport.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "aim/auth/credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server/http_test_server.h"
#include "wire/codec.h"

namespace aim::rpc {
namespace {

using ::aim::test_server::AimError;
using ::aim::test_server::HttpTestServer;
using ::aim::test_server::HttpTestServerOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRunHash[] = "668458c785e24a678bfc6ce3";
constexpr char kClientUri[] = "5d7d3aa4-0000-4000-8000-000000000001";
constexpr char kSecret[] = "s3cr3t-t0ken-value";

// Waits for `done` up to `timeout`, checking every few milliseconds.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

Value MetaKwargs() {
  return Value::MakeDict({{"name", "meta"},
                          {"sub", kRunHash},
                          {"read_only", false},
                          {"index", false},
                          {"timeout", nullptr}});
}

// One `__setitem__` write of `value` at ("x", <key>) through tree `handler`.
std::string SetItemBatch(const std::string& handler, const std::string& key, int value) {
  Value instr = Value::MakeList(
      {Value(handler), Value("__setitem__"),
       Value::MakeList({Value::MakeList({Value("x"), Value(key)}), Value(value)})});
  absl::StatusOr<std::string> packed = wire::Pack(Value::MakeList({instr}));
  EXPECT_TRUE(packed.ok()) << packed.status();
  return packed.ok() ? *packed : "";
}

class HttpTransportTest : public ::testing::Test {
 protected:
  void StartServer(HttpTestServerOptions server_options = {}) {
    auto server = HttpTestServer::Start(server_options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  HttpTransportOptions Options() {
    HttpTransportOptions o;
    auto url = ParseServerUrl(server_->http_url());
    EXPECT_TRUE(url.ok()) << url.status();
    o.server = *url;
    o.client_uri = kClientUri;
    o.request_timeout = absl::Seconds(5);
    o.read_instruction_timeout = absl::Seconds(5);
    o.ws_ack_timeout = absl::Seconds(5);
    return o;
  }

  std::unique_ptr<Transport> Make(HttpTransportOptions o) {
    auto t = MakeHttpTransport(std::move(o));
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *std::move(t) : nullptr;
  }

  auth::CredentialsPtr Bearer() {
    auto c = auth::BearerToken(kSecret);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }

  std::string MetaTree(Transport& t) {
    auto h = t.GetResource("TreeView", MetaKwargs(), "");
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? *h : "";
  }

  std::unique_ptr<HttpTestServer> server_;
};

TEST_F(HttpTransportTest, LifecycleResourcesAndReads) {
  StartServer();
  auto t = Make(Options());
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->Connect().ok());
  EXPECT_THAT(server_->repo().ConnectedClients(), ::testing::Contains(kClientUri));
  auto version = t->GetVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, "3.29.1");
  EXPECT_TRUE(t->Heartbeat().ok());
  EXPECT_TRUE(server_->repo().LastHeartbeat(kClientUri).has_value());

  auto repo = t->GetResource("Repo", Value::MakeDict(), "");
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_FALSE(repo->empty());
  // A client-chosen handler is used as is.
  auto lock = t->GetResource("Lock", Value::MakeDict({{"run_hash", kRunHash}}), "my-handler-1");
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ(*lock, "my-handler-1");
  auto locked = t->ReadInstruction(*lock, "lock", Value::MakeList({false}));
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_TRUE(locked->is_none());
  EXPECT_TRUE(server_->repo().IsLocked(kRunHash));

  // A method without arguments still sends a non-empty args string (SPEC A23).
  auto hb = t->GetResource("RunHeartbeat", Value::MakeDict({{"run_hash", kRunHash}}), "");
  ASSERT_TRUE(hb.ok()) << hb.status();
  auto stopped = t->ReadInstruction(*hb, "stop", Value::MakeList());
  EXPECT_TRUE(stopped.ok()) << stopped.status();

  const std::string meta = MetaTree(*t);
  auto traces = t->ReadInstruction(
      meta, "collect",
      Value::MakeList({Value::MakeList({"meta", "chunks", kRunHash, "traces"}), true, false}));
  ASSERT_FALSE(traces.ok());
  EXPECT_TRUE(IsServerException(traces.status(), "KeyError")) << traces.status();

  auto unknown = t->GetResource("Nope", Value::MakeDict(), "");
  EXPECT_TRUE(IsServerException(unknown.status(), "KeyError")) << unknown.status();

  EXPECT_TRUE(t->ReleaseResource(*lock).ok());
  EXPECT_FALSE(server_->repo().IsLocked(kRunHash));
  auto again = t->ReleaseResource(*lock);
  EXPECT_TRUE(IsServerException(again, "UnauthorizedRequestError")) << again;
  EXPECT_TRUE(t->Disconnect().ok());
  EXPECT_THAT(server_->repo().ConnectedClients(), Not(::testing::Contains(kClientUri)));
}

TEST_F(HttpTransportTest, BasePath) {
  HttpTestServerOptions so;
  so.base_path = "/foo";
  StartServer(so);
  auto t = Make(Options());
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->Connect().ok());
  const std::string meta = MetaTree(*t);
  EXPECT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
}

TEST_F(HttpTransportTest, WriteBatchErrorReplyThenReopen) {
  StartServer();
  auto t = Make(Options());
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
  EXPECT_FALSE(server_->repo().Records("meta", kRunHash).empty());

  server_->FailNextWriteBatch(AimError::KeyError("boom"));
  absl::Status failed = t->WriteBatch(SetItemBatch(meta, "b", 2));
  EXPECT_TRUE(IsServerException(failed, "KeyError")) << failed;
  EXPECT_NE(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.message()), HasSubstr("boom"));

  // A bad handler is a real error reply from the server's own execution.
  absl::Status bad = t->WriteBatch(SetItemBatch("bad-handler", "c", 3));
  EXPECT_TRUE(IsServerException(bad, "UnauthorizedRequestError")) << bad;

  EXPECT_TRUE(t->WriteBatch(SetItemBatch(meta, "d", 4)).ok());
  EXPECT_EQ(server_->websocket_connections(), 3u);
}

TEST_F(HttpTransportTest, DroppedWebSocketIsUnavailableUntilReconnect) {
  StartServer();
  auto t = Make(Options());
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());

  server_->DropWebSocketAfter(1);
  absl::Status lost = t->WriteBatch(SetItemBatch(meta, "b", 2));
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable) << lost;
  ASSERT_TRUE(t->Reconnect().ok());
  EXPECT_TRUE(t->WriteBatch(SetItemBatch(meta, "b", 2)).ok());

  // A bare TCP drop of every connection while idle: reported once, then reopened.
  server_->DropAllConnections();
  absl::Status s = t->WriteBatch(SetItemBatch(meta, "c", 3));
  if (!s.ok()) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    s = t->WriteBatch(SetItemBatch(meta, "c", 3));
  }
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(HttpTransportTest, ServerPingsAnsweredWhileIdle) {
  HttpTestServerOptions so;
  so.ping_interval = absl::Milliseconds(50);
  so.ping_timeout = absl::Milliseconds(300);
  StartServer(so);
  HttpTransportOptions o = Options();
  o.ws_ping_interval = absl::ZeroDuration();  // only the server pings
  auto t = Make(o);
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
  // Idle for many ping timeouts: every ping must be answered by the keeper thread.
  EXPECT_TRUE(Eventually([&] { return server_->pongs_received() >= 20; }));
  EXPECT_TRUE(t->WriteBatch(SetItemBatch(meta, "b", 2)).ok());
  EXPECT_EQ(server_->websocket_connections(), 1u);
}

TEST_F(HttpTransportTest, SilentServerDetectedByClientPings) {
  StartServer();
  server_->SetSendPings(false);
  server_->SetAnswerPings(false);
  HttpTransportOptions o = Options();
  o.ws_ping_interval = absl::Milliseconds(50);
  auto t = Make(o);
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
  absl::SleepFor(absl::Milliseconds(400));  // > ping interval + pong wait
  absl::Status s = t->WriteBatch(SetItemBatch(meta, "b", 2));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("keep-alive ping"));
  server_->SetAnswerPings(true);
  EXPECT_TRUE(t->WriteBatch(SetItemBatch(meta, "b", 2)).ok());
}

absl::Duration ProcessCpuTime() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return absl::DurationFromTimeval(ru.ru_utime) + absl::DurationFromTimeval(ru.ru_stime);
}

TEST_F(HttpTransportTest, IdleWebSocketDoesNotSpin) {
  StartServer();
  server_->SetSendPings(false);
  auto t = Make(Options());
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
  const absl::Duration before = ProcessCpuTime();
  absl::SleepFor(absl::Milliseconds(500));
  // The keeper sleeps in poll(); a spinning loop would burn the whole half second.
  EXPECT_LT(ProcessCpuTime() - before, absl::Milliseconds(100));
}

TEST_F(HttpTransportTest, AckTimeout) {
  StartServer();
  HttpTransportOptions o = Options();
  o.ws_ack_timeout = absl::Milliseconds(200);
  auto t = Make(o);
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  server_->SetReplyDelay(absl::Seconds(1));
  const absl::Time start = absl::Now();
  absl::Status s = t->WriteBatch(SetItemBatch(meta, "a", 1));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  server_->SetReplyDelay(absl::ZeroDuration());
  EXPECT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
}

TEST_F(HttpTransportTest, CredentialsOnEveryRequestAndHandshake) {
  StartServer();
  HttpTransportOptions o = Options();
  o.credentials = Bearer();
  auto t = Make(o);
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->Connect().ok());
  ASSERT_TRUE(t->GetVersion().ok());
  const std::string meta = MetaTree(*t);
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "a", 1)).ok());
  server_->DropWebSocketAfter(1);
  EXPECT_EQ(t->WriteBatch(SetItemBatch(meta, "b", 2)).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(t->Reconnect().ok());
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "b", 2)).ok());
  server_->FailNextWriteBatch(AimError::KeyError("x"));
  EXPECT_FALSE(t->WriteBatch(SetItemBatch(meta, "c", 3)).ok());
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(meta, "c", 3)).ok());
  ASSERT_TRUE(t->ReadInstruction(meta, "keys_eager", Value::MakeList({Value::MakeList({"x"})}))
                  .ok());
  ASSERT_TRUE(t->ReleaseResource(meta).ok());
  ASSERT_TRUE(t->Disconnect().ok());

  int websockets = 0;
  const auto requests = server_->Requests();
  EXPECT_GE(requests.size(), 10u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.Header("Authorization"), std::string("Bearer ") + kSecret)
        << r.method << " " << r.target;
    websockets += r.websocket ? 1 : 0;
  }
  EXPECT_EQ(websockets, 3);
}

TEST_F(HttpTransportTest, AuthRefusalsNameTheCredentialKindNotTheSecret) {
  StartServer();
  HttpTransportOptions o = Options();
  o.credentials = Bearer();
  auto t = Make(o);
  ASSERT_TRUE(t);
  const std::string kind = o.credentials->DebugString();
  struct Case {
    int status;
    absl::StatusCode code;
  };
  for (const Case& c : {Case{401, absl::StatusCode::kUnauthenticated},
                        Case{403, absl::StatusCode::kPermissionDenied},
                        Case{302, absl::StatusCode::kPermissionDenied}}) {
    server_->SetForcedStatus(c.status);
    for (absl::Status s :
         {t->Connect(), t->GetResource("Repo", Value::MakeDict(), "").status(),
          t->WriteBatch("x")}) {
      EXPECT_EQ(s.code(), c.code) << s;
      EXPECT_THAT(std::string(s.message()), HasSubstr(kind));
      EXPECT_THAT(std::string(s.message()), HasSubstr(std::to_string(c.status)));
      EXPECT_THAT(std::string(s.message()), Not(HasSubstr(kSecret)));
    }
  }
  server_->SetForcedStatus(404);
  auto version = t->GetVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, "<3.19.0");
}

TEST_F(HttpTransportTest, PlaintextCredentialsToRemoteHostRefused) {
  HttpTransportOptions o;
  o.server = ServerUrl{"http", "aim.example.invalid", 53800, ""};
  o.credentials = Bearer();
  auto t = Make(o);
  ASSERT_TRUE(t);
  for (absl::Status s : {t->Connect(), t->WriteBatch("x")}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(kSecret)));
  }
}

TEST_F(HttpTransportTest, UnreachableServerFailsFast) {
  // A port that was just free: nothing listens there.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  HttpTransportOptions o;
  o.server = ServerUrl{"http", "127.0.0.1", static_cast<std::uint16_t>(port), ""};
  o.connect_timeout = absl::Seconds(1);
  o.request_timeout = absl::Milliseconds(500);
  auto t = Make(o);
  ASSERT_TRUE(t);
  absl::Time start = absl::Now();
  EXPECT_EQ(t->Connect().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(t->WriteBatch("x").code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  // Listening but never answering (a hung server): timeouts, no hang.
  ASSERT_EQ(listen(fd, 8), 0);
  start = absl::Now();
  EXPECT_EQ(t->Heartbeat().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(t->WriteBatch("x").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  close(fd);
}

TEST_F(HttpTransportTest, SchemeProbeFallsBackToHttp) {
  StartServer();
  HttpTransportOptions o = Options();
  o.server.scheme.clear();
  o.request_timeout = absl::Seconds(2);
  auto url = SelectHttpScheme(o);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "http");
  auto forced = SelectHttpScheme(o, HttpScheme::kHttps);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->scheme, "https");
}

TEST_F(HttpTransportTest, ConcurrentReadsAndWrites) {
  StartServer();
  auto t = Make(Options());
  ASSERT_TRUE(t);
  const std::string meta = MetaTree(*t);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < 30; ++i) {
      if (!t->WriteBatch(SetItemBatch(meta, "w" + std::to_string(i), i)).ok()) ++failures;
    }
  });
  for (int k = 0; k < 3; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!t->Heartbeat().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace aim::rpc
