#include "tests/support/server/http_test_server.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/server/raw_client.h"
#include "wire/codec.h"

namespace aim::test_server {
namespace {

using ::aim::test_server::testing::RawClient;
using ::aim::test_server::testing::RawResponse;

constexpr char kUri[] = "edbd8c26-073d-4022-92c3-c26c73edc820";

std::unique_ptr<HttpTestServer> StartServer(HttpTestServerOptions options = {}) {
  auto s = HttpTestServer::Start(std::move(options));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

RawResponse Get(const HttpTestServer& s, absl::string_view target) {
  RawClient c(s.port());
  EXPECT_TRUE(c.SendRequest("GET", target));
  auto r = c.ReadResponse();
  EXPECT_TRUE(r.has_value());
  return r.value_or(RawResponse{});
}

RawResponse Post(const HttpTestServer& s, absl::string_view target, absl::string_view body) {
  RawClient c(s.port());
  EXPECT_TRUE(c.SendRequest("POST", target, body));
  auto r = c.ReadResponse();
  EXPECT_TRUE(r.has_value());
  return r.value_or(RawResponse{});
}

std::string B64(const Value& v) { return absl::Base64Escape(*wire::Pack(v)); }

std::string GetResourceBody(absl::string_view type, const Value& kwargs,
                            absl::string_view handler = "") {
  return absl::StrCat("{\"resource_handler\": \"", handler, "\", \"resource_type\": \"", type,
                      "\", \"args\": \"", B64(kwargs), "\"}");
}

TEST(HttpTestServerTest, RoutesWithAndWithoutTrailingSlashAndErrors) {
  auto s = StartServer();
  EXPECT_EQ(Get(*s, "/status/").body, "{\"status\":\"OK\"}");
  EXPECT_EQ(Get(*s, "/status").status, 200);
  EXPECT_EQ(Get(*s, "/client/get-version/").body, "{\"version\":\"3.29.1\"}");
  s->repo().SetVersion("3.19.0");
  EXPECT_EQ(Get(*s, "/client/get-version").body, "{\"version\":\"3.19.0\"}");
  EXPECT_EQ(Get(*s, absl::StrCat("/client/connect/", kUri, "/")).body, "null");
  EXPECT_EQ(Get(*s, absl::StrCat("/client/heartbeat/", kUri)).body, "null");
  EXPECT_THAT(s->repo().ConnectedClients(), ::testing::ElementsAre(kUri));
  EXPECT_TRUE(s->repo().LastHeartbeat(kUri).has_value());

  RawResponse nf = Get(*s, "/nope/");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body, "{\"detail\":\"Not Found\"}");
  EXPECT_EQ(Post(*s, "/status/", "{}").status, 405);
  RawResponse bad = Post(*s, absl::StrCat("/tracking/", kUri, "/get-resource/"), "not json");
  EXPECT_EQ(bad.status, 500);
  EXPECT_THAT(bad.body, ::testing::HasSubstr("JSONDecodeError"));
  RawResponse unknown = Post(*s, absl::StrCat("/tracking/", kUri, "/get-resource"),
                             GetResourceBody("Nope", Value::MakeDict()));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body,
            "{\"exception\":{\"module_name\":\"builtins\",\"class_name\":\"KeyError\","
            "\"args\":\"[\\\"Nope\\\"]\",\"message\":\"'Nope'\"}}");
}

TEST(HttpTestServerTest, BasePathIsRequired) {
  auto s = StartServer({.base_path = "foo/"});
  EXPECT_EQ(s->aim_url(), absl::StrCat("aim://127.0.0.1:", s->port(), "/foo"));
  EXPECT_EQ(Get(*s, "/foo/status/").status, 200);
  EXPECT_EQ(Get(*s, "/status/").status, 404);
}

TEST(HttpTestServerTest, ReadInstructionRepliesChunkedOneRecordPerChunk) {
  auto s = StartServer();
  const std::string base = absl::StrCat("/tracking/", kUri);
  RawResponse g = Post(*s, base + "/get-resource/",
                       GetResourceBody("Lock", Value{{"run_hash", "8f35e03b4739452bb1b4ad70"}},
                                       "my-own-handler-1"));
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.body, "{\"handler\":\"my-own-handler-1\"}");
  RawResponse r = Post(*s, base + "/read-instruction/",
                       absl::StrCat("{\"resource_handler\": \"my-own-handler-1\", \"method_name\": "
                                    "\"lock\", \"args\": \"", B64(Value::MakeList({false})), "\"}"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(r.Header("Content-Type").has_value());
  ASSERT_EQ(r.chunks.size(), 1u);
  EXPECT_EQ(absl::BytesToHexString(r.chunks[0]), "00000000000100000000");
  // Empty args -> KeyError().
  RawResponse empty = Post(*s, base + "/read-instruction/",
                           "{\"resource_handler\": \"my-own-handler-1\", \"method_name\": \"lock\", "
                           "\"args\": \"\"}");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(empty.body,
            "{\"exception\":{\"module_name\":\"builtins\",\"class_name\":\"KeyError\","
            "\"args\":\"[]\",\"message\":\"\"}}");
  // Another client's handler.
  RawResponse other = Get(*s, "/tracking/other-client/release-resource/my-own-handler-1/");
  EXPECT_EQ(other.status, 400);
  EXPECT_THAT(other.body, ::testing::HasSubstr("UnauthorizedRequestError"));
  EXPECT_EQ(Get(*s, base + "/release-resource/my-own-handler-1").body, "null");
}

TEST(HttpTestServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto s = StartServer();
  RawClient c(s->port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.SendRequest("GET", "/status/", "", {{"Authorization", "Bearer t"}}));
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  std::vector<RequestRecord> log = s->Requests();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[2].Header("authorization"), "Bearer t");
}

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(options_);
    ASSERT_TRUE(server_);
    const Value kw = Value{{"name", "meta"}, {"sub", "h"}, {"read_only", false},
                           {"index", false}, {"timeout", Value()}};
    auto [h, err] = server_->repo().GetResource(kUri, "", "TreeView", &kw);
    ASSERT_FALSE(err.has_value());
    handler_ = h;
  }
  std::unique_ptr<RawClient> Open() {
    auto c = std::make_unique<RawClient>(server_->port());
    auto r = c->WsHandshake(absl::StrCat("/tracking/", kUri, "/write-instruction/"),
                            {{"X-Credential", "secret"}});
    EXPECT_TRUE(r.has_value() && r->status == 101);
    // RFC 6455 section 1.3 example key -> accept value.
    if (r) {
      EXPECT_EQ(r->Header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
    return c;
  }
  std::string SetItem(std::string_view key, const Value& v) {
    return *wire::Pack(Value::MakeList({Value::MakeList(
        {Value(handler_), "__setitem__", Value::MakeList({Value::MakeList({key}), v})})}));
  }
  HttpTestServerOptions options_;
  std::unique_ptr<HttpTestServer> server_;
  std::string handler_;
};

TEST_F(WebSocketTest, BinaryMessagesAreAppliedAndAnsweredOk) {
  auto c = Open();
  // A fragmented message with a ping in between.
  const std::string msg = SetItem("k", 1);
  ASSERT_TRUE(c->WsSend(0x2, std::string_view(msg).substr(0, 7), false));
  ASSERT_TRUE(c->WsSend(0x9, "hi"));
  ASSERT_TRUE(c->WsSend(0x0, std::string_view(msg).substr(7), true));
  auto pong = c->WsRead();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, 0xA);
  EXPECT_EQ(pong->payload, "hi");
  auto ok = c->WsRead();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->opcode, 0x2);
  EXPECT_EQ(ok->payload, "OK");
  EXPECT_EQ(server_->repo().Records("meta", "h").size(), 1u);
  const std::vector<RequestRecord> log = server_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].websocket);
  EXPECT_EQ(log[0].Header("x-credential"), "secret");
}

