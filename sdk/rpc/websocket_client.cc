#include "rpc/websocket_client.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "wire/string_view_compat.h"

namespace aim::rpc::internal {

using ::aim::internal::Av;
namespace {

constexpr absl::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// An upgrade answer's head (status line + headers) larger than this is refused.
constexpr std::size_t kMaxHandshakeHead = 16 * 1024;
// Bytes read from the socket per Receive() call before frames are parsed again, so a
// flood cannot grow the buffer without the frame-size checks running.
constexpr std::size_t kMaxReadPerCall = 1 << 20;
// How long a best-effort close frame may take.
constexpr absl::Duration kCloseSendTimeout = absl::Seconds(1);

absl::Status RandomBytes(unsigned char* out, int n) {
  if (RAND_bytes(out, n) != 1) return absl::InternalError("OpenSSL RAND_bytes failed");
  return absl::OkStatus();
}

// Whether a comma-separated header value contains `token` (case-insensitive).
bool HasToken(absl::string_view value, absl::string_view token) {
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part), token)) return true;
  }
  return false;
}

int PollMillis(absl::Time deadline) {
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  // Round up so that a wait never ends just before the deadline and spins once more.
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 60'000));
}

}  // namespace

std::string WebSocketAccept(std::string_view key) {
  const std::string input = absl::StrCat(Av(key), kWebSocketGuid);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), md, &len, EVP_sha1(), nullptr) != 1) return "";
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(md), len));
}

WebSocketConnection::WebSocketConnection(CURL* curl, int socket, std::size_t max_message_bytes)
    : curl_(curl), socket_(socket), reader_(max_message_bytes) {}

WebSocketConnection::~WebSocketConnection() { curl_easy_cleanup(curl_); }

absl::StatusOr<std::unique_ptr<WebSocketConnection>> WebSocketConnection::Open(
    const WebSocketOpenOptions& options) {
  EnsureCurlInitialized();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  char error[CURL_ERROR_SIZE] = {0};
  ApplyConnectionSettings(curl, options.connection);
  curl_easy_setopt(curl, CURLOPT_URL, options.connect_url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  // Through an HTTP proxy (from the environment) a WebSocket needs a CONNECT tunnel.
  curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  const std::string what = absl::StrCat("WebSocket upgrade ", options.url);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    absl::Status status = CurlError(rc, error, what);
    curl_easy_cleanup(curl);
    return status;
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_socket_t sock = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
      sock == CURL_SOCKET_BAD) {
    curl_easy_cleanup(curl);
    return absl::UnavailableError(absl::StrCat(what, ": no socket after connecting"));
  }
  std::unique_ptr<WebSocketConnection> conn(
      new WebSocketConnection(curl, static_cast<int>(sock), options.max_message_bytes));
  absl::Status status = conn->Handshake(options, what);
  if (!status.ok()) {
    // Prefix the request unless the message already names it.
    if (!absl::StartsWith(status.message(), what)) {
      return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
    }
    return status;
  }
  return conn;
}

