// HttpTestServer: a stand-in for `aim server` (Aim >= 3.19, SPEC section 2) over real sockets
// on 127.0.0.1: HTTP/1.1 with keep-alive and chunked read replies, and the write-instruction
// WebSocket (RFC 6455 server side, no compression, server pings like uvicorn's). State lives
// in a FakeAimRepo; this class only speaks the transport and injects faults.
//
// One thread per connection plus one accept thread; meant for tests with a few connections.
// All public methods are thread-safe. The destructor stops accepting, closes every
// connection and joins every thread.
#ifndef AIM_TESTS_SUPPORT_SERVER_HTTP_TEST_SERVER_H_
#define AIM_TESTS_SUPPORT_SERVER_HTTP_TEST_SERVER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/server/fake_repo.h"

namespace aim::test_server {

struct HttpTestServerOptions {
  // `aim server --base-path`: normalised like Aim ("foo", "/foo/" -> "/foo"). Default "" (none).
  std::string base_path;
  // 0 = an ephemeral port chosen by the kernel (the default).
  std::uint16_t port = 0;
  // Server-initiated WebSocket pings (uvicorn: 20 s each). Zero interval disables pinging.
  absl::Duration ping_interval = absl::Seconds(20);
  // A connection whose ping is not answered within this time is closed (uvicorn: 20 s).
  absl::Duration ping_timeout = absl::Seconds(20);
  // Largest accepted request body / WebSocket message (uvicorn --ws-max-size: 1 GiB).
  std::size_t max_message_bytes = std::size_t{1} << 30;
};

// One HTTP request or WebSocket handshake as received (for credential assertions).
struct RequestRecord {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent, including the base path and any query
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  bool websocket = false;                                    // an Upgrade: websocket request
  int status = 0;                                            // what the server answered

  // First header with this name (case-insensitive), if any.
  std::optional<std::string> Header(std::string_view name) const;
};

// When a WebSocket drop fault fires relative to the message that triggers it.
enum class DropPoint {
  kBeforeApply,  // the message is read and discarded: not applied, no reply
  kAfterApply,   // the message is applied, then the connection drops before "OK"
};

class HttpTestServer {
 public:
  // Binds 127.0.0.1 and starts serving. `repo` may be shared with other servers; when null a
  // fresh FakeAimRepo is made.
  static absl::StatusOr<std::unique_ptr<HttpTestServer>> Start(
      HttpTestServerOptions options = {}, std::shared_ptr<FakeAimRepo> repo = nullptr);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  std::uint16_t port() const;
  // "127.0.0.1:<port><base_path>", the part after aim:// in a repo URL.
  std::string authority() const;
  std::string aim_url() const;   // "aim://127.0.0.1:<port><base_path>"
  std::string http_url() const;  // "http://127.0.0.1:<port><base_path>"
  FakeAimRepo& repo() const;
  std::shared_ptr<FakeAimRepo> shared_repo() const;

  // --- observation ---
  std::vector<RequestRecord> Requests() const;  // in arrival order
  void ClearRequests();
  std::uint64_t websocket_connections() const;  // handshakes accepted so far
  std::uint64_t websocket_messages() const;     // complete data messages received so far
  std::uint64_t pongs_received() const;

  // --- fault injection ---
  // Drops the WebSocket connection at the `n`-th data message counted from now (n >= 1);
  // with `repeat`, again every `n` messages after that. n == 0 disables.
  void DropWebSocketAfter(int n, bool repeat = false, DropPoint point = DropPoint::kBeforeApply);
  // The next WebSocket message is not applied: it is answered with this error reply, then the
  // server closes with code 1000 (SPEC 2.6).
  void FailNextWriteBatch(AimError error);
  // Every HTTP response and WebSocket reply is sent after this delay (0 = none).
  void SetReplyDelay(absl::Duration delay);
  // Server down: closes the listening socket (new connections are refused) and drops every
  // open connection. ResumeAccepting() binds the same port again.
  void StopAccepting();
  absl::Status ResumeAccepting();
  // Closes every open connection (HTTP and WebSocket) abruptly, without close frames.
  void DropAllConnections();
  // DropAllConnections() + FakeAimRepo::Restart(): a restarted `aim server`, same repository.
  void Restart();
  // false: client pings get no pong (the server's own pings continue).
  void SetAnswerPings(bool answer);
  // false: the server sends no more pings, so an idle client is never timed out.
  void SetSendPings(bool send);
  // From now on every HTTP request and WebSocket handshake is answered with `status`
  // (e.g. 401, 403) and a short JSON body, as an authenticating proxy would. 0 turns it off.
  void SetForcedStatus(int status);

 private:
  struct Impl;
  explicit HttpTestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aim::test_server

#endif  // AIM_TESTS_SUPPORT_SERVER_HTTP_TEST_SERVER_H_
