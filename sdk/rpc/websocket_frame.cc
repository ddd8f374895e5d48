#include "rpc/websocket_frame.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aim::rpc::internal {
namespace {

bool IsControl(WsOpcode op) { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

bool IsKnownOpcode(std::uint8_t op) {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

std::string EncodeFrame(bool fin, WsOpcode opcode, std::string_view payload,
                        const std::optional<WsMask>& mask) {
  const std::size_t n = payload.size();
  std::string out;
  out.reserve(n + 14);
  out.push_back(static_cast<char>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(opcode)));
  const std::uint8_t mask_bit = mask.has_value() ? 0x80 : 0x00;
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>((n >> 8) & 0xFF));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) {
      out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF));
    }
  }
  if (!mask.has_value()) {
    out.append(payload);
    return out;
  }
  out.append(reinterpret_cast<const char*>(mask->data()), mask->size());
  const std::size_t start = out.size();
  out.append(payload);
  ApplyMask(*mask, std::span<char>(out).subspan(start));
  return out;
}

void ApplyMask(const WsMask& mask, std::span<char> data) {
  std::uint32_t mask32;
  std::memcpy(&mask32, mask.data(), 4);
  const std::uint64_t mask64 = (static_cast<std::uint64_t>(mask32) << 32) | mask32;
  std::size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data.data() + i, 8);
    word ^= mask64;
    std::memcpy(data.data() + i, &word, 8);
  }
  for (; i < data.size(); ++i) data[i] = static_cast<char>(data[i] ^ mask[i % 4]);
}

absl::StatusOr<std::optional<ParsedFrame>> ParseFrame(std::string_view data,
                                                       std::size_t max_payload,
                                                       bool expect_masked) {
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(data[i]); };
  if (data.size() < 2) return std::nullopt;
  const std::uint8_t b0 = byte(0);
  const std::uint8_t b1 = byte(1);
  if ((b0 & 0x70) != 0) {
    // No extension is ever negotiated, so reserved bits must be clear.
    return absl::InvalidArgumentError("WebSocket frame with reserved bits set");
  }
  const std::uint8_t raw_op = b0 & 0x0F;
  if (!IsKnownOpcode(raw_op)) {
    return absl::InvalidArgumentError(absl::StrCat("WebSocket frame with reserved opcode ", raw_op));
  }
  const auto opcode = static_cast<WsOpcode>(raw_op);
  const bool fin = (b0 & 0x80) != 0;
  const bool masked = (b1 & 0x80) != 0;
  if (masked != expect_masked) {
    return absl::InvalidArgumentError(masked ? "masked WebSocket frame from the server"
                                             : "unmasked WebSocket frame from a client");
  }
  std::size_t pos = 2;
  std::uint64_t len = b1 & 0x7F;
  if (len == 126) {
    if (data.size() < pos + 2) return std::nullopt;
    len = (std::uint64_t{byte(2)} << 8) | byte(3);
    pos += 2;
    if (len < 126) return absl::InvalidArgumentError("non-minimal WebSocket 16-bit length");
  } else if (len == 127) {
    if (data.size() < pos + 8) return std::nullopt;
    len = 0;
    for (std::size_t i = 0; i < 8; ++i) len = (len << 8) | byte(2 + i);
    pos += 8;
    if ((len >> 63) != 0) {
      return absl::InvalidArgumentError("WebSocket 64-bit length with the top bit set");
    }
    if (len <= 0xFFFF) return absl::InvalidArgumentError("non-minimal WebSocket 64-bit length");
  }
  if (IsControl(opcode)) {
    if (!fin) return absl::InvalidArgumentError("fragmented WebSocket control frame");
    if (len > kMaxControlPayload) {
      return absl::InvalidArgumentError("WebSocket control frame longer than 125 bytes");
    }
  }
  if (len > max_payload) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "WebSocket frame of ", len, " bytes exceeds the limit of ", max_payload, " bytes"));
  }
  WsMask mask{};
  if (masked) {
    if (data.size() < pos + 4) return std::nullopt;
    for (std::size_t i = 0; i < 4; ++i) mask[i] = byte(pos + i);
    pos += 4;
  }
  // len <= max_payload (a size_t), so the cast is exact; compare without adding to avoid
  // overflow.
  const auto n = static_cast<std::size_t>(len);
  if (data.size() - pos < n) return std::nullopt;
  ParsedFrame parsed;
  parsed.frame.fin = fin;
  parsed.frame.opcode = opcode;
  parsed.frame.payload.assign(data.substr(pos, n));
  if (masked) ApplyMask(mask, parsed.frame.payload);
  parsed.consumed = pos + n;
  return parsed;
}

void WsReader::Append(std::string_view bytes) {
  // Drop what was already parsed before growing, so the buffer holds at most one partial
  // frame plus what arrived after it.
  if (pos_ > 0) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes);
}

absl::StatusOr<std::optional<WsEvent>> WsReader::Next() {
  while (true) {
    std::string_view rest(buffer_);
    rest.remove_prefix(pos_);
    // A data frame may carry only what is left of the message budget.
    const std::size_t budget = max_message_bytes_ - message_.size();
    absl::StatusOr<std::optional<ParsedFrame>> parsed = ParseFrame(rest, budget, expect_masked_);
    if (!parsed.ok()) return parsed.status();
    if (!parsed->has_value()) return std::nullopt;
    ParsedFrame& pf = **parsed;
    pos_ += pf.consumed;
    WsFrame& f = pf.frame;
    switch (f.opcode) {
      case WsOpcode::kPing:
      case WsOpcode::kPong: {
        WsEvent ev;
        ev.type = f.opcode == WsOpcode::kPing ? WsEvent::Type::kPing : WsEvent::Type::kPong;
        ev.payload = std::move(f.payload);
        return ev;
      }
      case WsOpcode::kClose: {
        WsEvent ev;
        ev.type = WsEvent::Type::kClose;
        if (f.payload.empty()) {
          ev.close_code = 1005;
        } else if (f.payload.size() == 1) {
          return absl::InvalidArgumentError("WebSocket close frame with a 1-byte payload");
        } else {
          ev.close_code = static_cast<std::uint16_t>(
              (static_cast<std::uint8_t>(f.payload[0]) << 8) | static_cast<std::uint8_t>(f.payload[1]));
          ev.payload = f.payload.substr(2);
        }
        return ev;
      }
      case WsOpcode::kText:
      case WsOpcode::kBinary:
        if (in_message_) {
          return absl::InvalidArgumentError(
              "WebSocket data frame inside a fragmented message");
        }
        if (!f.fin) {
          in_message_ = true;
          message_opcode_ = f.opcode;
          message_ = std::move(f.payload);
          continue;
        }
        {
          WsEvent ev;
          ev.message_opcode = f.opcode;
          ev.payload = std::move(f.payload);
          return ev;
        }
      case WsOpcode::kContinuation:
        if (!in_message_) {
          return absl::InvalidArgumentError("WebSocket continuation frame without a message");
        }
        message_.append(f.payload);
        if (!f.fin) continue;
        {
          WsEvent ev;
          ev.message_opcode = message_opcode_;
          ev.payload = std::move(message_);
          message_.clear();
          in_message_ = false;
          return ev;
        }
    }
    return absl::InternalError("unreachable WebSocket opcode");
  }
}

}  // namespace aim::rpc::internal
