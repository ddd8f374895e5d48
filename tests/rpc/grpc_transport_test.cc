// The gRPC transport (Aim 3.15.2-3.18) against the stand-in gRPC server over real loopback
// sockets, and the wire bytes of its messages against those observed from Aim (SPEC 5.3, D).
#include "rpc/grpc_transport.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "aim/auth/credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "remote_router.pb.h"
#include "remote_tracking.pb.h"
#include "tests/support/nginx/tls.h"
#include "tests/support/server/grpc_test_server.h"
#include "wire/codec.h"

// gRPC's executor threads can still own OpenSSL's per-thread error state at exit, which
// LeakSanitizer then reports as a leak in libcrypto (see tests/auth/grpc_e2e_test.cc).
extern "C" const char* __lsan_default_suppressions() { return "leak:libcrypto.so\n"; }

namespace aim::rpc {
namespace {

using ::aim::test_server::GrpcTestServer;
using ::aim::test_server::GrpcTestServerOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRunHash[] = "668458c785e24a678bfc6ce3";
constexpr char kClientUri[] = "5d7d3aa4-0000-4000-8000-000000000001";
constexpr char kSecret[] = "s3cr3t-t0ken-value";

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }
std::string Unhex(const std::string& hex) { return absl::HexStringToBytes(hex); }

GrpcTransportOptions PlainOptions(const GrpcTestServer& server, std::string base_path = "") {
  GrpcTransportOptions o;
  o.server = ServerUrl{"http", "127.0.0.1", server.port(), std::move(base_path)};
  o.client_uri = kClientUri;
  o.credentials = auth::NoCredentials();
  return o;
}

std::unique_ptr<Transport> MustMake(GrpcTransportOptions o) {
  absl::StatusOr<std::unique_ptr<Transport>> t = MakeGrpcTransport(std::move(o));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

Value MetaKwargs() {
  return Value::MakeDict({{"name", "meta"},
                          {"sub", kRunHash},
                          {"read_only", false},
                          {"from_union", true},
                          {"index", false},
                          {"timeout", nullptr},
                          {"no_cache", false}});
}

std::string SetItemBatch(const std::string& handler, const std::string& key, Value value) {
  Value instr = Value::MakeList(
      {Value(handler), Value("__setitem__"),
       Value::MakeList({Value::MakeList({Value("x"), Value(key)}), std::move(value)})});
  absl::StatusOr<std::string> packed = wire::Pack(Value::MakeList({instr}));
  EXPECT_TRUE(packed.ok()) << packed.status();
  return packed.ok() ? *packed : "";
}

// --- wire compatibility: our schema serialises exactly as Aim's (SPEC 5.3, Appendix D) ---

TEST(GrpcWire, ResourceRequestForRepoMatchesAim) {
  ResourceRequest request;
  request.set_resource_type("Repo");
  request.set_client_uri(std::string(36, 'u'));
  absl::StatusOr<std::string> args = wire::Pack(Value::MakeDict(), wire::Framing::kArgs);
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(Hex(*args), "000000000100000007");
  request.set_args(*args);
  EXPECT_EQ(Hex(request.SerializeAsString()),
            "0a045265706f1a24" + Hex(std::string(36, 'u')) + "2209000000000100000007");
}

TEST(GrpcWire, ResponsesObservedFromAimParse) {
  VersionResponse version;
  ASSERT_TRUE(version.ParseFromString(Unhex("0a06332e31382e31")));
  EXPECT_EQ(version.version(), "3.18.1");
  ConnectResponse connect;
  ASSERT_TRUE(connect.ParseFromString(Unhex("0a053533383131120130")));
  EXPECT_EQ(connect.port(), "53811");
  EXPECT_EQ(connect.worker_index(), "0");
  InstructionResponse ok;
  ASSERT_TRUE(ok.ParseFromString(Unhex("0a050a03302e31")));
  EXPECT_EQ(ok.header().version(), "0.1");
  EXPECT_EQ(ok.header().status(), ResponseHeader::OK);
  InstructionResponse stop;
  ASSERT_TRUE(stop.ParseFromString(Unhex(
      "0a260a03302e3110011a1d0a086275696c74696e73120d53746f70497465726174696f6e1a025b5d")));
  EXPECT_EQ(stop.header().status(), ResponseHeader::ERROR);
  EXPECT_EQ(stop.header().exception().module_name(), "builtins");
  EXPECT_EQ(stop.header().exception().class_name(), "StopIteration");
  EXPECT_EQ(stop.header().exception().args(), "[]");
}

TEST(GrpcWire, WriteInstructionsRequestMatchesAim) {
  WriteInstructionsRequest request;
  request.set_version("0.1");
  request.set_client_uri(std::string(36, 'u'));
  request.set_message(Unhex("00000000000100000006"));
  EXPECT_EQ(Hex(request.SerializeAsString()),
            "0a03302e311224" + Hex(std::string(36, 'u')) + "1a0a00000000000100000006");
}

// --- the transport against the test server ---

TEST(GrpcTransport, FullCycleAgainstTheTestServer) {
  auto server = GrpcTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->repo().SetVersion("3.18.1");
  auto t = MustMake(PlainOptions(**server, "/team/proj"));
  ASSERT_NE(t, nullptr);

  absl::StatusOr<std::string> version = t->GetVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, "3.18.1");
  ASSERT_TRUE(t->Connect().ok());
  ASSERT_TRUE(t->Heartbeat().ok());
  absl::StatusOr<std::string> repo = t->GetResource("Repo", Value::MakeDict(), "");
  ASSERT_TRUE(repo.ok()) << repo.status();
  absl::StatusOr<std::string> meta = t->GetResource("TreeView", MetaKwargs(), "");
  ASSERT_TRUE(meta.ok()) << meta.status();

  // A batch of several records goes out one record per stream message.
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(*meta, "k", Value::MakeDict({{"a", 1}, {"b", "x"}})))
                  .ok());
  absl::StatusOr<Value> read =
      t->ReadInstruction(*meta, "collect", Value::MakeList({Value::MakeList({Value("x")})}));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, Value::MakeDict({{"k", Value::MakeDict({{"a", 1}, {"b", "x"}})}}));

  // A server exception inside a normal response becomes a recognisable status.
  absl::StatusOr<Value> missing =
      t->ReadInstruction(*meta, "collect", Value::MakeList({Value::MakeList({Value("nope")})}));
  EXPECT_TRUE(IsServerException(missing.status(), "KeyError")) << missing.status();
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("builtins.KeyError"));

  ASSERT_TRUE(t->ReleaseResource(*meta).ok());
  absl::Status gone = t->WriteBatch(SetItemBatch(*meta, "k", 2));
  EXPECT_TRUE(IsServerException(gone, "UnauthorizedRequestError")) << gone;
  ASSERT_TRUE(t->Disconnect().ok());

  const auto calls = (*server)->Calls();
  ASSERT_FALSE(calls.empty());
  for (const auto& call : calls) {
    EXPECT_EQ(call.metadata.count("x-client") ? call.metadata.at("x-client") : "", kClientUri)
        << call.method;
    EXPECT_EQ(call.metadata.count("x-project") ? call.metadata.at("x-project") : "?",
              "team/proj")
        << call.method;
  }
  EXPECT_EQ((*server)->repo().Counters().write_messages, 2u);
}

