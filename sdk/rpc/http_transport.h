// The HTTP + WebSocket transport for Aim >= 3.19 (SPEC section 2): HTTP/1.1 requests through
// libcurl for everything but writes, and one WebSocket for write batches.
#ifndef AIM_SDK_RPC_HTTP_TRANSPORT_H_
#define AIM_SDK_RPC_HTTP_TRANSPORT_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aim/auth/credentials.h"
#include "rpc/server_url.h"
#include "rpc/transport.h"

namespace aim::rpc {

inline constexpr absl::Duration kDefaultConnectTimeout = absl::Seconds(10);
inline constexpr absl::Duration kDefaultRequestTimeout = absl::Seconds(10);
inline constexpr absl::Duration kDefaultReadInstructionTimeout = absl::Seconds(120);
inline constexpr absl::Duration kDefaultWsAckTimeout = absl::Seconds(120);
inline constexpr absl::Duration kDefaultWsPingInterval = absl::Seconds(15);
inline constexpr std::size_t kDefaultMaxResponseBytes = std::size_t{256} << 20;

struct HttpTransportOptions {
  // Where the server is. `server.scheme` must be "http" or "https": resolve an aim:// URL
  // with SelectHttpScheme() first.
  ServerUrl server;
  // This client's URI (SPEC 1): a lowercase uuid4. Empty: the factory generates one.
  std::string client_uri;
  // Headers for every HTTP request and every WebSocket handshake. Null: none.
  aim::auth::CredentialsPtr credentials;
  // Default false: non-empty credentials are refused for http:// to a non-loopback host.
  bool allow_insecure_plaintext = false;

  // TLS. Empty file names: libcurl's default CA store / no client certificate; the key may
  // be inside the certificate file. Verification of the server is on by default.
  std::string ca_bundle_file;
  std::string client_cert_file;
  std::string client_key_file;
  bool verify_tls = true;

  // TCP + TLS connection set-up. Default kDefaultConnectTimeout.
  absl::Duration connect_timeout = kDefaultConnectTimeout;
  // Every GET (connect, heartbeat, version, release, ...) and the WebSocket handshake.
  // Default kDefaultRequestTimeout (10 s, as the Python client).
  absl::Duration request_timeout = kDefaultRequestTimeout;
  // get-resource and read-instruction, which can legitimately take long (a lock waits 10 s
  // server-side). Default kDefaultReadInstructionTimeout; InfiniteDuration(): none.
  absl::Duration read_instruction_timeout = kDefaultReadInstructionTimeout;
  // Sending one batch and receiving its acknowledgement. The server decodes a message in
  // O(size^2), so large batches are slow. Default kDefaultWsAckTimeout.
  absl::Duration ws_ack_timeout = kDefaultWsAckTimeout;
  // Keep-alive: after this long without sending, a ping goes out; no byte from the server
  // within another interval after it marks the connection lost. Short enough for
  // Cloudflare's ~100 s idle cut. Default kDefaultWsPingInterval; ZeroDuration(): no pings
  // (server pings are still answered).
  absl::Duration ws_ping_interval = kDefaultWsPingInterval;
  // The largest read-instruction body or WebSocket message accepted from the server.
  // Default kDefaultMaxResponseBytes.
  std::size_t max_response_bytes = kDefaultMaxResponseBytes;
};

// Creates the transport. Nothing is sent yet (call Connect()); the WebSocket opens on the
// first WriteBatch. kInvalidArgument for bad options.
//
// Threading: besides the callers' threads, the transport runs one keeper thread that
// answers server pings and sends its own while no batch is in flight; it shares one mutex
// with WriteBatch / Reconnect / Disconnect, so at most one of them touches the WebSocket.
// HTTP requests run on the calling thread, concurrently with each other, on a small pool of
// kept-alive connections.
absl::StatusOr<std::unique_ptr<Transport>> MakeHttpTransport(HttpTransportOptions options);

// Scheme choice for an aim:// URL.
enum class HttpScheme {
  kProbe,  // as Aim's client (SPEC 2.1): http, redirected to https -> https; else try https
  kHttp,
  kHttps,
};

// Returns `options.server` with its scheme decided: kept if the URL had one, forced by
// `choice`, or probed with `GET <scheme>://.../status/`. The probe never sends credentials
// over plaintext; https is chosen when its probe gets 200, or 401/403/3xx (an
// authenticating proxy that exists and speaks TLS; the real requests will then report the
// refusal clearly). If both probes fail, http, as Aim does.
absl::StatusOr<ServerUrl> SelectHttpScheme(const HttpTransportOptions& options,
                                           HttpScheme choice = HttpScheme::kProbe);

}  // namespace aim::rpc

#endif  // AIM_SDK_RPC_HTTP_TRANSPORT_H_