TEST_F(WebSocketTest, ErrorReplyThenClose1000) {
  auto c = Open();
  const std::string bad = *wire::Pack(Value::MakeList(
      {Value::MakeList({"bad-handler", "__setitem__", Value::MakeList()})}));
  ASSERT_TRUE(c->WsSend(0x2, bad));
  auto reply = c->WsRead();
  ASSERT_TRUE(reply.has_value());
  // The exact bytes observed from a real server (SPEC Appendix C).
  EXPECT_EQ(absl::BytesToHexString(reply->payload),
            "0c0000006d6f64756c655f6e616d65fe001b0000000461696d2e6578742e7472616e73706f72742e74"
            "7261636b696e670b000000636c6173735f6e616d65fe001900000004556e617574686f72697a656452"
            "6571756573744572726f720500000061726773fe0010000000045b226261642d68616e646c6572225d"
            "080000006d657373616765fe000c000000046261642d68616e646c6572");
  auto close = c->WsRead();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, 0x8);
  EXPECT_EQ(close->close_code(), 1000);
}

TEST_F(WebSocketTest, TextFrameIsAKeyErrorBytes) {
  auto c = Open();
  ASSERT_TRUE(c->WsSend(0x1, "hello"));
  auto reply = c->WsRead();
  ASSERT_TRUE(reply.has_value());
  auto err = wire::UnpackTree(reply->payload);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(*err, AimError::KeyError("bytes").ToValue());
  EXPECT_EQ(c->WsRead()->close_code(), 1000);
}

