// RFC 6455 framing for the write WebSocket: encoding client frames and parsing what a server
// sends. Pure functions and a pure reassembler, no I/O, so the parser can be fuzzed alone.
//
// Everything parsed is bounds-checked: a malformed or oversized frame is an error status,
// never a read past the buffer or an allocation of a length the peer merely announced.
#ifndef AIM_SDK_RPC_WEBSOCKET_FRAME_H_
#define AIM_SDK_RPC_WEBSOCKET_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aim::rpc::internal {

enum class WsOpcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Control frames carry at most this many payload bytes (RFC 6455 5.5).
inline constexpr std::size_t kMaxControlPayload = 125;

using WsMask = std::array<std::uint8_t, 4>;

// One frame. `payload` is unmasked.
struct WsFrame {
  bool fin = true;
  WsOpcode opcode = WsOpcode::kBinary;
  std::string payload;
};

// Encodes one frame. Clients must mask every frame (pass a fresh random mask); servers never
// mask (std::nullopt), which the tests use to play the server.
std::string EncodeFrame(bool fin, WsOpcode opcode, std::string_view payload,
                        const std::optional<WsMask>& mask);

// XORs `data` with the repeating 4-byte `mask` (RFC 6455 5.3), eight bytes at a time: every
// byte a client sends and a server receives goes through it.
void ApplyMask(const WsMask& mask, std::span<char> data);

struct ParsedFrame {
  std::size_t consumed = 0;  // bytes of `data` the frame occupied
  WsFrame frame;
};

// Parses the frame at the front of `data`. std::nullopt: more bytes are needed. Errors:
// kInvalidArgument for a malformed frame (reserved bits or opcodes, a control frame that is
// fragmented or longer than 125 bytes, a non-minimal or 64-bit-MSB-set length, a masked frame
// where `expect_masked` is false or the reverse), kResourceExhausted for a payload longer than
// `max_payload`.
absl::StatusOr<std::optional<ParsedFrame>> ParseFrame(std::string_view data,
                                                       std::size_t max_payload,
                                                       bool expect_masked);

// What the receiving side of a connection sees once frames are reassembled.
struct WsEvent {
  enum class Type { kMessage, kPing, kPong, kClose };
  Type type = Type::kMessage;
  WsOpcode message_opcode = WsOpcode::kBinary;  // kText or kBinary, for kMessage
  std::string payload;  // the whole message, or the control frame's payload
  // For kClose: the status code, or 1005 ("no status received") when the frame had none.
  std::uint16_t close_code = 0;
};

// Reassembles fragmented messages from a byte stream and surfaces control frames (which may
// arrive between the fragments of a message) in order.
//
// Thread safety: none; one owner.
class WsReader {
 public:
  // `max_message_bytes` bounds a reassembled message.
  explicit WsReader(std::size_t max_message_bytes, bool expect_masked = false)
      : max_message_bytes_(max_message_bytes), expect_masked_(expect_masked) {}

  void Append(std::string_view bytes);
  // The next complete event, std::nullopt when more bytes are needed, or the error of the
  // first malformed frame (after which the connection must be dropped).
  absl::StatusOr<std::optional<WsEvent>> Next();
  // Bytes received but not yet returned as part of an event.
  std::size_t buffered() const { return buffer_.size() - pos_; }

 private:
  std::size_t max_message_bytes_;
  bool expect_masked_;
  std::string buffer_;
  std::size_t pos_ = 0;  // start of the unparsed bytes in buffer_
  bool in_message_ = false;
  WsOpcode message_opcode_ = WsOpcode::kBinary;
  std::string message_;
};

}  // namespace aim::rpc::internal

#endif  // AIM_SDK_RPC_WEBSOCKET_FRAME_H_