absl::Status WebSocketConnection::Handshake(const WebSocketOpenOptions& options,
                                            std::string_view what) {
  const absl::Time deadline = absl::Now() + options.handshake_timeout;
  unsigned char nonce[16];
  if (absl::Status s = RandomBytes(nonce, sizeof nonce); !s.ok()) return s;
  const std::string key =
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(nonce), sizeof nonce));
  std::string request = absl::StrCat("GET ", options.path, " HTTP/1.1\r\nHost: ",
                                     options.host_header,
                                     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: ",
                                     key, "\r\nSec-WebSocket-Version: 13\r\n");
  for (const std::string& line : options.header_lines) absl::StrAppend(&request, line, "\r\n");
  request.append("\r\n");
  absl::Status sent = SendRaw(request, deadline);
  // The request holds the credentials: do not keep a copy around longer than needed.
  std::fill(request.begin(), request.end(), '\0');
  if (!sent.ok()) return sent;

  // Read the answer's head byte by byte in chunks; what follows the blank line already
  // belongs to the frame stream.
  std::string head;
  std::size_t end = std::string::npos;
  char buf[4096];
  while (end == std::string::npos) {
    if (head.size() > kMaxHandshakeHead) {
      return absl::UnavailableError("upgrade answer head too large");
    }
    std::size_t n = 0;
    const CURLcode rc = curl_easy_recv(curl_, buf, sizeof buf, &n);
    if (rc == CURLE_AGAIN) {
      if (absl::Status s = Wait(POLLIN, deadline); !s.ok()) return s;
      continue;
    }
    if (rc != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(rc));
    if (n == 0) return absl::UnavailableError("connection closed during the upgrade");
    head.append(buf, n);
    end = head.find("\r\n\r\n");
  }
  reader_.Append(std::string_view(head).substr(end + 4));
  head.resize(end);

  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  HttpReply reply;
  reply.status_line = std::string(lines[0]);
  for (char& c : reply.status_line) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
  }
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  int code = 0;
  if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") ||
      !absl::SimpleAtoi(parts[1], &code)) {
    return absl::UnavailableError(absl::StrCat("not an HTTP answer: ", reply.status_line));
  }
  reply.status = code;
  std::string upgrade, connection, accept, extensions;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = absl::StripAsciiWhitespace(lines[i].substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "upgrade")) upgrade = std::string(value);
    if (absl::EqualsIgnoreCase(name, "connection")) connection = std::string(value);
    if (absl::EqualsIgnoreCase(name, "sec-websocket-accept")) accept = std::string(value);
    if (absl::EqualsIgnoreCase(name, "sec-websocket-extensions")) extensions = std::string(value);
    if (absl::EqualsIgnoreCase(name, "location")) reply.location = std::string(value);
  }
  if (code != 101) {
    return HttpReplyError(reply, what, options.credentials_description);
  }
  if (!absl::EqualsIgnoreCase(upgrade, "websocket") || !HasToken(connection, "upgrade")) {
    return absl::UnavailableError("101 answer without Upgrade: websocket / Connection: Upgrade");
  }
  if (accept.empty() || accept != WebSocketAccept(key)) {
    return absl::UnavailableError("101 answer with a wrong Sec-WebSocket-Accept");
  }
  if (!extensions.empty()) {
    return absl::UnavailableError("server enabled a WebSocket extension nobody offered");
  }
  last_received_ = last_sent_ = absl::Now();
  return absl::OkStatus();
}

absl::Status WebSocketConnection::Wait(short events, absl::Time deadline) {
  while (true) {
    pollfd pfd{socket_, events, 0};
    const int timeout = PollMillis(deadline);
    const int rc = poll(&pfd, 1, timeout);
    if (rc > 0) {
      // POLLERR / POLLHUP: let the following recv/send report what happened.
      return absl::OkStatus();
    }
    if (rc == 0) {
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError("timed out waiting for the WebSocket peer");
      }
      continue;
    }
    if (errno != EINTR) return absl::UnavailableError(absl::StrCat("poll: ", strerror(errno)));
  }
}

absl::Status WebSocketConnection::Fail(absl::Status status) {
  closed_ = true;
  return status;
}

absl::Status WebSocketConnection::SendRaw(std::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    std::size_t n = 0;
    const CURLcode rc = curl_easy_send(curl_, data.data(), data.size(), &n);
    if (rc == CURLE_AGAIN) {
      if (absl::Status s = Wait(POLLOUT, deadline); !s.ok()) return Fail(s);
      continue;
    }
    if (rc != CURLE_OK) {
      return Fail(absl::UnavailableError(
          absl::StrCat("WebSocket send failed: ", curl_easy_strerror(rc))));
    }
    data.remove_prefix(n);
  }
  last_sent_ = absl::Now();
  return absl::OkStatus();
}

absl::Status WebSocketConnection::SendFrame(WsOpcode opcode, std::string_view payload,
                                            absl::Time deadline) {
  if (closed_) return absl::UnavailableError("WebSocket already closed");
  WsMask mask;
  if (absl::Status s = RandomBytes(mask.data(), static_cast<int>(mask.size())); !s.ok()) {
    return s;
  }
  return SendRaw(EncodeFrame(true, opcode, payload, mask), deadline);
}

absl::Status WebSocketConnection::SendBinary(std::string_view payload, absl::Time deadline) {
  return SendFrame(WsOpcode::kBinary, payload, deadline);
}