TEST(GrpcTransport, ReHandlerRecreatesAResourceUnderItsOldHandler) {
  auto server = GrpcTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  auto t = MustMake(PlainOptions(**server));
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Connect().ok());
  absl::StatusOr<std::string> meta = t->GetResource("TreeView", MetaKwargs(), "");
  ASSERT_TRUE(meta.ok()) << meta.status();
  ASSERT_TRUE((*server)->Restart().ok());
  // The channel reconnects by itself; Reconnect() re-registers on fresh channels.
  ASSERT_TRUE(t->Reconnect().ok());
  absl::StatusOr<std::string> again = t->GetResource("TreeView", MetaKwargs(), *meta);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *meta);
  EXPECT_TRUE(t->WriteBatch(SetItemBatch(*meta, "k", 1)).ok());
}

TEST(GrpcTransport, WorkerIndexRoutesTrackingCallsToThatWorker) {
  auto server = GrpcTestServer::Start({.workers = 2, .route_to = 2});
  ASSERT_TRUE(server.ok()) << server.status();
  auto t = MustMake(PlainOptions(**server));
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Connect().ok());
  absl::StatusOr<std::string> meta = t->GetResource("TreeView", MetaKwargs(), "");
  ASSERT_TRUE(meta.ok()) << meta.status();
  ASSERT_TRUE(t->WriteBatch(SetItemBatch(*meta, "k", 1)).ok());
  ASSERT_TRUE(t->Heartbeat().ok());
  EXPECT_EQ((*server)->worker_repo(2).Counters().write_messages, 1u);
  EXPECT_EQ((*server)->worker_repo(1).Counters().write_messages, 0u);
  for (const auto& call : (*server)->Calls()) {
    const bool tracking = call.method.rfind("/RemoteTrackingService/", 0) == 0;
    EXPECT_EQ(call.server, tracking ? 2 : 0) << call.method;
  }
}

// Answers every call UNIMPLEMENTED: a gRPC server without Aim's router, as Aim < 3.15.
class NothingService final : public grpc::CallbackGenericService {
  class Unimplemented final : public grpc::ServerGenericBidiReactor {
   public:
    Unimplemented() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "")); }
    void OnDone() override { delete this; }
  };

 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    return new Unimplemented;
  }
};

TEST(GrpcTransport, ServerWithoutRouterIsOlderThan315) {
  NothingService nothing;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(&nothing);
  grpc::EnableDefaultHealthCheckService(true);
  std::unique_ptr<grpc::Server> bare = builder.BuildAndStart();
  ASSERT_NE(bare, nullptr);
  GrpcTransportOptions o;
  o.server = ServerUrl{"http", "127.0.0.1", static_cast<std::uint16_t>(port), ""};
  auto t = MustMake(o);
  ASSERT_NE(t, nullptr);
  absl::StatusOr<std::string> version = t->GetVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, "<3.15.0");
  absl::Status connect = t->Connect();
  EXPECT_EQ(connect.code(), absl::StatusCode::kFailedPrecondition) << connect;
  // Still recognised as a gRPC server by the health check.
  absl::StatusOr<ServerUrl> detected = DetectGrpcServer(o);
  EXPECT_TRUE(detected.ok()) << detected.status();
  bare->Shutdown();
}

