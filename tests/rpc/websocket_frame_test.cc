#include "rpc/websocket_frame.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/websocket_client.h"

namespace aim::rpc::internal {
namespace {

using ::testing::HasSubstr;

constexpr WsMask kMask = {0x37, 0xfa, 0x21, 0x3d};

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

WsEvent NextOk(WsReader& reader) {
  auto next = reader.Next();
  EXPECT_TRUE(next.ok()) << next.status();
  if (!next.ok() || !next->has_value()) {
    ADD_FAILURE() << "no event";
    return {};
  }
  return **next;
}

TEST(WebSocketFrameTest, MaskedClientFrameMatchesRfcExample) {
  // RFC 6455 5.7: a masked "Hello" text frame.
  EXPECT_EQ(EncodeFrame(true, WsOpcode::kText, "Hello", kMask),
            Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(WebSocketFrameTest, UnmaskedServerFrameMatchesRfcExample) {
  EXPECT_EQ(EncodeFrame(true, WsOpcode::kText, "Hello", std::nullopt),
            Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(WebSocketFrameTest, LengthEncodings) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u, 70000u}) {
    const std::string payload(n, 'x');
    const std::string wire = EncodeFrame(true, WsOpcode::kBinary, payload, kMask);
    const std::size_t header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(wire.size(), header + 4 + n) << n;
    auto parsed = ParseFrame(wire, 1 << 20, /*expect_masked=*/true);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    ASSERT_TRUE(parsed->has_value());
    EXPECT_EQ((*parsed)->consumed, wire.size());
    EXPECT_EQ((*parsed)->frame.payload, payload);
    EXPECT_EQ((*parsed)->frame.opcode, WsOpcode::kBinary);
  }
}

TEST(WebSocketFrameTest, SixtyFourBitLengthBytesAreBigEndian) {
  const std::string wire = EncodeFrame(true, WsOpcode::kBinary, std::string(65536, 'a'),
                                       std::nullopt);
  EXPECT_EQ(wire.substr(0, 10), Bytes({0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(WebSocketFrameTest, EveryPrefixOfAFrameNeedsMoreBytes) {
  const std::string wire = EncodeFrame(true, WsOpcode::kBinary, std::string(300, 'z'), kMask);
  for (std::size_t i = 0; i < wire.size(); ++i) {
    auto parsed = ParseFrame(std::string_view(wire).substr(0, i), 1 << 20, true);
    ASSERT_TRUE(parsed.ok()) << i;
    EXPECT_FALSE(parsed->has_value()) << i;
  }
}

TEST(WebSocketFrameTest, MalformedFramesAreRejected) {
  struct Case {
    std::string wire;
    const char* why;
  };
  const Case cases[] = {
      {Bytes({0xC2, 0x00}), "reserved bits"},
      {Bytes({0x83, 0x00}), "reserved opcode"},
      {Bytes({0x8B, 0x00}), "reserved opcode"},
      {Bytes({0x09, 0x00}), "fragmented WebSocket control"},
      {Bytes({0x89, 126, 0, 126}) + std::string(126, 'p'), "control frame longer"},
      {Bytes({0x82, 126, 0, 5}) + "hello", "non-minimal WebSocket 16-bit"},
      {Bytes({0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5}) + "hello", "non-minimal WebSocket 64-bit"},
      {Bytes({0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}), "top bit"},
      {Bytes({0x82, 0x81, 1, 2, 3, 4, 5}), "masked WebSocket frame from the server"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseFrame(c.wire, 1 << 20, /*expect_masked=*/false);
    ASSERT_FALSE(parsed.ok()) << c.why;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.why));
  }
  // A client frame must be masked.
  EXPECT_FALSE(ParseFrame(Bytes({0x82, 0x00}), 10, /*expect_masked=*/true).ok());
}

TEST(WebSocketFrameTest, OversizedFrameRejectedBeforeItsPayloadArrives) {
  // Announces 2^40 bytes; only the header is present.
  auto parsed = ParseFrame(Bytes({0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0}), 1 << 20, false);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(WsReaderTest, ReassemblesFragmentsWithInterleavedControlFrames) {
  WsReader reader(1 << 20);
  std::string wire = EncodeFrame(false, WsOpcode::kBinary, "ab", std::nullopt);
  wire += EncodeFrame(true, WsOpcode::kPing, "p1", std::nullopt);
  wire += EncodeFrame(false, WsOpcode::kContinuation, "cd", std::nullopt);
  wire += EncodeFrame(true, WsOpcode::kContinuation, "ef", std::nullopt);
  wire += EncodeFrame(true, WsOpcode::kPong, "", std::nullopt);
  // Fed one byte at a time: events must not depend on how the stream was cut.
  std::vector<WsEvent> events;
  for (char c : wire) {
    reader.Append(std::string_view(&c, 1));
    while (true) {
      auto next = reader.Next();
      ASSERT_TRUE(next.ok()) << next.status();
      if (!next->has_value()) break;
      events.push_back(**next);
    }
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WsEvent::Type::kPing);
  EXPECT_EQ(events[0].payload, "p1");
  EXPECT_EQ(events[1].type, WsEvent::Type::kMessage);
  EXPECT_EQ(events[1].message_opcode, WsOpcode::kBinary);
  EXPECT_EQ(events[1].payload, "abcdef");
  EXPECT_EQ(events[2].type, WsEvent::Type::kPong);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(WsReaderTest, CloseFrames) {
  WsReader reader(100);
  reader.Append(EncodeFrame(true, WsOpcode::kClose, Bytes({0x03, 0xE8}) + "bye", std::nullopt));
  reader.Append(EncodeFrame(true, WsOpcode::kClose, "", std::nullopt));
  WsEvent a = NextOk(reader);
  EXPECT_EQ(a.type, WsEvent::Type::kClose);
  EXPECT_EQ(a.close_code, 1000);
  EXPECT_EQ(a.payload, "bye");
  WsEvent b = NextOk(reader);
  EXPECT_EQ(b.close_code, 1005);

  WsReader bad(100);
  bad.Append(EncodeFrame(true, WsOpcode::kClose, "x", std::nullopt));
  EXPECT_FALSE(bad.Next().ok());
}

TEST(WsReaderTest, SequenceErrors) {
  WsReader orphan(100);
  orphan.Append(EncodeFrame(true, WsOpcode::kContinuation, "x", std::nullopt));
  EXPECT_FALSE(orphan.Next().ok());

  WsReader nested(100);
  nested.Append(EncodeFrame(false, WsOpcode::kBinary, "x", std::nullopt));
  nested.Append(EncodeFrame(true, WsOpcode::kText, "y", std::nullopt));
  EXPECT_FALSE(nested.Next().ok());
}

TEST(WsReaderTest, MessageLimitCoversAllFragments) {
  WsReader reader(10);
  reader.Append(EncodeFrame(false, WsOpcode::kBinary, "123456", std::nullopt));
  reader.Append(EncodeFrame(true, WsOpcode::kContinuation, "78901", std::nullopt));
  auto next = reader.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kResourceExhausted);

  WsReader exact(10);
  exact.Append(EncodeFrame(false, WsOpcode::kBinary, "123456", std::nullopt));
  exact.Append(EncodeFrame(true, WsOpcode::kContinuation, "7890", std::nullopt));
  EXPECT_EQ(NextOk(exact).payload, "1234567890");
}

TEST(WsReaderTest, ServerSideReaderUnmasksClientFrames) {
  WsReader reader(100, /*expect_masked=*/true);
  reader.Append(EncodeFrame(true, WsOpcode::kBinary, "OK", kMask));
  EXPECT_EQ(NextOk(reader).payload, "OK");
}

}  // namespace
}  // namespace aim::rpc::internal

namespace aim::rpc::internal {
namespace {

TEST(WebSocketHandshakeTest, AcceptMatchesRfcExample) {
  // RFC 6455 1.3.
  EXPECT_EQ(WebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

}  // namespace
}  // namespace aim::rpc::internal
