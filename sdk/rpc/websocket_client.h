// The client end of one RFC 6455 WebSocket, carried over a libcurl CONNECT_ONLY connection
// (Debian's libcurl 7.88 has no WebSocket support) so that TLS, CA and client-certificate
// settings stay libcurl's. We write the upgrade request and the frames ourselves.
#ifndef AIM_SDK_RPC_WEBSOCKET_CLIENT_H_
#define AIM_SDK_RPC_WEBSOCKET_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/http_client.h"
#include "rpc/websocket_frame.h"

namespace aim::rpc::internal {

// The Sec-WebSocket-Accept value a server must answer to `key` (RFC 6455 4.2.2).
std::string WebSocketAccept(std::string_view key);

struct WebSocketOpenOptions {
  std::string url;          // "ws://host:port/.../write-instruction/", for messages only
  std::string connect_url;  // "http://host:port/" or "https://..." (what curl connects to)
  std::string host_header;  // the Host header, "host:port"
  std::string path;         // request target, e.g. "/tracking/<uri>/write-instruction/"
  std::vector<std::string> header_lines;  // credentials, "Name: value"
  ConnectionSettings connection;
  absl::Duration handshake_timeout = absl::Seconds(10);
  std::size_t max_message_bytes = 64 << 20;
  std::string credentials_description;  // Credentials::DebugString(), for auth errors
};

// Thread safety: none. The HTTP transport serialises every use under its WebSocket mutex.
class WebSocketConnection {
 public:
  // Connects, sends the upgrade request and validates the 101 answer. A 401, 403 or 3xx
  // instead is kUnauthenticated / kPermissionDenied (see HttpReplyError); connection
  // problems kUnavailable; a handshake slower than the timeout kDeadlineExceeded.
  static absl::StatusOr<std::unique_ptr<WebSocketConnection>> Open(
      const WebSocketOpenOptions& options);
  ~WebSocketConnection();
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // Sends `payload` as one masked binary frame.
  absl::Status SendBinary(std::string_view payload, absl::Time deadline);
  absl::Status SendPing(absl::Time deadline);
  // Waits for the next data message, answering pings meanwhile. A close frame, EOF or a
  // protocol error is kUnavailable (the connection is then unusable); no message by
  // `deadline` is kDeadlineExceeded.
  absl::StatusOr<WsEvent> ReadMessage(absl::Time deadline);
  // Without blocking on the network beyond sending small control frames: reads whatever has
  // arrived, answers pings, notes pongs. A data message nobody asked for, a close frame or
  // EOF is kUnavailable.
  absl::Status Service();
  // Sends a close frame (best effort, at most about a second) and stops using the socket.
  void Close(std::uint16_t code);

  int socket() const { return socket_; }
  // When a byte last arrived / a frame was last sent (for keep-alive decisions).
  absl::Time last_received() const { return last_received_; }
  absl::Time last_sent() const { return last_sent_; }

 private:
  WebSocketConnection(CURL* curl, int socket, std::size_t max_message_bytes);

  // `what` names the request in error messages.
  absl::Status Handshake(const WebSocketOpenOptions& options, std::string_view what);
  absl::Status SendFrame(WsOpcode opcode, std::string_view payload, absl::Time deadline);
  absl::Status SendRaw(std::string_view data, absl::Time deadline);
  // Reads into `reader_` what is available (up to a bound per call). When nothing is and
  // `deadline` is in the future, waits for data until then. Sets *got to whether any byte
  // arrived.
  absl::Status Receive(absl::Time deadline, bool* got);
  // Waits until the socket is readable (events = POLLIN) or writable (POLLOUT).
  absl::Status Wait(short events, absl::Time deadline);
  // Handles a control event: answers a ping, replies to a close (then kUnavailable).
  absl::Status OnControl(const WsEvent& event);
  absl::Status Fail(absl::Status status);

  CURL* curl_;
  int socket_;
  WsReader reader_;
  bool closed_ = false;
  absl::Time last_received_;
  absl::Time last_sent_;
};

}  // namespace aim::rpc::internal

#endif  // AIM_SDK_RPC_WEBSOCKET_CLIENT_H_