absl::Status WebSocketConnection::SendPing(absl::Time deadline) {
  return SendFrame(WsOpcode::kPing, "aim-cpp", deadline);
}

absl::Status WebSocketConnection::Receive(absl::Time deadline, bool* got) {
  *got = false;
  char buf[16 * 1024];
  std::size_t total = 0;
  while (total < kMaxReadPerCall) {
    std::size_t n = 0;
    const CURLcode rc = curl_easy_recv(curl_, buf, sizeof buf, &n);
    if (rc == CURLE_AGAIN) {
      if (*got || absl::Now() >= deadline) return absl::OkStatus();
      if (absl::Status s = Wait(POLLIN, deadline); !s.ok()) return s;
      continue;
    }
    if (rc != CURLE_OK) {
      return Fail(absl::UnavailableError(
          absl::StrCat("WebSocket receive failed: ", curl_easy_strerror(rc))));
    }
    if (n == 0) {
      return Fail(absl::UnavailableError(
          "the server dropped the WebSocket connection without a close frame"));
    }
    reader_.Append(std::string_view(buf, n));
    last_received_ = absl::Now();
    *got = true;
    total += n;
  }
  return absl::OkStatus();
}

absl::Status WebSocketConnection::OnControl(const WsEvent& event) {
  switch (event.type) {
    case WsEvent::Type::kPing:
      return SendFrame(WsOpcode::kPong, event.payload, absl::Now() + kCloseSendTimeout * 5);
    case WsEvent::Type::kPong:
      return absl::OkStatus();
    case WsEvent::Type::kClose: {
      // Echo the code as RFC 6455 5.5.1 asks, then stop: the server closes the TCP side.
      std::string payload;
      if (event.close_code != 1005) {
        payload.push_back(static_cast<char>(event.close_code >> 8));
        payload.push_back(static_cast<char>(event.close_code & 0xFF));
      }
      (void)SendFrame(WsOpcode::kClose, payload, absl::Now() + kCloseSendTimeout);
      return Fail(absl::UnavailableError(
          absl::StrCat("the server closed the WebSocket (code ", event.close_code, ")")));
    }
    case WsEvent::Type::kMessage:
      break;
  }
  return absl::InternalError("not a control event");
}

absl::StatusOr<WsEvent> WebSocketConnection::ReadMessage(absl::Time deadline) {
  if (closed_) return absl::UnavailableError("WebSocket already closed");
  while (true) {
    absl::StatusOr<std::optional<WsEvent>> next = reader_.Next();
    if (!next.ok()) {
      return Fail(absl::UnavailableError(
          absl::StrCat("WebSocket protocol error from the server: ", next.status().message())));
    }
    if (next->has_value()) {
      WsEvent& event = **next;
      if (event.type == WsEvent::Type::kMessage) return std::move(event);
      if (absl::Status s = OnControl(event); !s.ok()) return s;
      continue;
    }
    bool got = false;
    if (absl::Status s = Receive(deadline, &got); !s.ok()) return s;
    if (!got && absl::Now() >= deadline) {
      return absl::DeadlineExceededError("timed out waiting for the server's WebSocket reply");
    }
  }
}

absl::Status WebSocketConnection::Service() {
  if (closed_) return absl::UnavailableError("WebSocket already closed");
  while (true) {
    absl::StatusOr<std::optional<WsEvent>> next = reader_.Next();
    if (!next.ok()) {
      return Fail(absl::UnavailableError(
          absl::StrCat("WebSocket protocol error from the server: ", next.status().message())));
    }
    if (next->has_value()) {
      if ((*next)->type == WsEvent::Type::kMessage) {
        return Fail(absl::UnavailableError("unsolicited WebSocket message from the server"));
      }
      if (absl::Status s = OnControl(**next); !s.ok()) return s;
      continue;
    }
    bool got = false;
    // A deadline in the past: read only what is already there.
    if (absl::Status s = Receive(absl::InfinitePast(), &got); !s.ok()) return s;
    if (!got) return absl::OkStatus();
  }
}

void WebSocketConnection::Close(std::uint16_t code) {
  if (closed_) return;
  const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  (void)SendFrame(WsOpcode::kClose, std::string_view(payload, 2),
                  absl::Now() + kCloseSendTimeout);
  closed_ = true;
}

}  // namespace aim::rpc::internal
