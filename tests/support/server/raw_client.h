// A deliberately small blocking HTTP/1.1 + WebSocket client over a raw socket, for the test
// server's own tests: it shows the exact bytes (chunk boundaries, frames, close codes) that a
// higher-level client library would hide. Test-only; every read is bounded by a timeout.
#ifndef AIM_TESTS_SUPPORT_SERVER_RAW_CLIENT_H_
#define AIM_TESTS_SUPPORT_SERVER_RAW_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace aim::test_server::testing {

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                 // de-chunked
  std::vector<std::string> chunks;  // chunk payloads as sent, when chunked
  std::optional<std::string> Header(absl::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, name)) return v;
    }
    return std::nullopt;
  }
};

struct RawFrame {
  bool fin = true;
  int opcode = 0;
  std::string payload;
  int close_code() const {
    return payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                     static_cast<unsigned char>(payload[1])
                               : -1;
  }
};

class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  bool SendRequest(absl::string_view method, absl::string_view target, absl::string_view body = "",
                   const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    std::string req = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (const auto& [k, v] : headers) absl::StrAppend(&req, k, ": ", v, "\r\n");
    if (method == "POST") absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\n");
    absl::StrAppend(&req, "\r\n", body);
    return Send(std::string_view(req));
  }

  std::optional<RawResponse> ReadResponse(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    RawResponse r;
    std::vector<std::string> lines = absl::StrSplit(buf_.substr(0, end), "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (first.size() < 2 || !absl::SimpleAtoi(first[1], &r.status)) return std::nullopt;
    for (std::size_t i = 1; i < lines.size(); ++i) {
      const std::size_t c = lines[i].find(':');
      if (c == std::string::npos) return std::nullopt;
      r.headers.emplace_back(lines[i].substr(0, c),
                             std::string(absl::StripAsciiWhitespace(lines[i].substr(c + 1))));
    }
    buf_.erase(0, end + 4);
    if (r.status == 101) return r;
    if (auto te = r.Header("Transfer-Encoding"); te && absl::EqualsIgnoreCase(*te, "chunked")) {
      for (;;) {
        std::size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) {
          if (!ReadMore(deadline)) return std::nullopt;
        }
        std::uint64_t size = 0;
        if (!absl::SimpleHexAtoi(buf_.substr(0, eol), &size)) return std::nullopt;
        while (buf_.size() < eol + 2 + size + 2) {
          if (!ReadMore(deadline)) return std::nullopt;
        }
        if (size == 0) {
          buf_.erase(0, eol + 4);
          return r;
        }
        r.chunks.push_back(buf_.substr(eol + 2, size));
        r.body += r.chunks.back();
        buf_.erase(0, eol + 2 + size + 2);
      }
    }
    std::uint64_t len = 0;
    if (auto cl = r.Header("Content-Length"); cl && !absl::SimpleAtoi(*cl, &len)) return std::nullopt;
    while (buf_.size() < len) {
      if (!ReadMore(deadline)) return std::nullopt;
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  // Sends the opening handshake and reads the answer (101 on success).
  std::optional<RawResponse> WsHandshake(
      absl::string_view target, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
    std::vector<std::pair<std::string, std::string>> h = {
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
        {"Sec-WebSocket-Version", "13"}};
    h.insert(h.end(), extra.begin(), extra.end());
    if (!SendRequest("GET", target, "", h)) return std::nullopt;
    return ReadResponse();
  }

  // A masked client frame.
  bool WsSend(int opcode, std::string_view payload, bool fin = true) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | opcode);
    if (payload.size() < 126) {
      f += static_cast<char>(0x80 | payload.size());
    } else if (payload.size() <= 0xFFFF) {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(payload.size() >> 8);
      f += static_cast<char>(payload.size() & 0xFF);
    } else {
      f += static_cast<char>(0x80 | 127);
      for (int i = 7; i >= 0; --i) f += static_cast<char>((payload.size() >> (8 * i)) & 0xFF);
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
    return Send(f);
  }

  // Next frame from the server (unmasked), or nullopt on timeout / connection end.
  std::optional<RawFrame> WsRead(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      if (buf_.size() >= 2) {
        std::uint64_t len = static_cast<unsigned char>(buf_[1]) & 0x7F;
        std::size_t header = 2;
        if (len == 126) {
          header = 4;
          if (buf_.size() >= 4) {
            len = (static_cast<unsigned char>(buf_[2]) << 8) | static_cast<unsigned char>(buf_[3]);
          }
        } else if (len == 127) {
          header = 10;
          if (buf_.size() >= 10) {
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(buf_[2 + i]);
          }
        }
        if (buf_.size() >= header && buf_.size() >= header + len) {
          RawFrame f;
          f.fin = (buf_[0] & 0x80) != 0;
          f.opcode = buf_[0] & 0x0F;
          f.payload = buf_.substr(header, len);
          buf_.erase(0, header + len);
          return f;
        }
      }
      if (!ReadMore(deadline)) return std::nullopt;
    }
  }

  // True when the server closed the TCP connection (EOF) within `timeout`.
  bool WaitForEof(absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (!ReadMore(deadline)) return eof_;
    }
    return false;
  }

  std::string& buffer() { return buf_; }

 private:
  bool ReadMore(absl::Time deadline) {
    if (fd_ < 0) return false;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) return false;
    char tmp[16384];
    const ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace aim::test_server::testing

#endif  // AIM_TESTS_SUPPORT_SERVER_RAW_CLIENT_H_