TEST(GrpcTransport, RecordLargerThanTheMessageLimitIsRefusedBeforeSending) {
  auto server = GrpcTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  GrpcTransportOptions o = PlainOptions(**server);
  o.max_message_bytes = 4096;
  auto t = MustMake(o);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Connect().ok());
  absl::StatusOr<std::string> meta = t->GetResource("TreeView", MetaKwargs(), "");
  ASSERT_TRUE(meta.ok()) << meta.status();
  absl::Status s = t->WriteBatch(SetItemBatch(*meta, "big", std::string(8000, 'x')));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ((*server)->repo().Counters().write_messages, 0u);
}

TEST(GrpcTransport, ConnectionRefusedIsUnavailable) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);  // bound, not listening
  GrpcTransportOptions o;
  o.server = ServerUrl{"http", "127.0.0.1", ntohs(addr.sin_port), ""};
  auto t = MustMake(o);
  ASSERT_NE(t, nullptr);
  absl::StatusOr<std::string> version = t->GetVersion();
  EXPECT_EQ(version.status().code(), absl::StatusCode::kUnavailable) << version.status();
  EXPECT_THAT(std::string(version.status().message()), HasSubstr("127.0.0.1:"));
  absl::StatusOr<ServerUrl> detected = DetectGrpcServer(o);
  EXPECT_EQ(detected.status().code(), absl::StatusCode::kUnavailable) << detected.status();
  close(fd);
}

TEST(GrpcTransport, SilentServerIsDeadlineExceeded) {
  // Accepts TCP connections (the kernel does) but never speaks HTTP/2.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  GrpcTransportOptions o;
  o.server = ServerUrl{"http", "127.0.0.1", ntohs(addr.sin_port), ""};
  o.request_timeout = absl::Milliseconds(300);
  auto t = MustMake(o);
  ASSERT_NE(t, nullptr);
  absl::StatusOr<std::string> version = t->GetVersion();
  EXPECT_EQ(version.status().code(), absl::StatusCode::kDeadlineExceeded) << version.status();
  close(fd);
}

TEST(GrpcTransport, CredentialsNeverGoInPlaintextToARemoteHostWithoutOptIn) {
  GrpcTransportOptions o;
  o.server = ServerUrl{"http", "192.0.2.1", 53800, ""};  // TEST-NET-1: never contacted
  absl::StatusOr<auth::CredentialsPtr> bearer = auth::BearerToken(kSecret);
  ASSERT_TRUE(bearer.ok());
  o.credentials = *bearer;
  absl::StatusOr<std::unique_ptr<Transport>> t = MakeGrpcTransport(o);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition) << t.status();
  EXPECT_THAT(std::string(t.status().message()), Not(HasSubstr(kSecret)));
  o.allow_insecure_plaintext = true;
  EXPECT_TRUE(MakeGrpcTransport(o).ok());
}

TEST(GrpcTransport, TlsWithRequiredBearerToken) {
  absl::StatusOr<testing::TempDir> dir = testing::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki(dir->path());
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto server = GrpcTestServer::Start(
      {.tls_cert_chain = pki->server_cert_pem,
       .tls_private_key = pki->server_key_pem,
       .required_metadata = {{{"authorization", std::string("Bearer ") + kSecret}}}});
  ASSERT_TRUE(server.ok()) << server.status();

  GrpcTransportOptions o;
  o.server = ServerUrl{"", "127.0.0.1", (*server)->port(), ""};
  o.client_uri = kClientUri;
  o.ca_bundle_file = pki->ca_cert_path;
  absl::StatusOr<auth::CredentialsPtr> bearer = auth::BearerToken(kSecret);
  ASSERT_TRUE(bearer.ok());
  o.credentials = *bearer;
  absl::StatusOr<ServerUrl> detected = DetectGrpcServer(o);
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(detected->scheme, "https");
  o.server = *detected;
  auto t = MustMake(o);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->Connect().ok());
  EXPECT_TRUE(t->GetResource("Repo", Value::MakeDict(), "").ok());

  o.credentials = auth::NoCredentials();
  auto anonymous = MustMake(o);
  ASSERT_NE(anonymous, nullptr);
  absl::Status refused = anonymous->Connect();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("refused the credentials"));
  absl::StatusOr<auth::CredentialsPtr> wrong = auth::BearerToken("not-the-token");
  ASSERT_TRUE(wrong.ok());
  o.credentials = *wrong;
  auto mistaken = MustMake(o);
  ASSERT_NE(mistaken, nullptr);
  absl::Status denied = mistaken->Connect();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  EXPECT_THAT(std::string(denied.message()), HasSubstr("Authorization"));
  EXPECT_THAT(std::string(denied.message()), Not(HasSubstr("not-the-token")));
}

}  // namespace
}  // namespace aim::rpc