TEST_F(WebSocketTest, InvalidUtf8DropsTheConnectionWithoutAFrame) {
  auto c = Open();
  std::string msg;
  wire::AppendRecord("", "\x06", false, wire::Framing::kStream, &msg);
  wire::AppendRecord(std::string("\xfe\0\0\0\0\0\0\0\0\xfe", 10), "\x04\xff", false,
                     wire::Framing::kStream, &msg);
  ASSERT_TRUE(c->WsSend(0x2, msg));
  EXPECT_FALSE(c->WsRead(absl::Seconds(5)).has_value());
  EXPECT_TRUE(c->WaitForEof(absl::Seconds(1)) || c->buffer().empty());
}

TEST_F(WebSocketTest, FaultsDropAfterNFailNextAndRestart) {
  server_->DropWebSocketAfter(2, /*repeat=*/true, DropPoint::kAfterApply);
  auto c = Open();
  ASSERT_TRUE(c->WsSend(0x2, SetItem("a", 1)));
  EXPECT_EQ(c->WsRead()->payload, "OK");
  ASSERT_TRUE(c->WsSend(0x2, SetItem("b", 1)));
  EXPECT_FALSE(c->WsRead(absl::Seconds(5)).has_value());  // dropped, but applied
  EXPECT_EQ(server_->repo().Records("meta", "h").size(), 2u);

  c = Open();
  server_->FailNextWriteBatch(AimError::KeyError("injected"));
  ASSERT_TRUE(c->WsSend(0x2, SetItem("c", 1)));
  auto reply = c->WsRead();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(*wire::UnpackTree(reply->payload), AimError::KeyError("injected").ToValue());
  EXPECT_EQ(server_->repo().Records("meta", "h").size(), 2u);

  c = Open();
  server_->Restart();
  EXPECT_FALSE(c->WsRead(absl::Seconds(5)).has_value());
  EXPECT_EQ(server_->repo().LiveResources(), 0u);
  EXPECT_EQ(server_->repo().Records("meta", "h").size(), 2u);
}

TEST_F(WebSocketTest, StopAcceptingRefusesAndResumeServesAgain) {
  server_->StopAccepting();
  EXPECT_FALSE(RawClient(server_->port()).connected());
  ASSERT_TRUE(server_->ResumeAccepting().ok());
  EXPECT_EQ(Get(*server_, "/status/").status, 200);
  server_->SetForcedStatus(401);
  EXPECT_EQ(Get(*server_, "/status/").status, 401);
  RawClient c(server_->port());
  auto r = c.WsHandshake(absl::StrCat("/tracking/", kUri, "/write-instruction/"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);
}

class PingTest : public WebSocketTest {
 protected:
  PingTest() {
    options_.ping_interval = absl::Milliseconds(200);
    options_.ping_timeout = absl::Milliseconds(300);
  }
};

TEST_F(PingTest, ServerPingsAndClosesWhenPongsStop) {
  auto c = Open();
  auto ping = c->WsRead(absl::Seconds(5));
  ASSERT_TRUE(ping.has_value());
  EXPECT_EQ(ping->opcode, 0x9);
  ASSERT_TRUE(c->WsSend(0xA, ping->payload));
  // Still alive after answering; then silence makes the server give up.
  auto ping2 = c->WsRead(absl::Seconds(5));
  ASSERT_TRUE(ping2.has_value());
  EXPECT_EQ(ping2->opcode, 0x9);
  std::optional<testing::RawFrame> close;
  do {
    close = c->WsRead(absl::Seconds(5));  // more pings may come before the timeout
  } while (close.has_value() && close->opcode == 0x9);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, 0x8);
  EXPECT_EQ(close->close_code(), 1011);
  EXPECT_GE(server_->pongs_received(), 1u);
}

}  // namespace
}  // namespace aim::test_server
