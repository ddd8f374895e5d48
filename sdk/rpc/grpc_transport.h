// The gRPC transport for Aim 3.15.2 - 3.18.x servers (SPEC section 5): RemoteRouterService
// for registration, heartbeats and worker routing, RemoteTrackingService for resources and
// instructions, each record of a packed message in a gRPC stream message of its own.
#ifndef AIM_SDK_RPC_GRPC_TRANSPORT_H_
#define AIM_SDK_RPC_GRPC_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aim/auth/credentials.h"
#include "rpc/server_url.h"
#include "rpc/transport.h"

namespace aim::rpc {

// `aim server`'s default port, used when the URL has none (Aim's client requires one).
inline constexpr std::uint16_t kDefaultGrpcPort = 53800;
// Aim's __AIM_RT_MAX_MESSAGE_SIZE__ default; one record must fit in one message.
inline constexpr std::size_t kDefaultGrpcMaxMessageBytes = std::size_t{16} << 20;
inline constexpr absl::Duration kDefaultGrpcCallTimeout = absl::Seconds(10);
inline constexpr absl::Duration kDefaultGrpcLongCallTimeout = absl::Seconds(120);
inline constexpr std::size_t kDefaultGrpcMaxResultBytes = std::size_t{256} << 20;

struct GrpcTransportOptions {
  // Where the router is. `server.scheme` "https": TLS; "http": plaintext. Resolve an aim://
  // URL (empty scheme) with DetectGrpcServer() first. Port 0: kDefaultGrpcPort. The base
  // path is sent as `x-project` metadata (without its leading slash), as Aim's client does.
  ServerUrl server;
  // This client's URI (SPEC 1): a lowercase uuid4. Empty: the factory generates one.
  std::string client_uri;
  // Metadata for every call. Null: none.
  aim::auth::CredentialsPtr credentials;
  // Default false: over plaintext, non-empty credentials are refused unless the host is a
  // loopback address (the same rule as the HTTP transport). true: sent in cleartext anyway.
  bool allow_insecure_plaintext = false;

  // TLS. Empty file names: gRPC's default roots / no client certificate. gRPC always verifies
  // the server's certificate; there is no switch to turn that off.
  std::string ca_bundle_file;
  std::string client_cert_file;
  std::string client_key_file;

  // connect, heartbeat, version, release, disconnect. Default kDefaultGrpcCallTimeout.
  absl::Duration request_timeout = kDefaultGrpcCallTimeout;
  // get_resource and run_instruction (a lock waits up to 10 s server-side).
  // Default kDefaultGrpcLongCallTimeout; InfiniteDuration(): none.
  absl::Duration read_instruction_timeout = kDefaultGrpcLongCallTimeout;
  // One run_write_instructions call (the server decodes a batch in O(size^2)).
  // Default kDefaultGrpcLongCallTimeout; InfiniteDuration(): none.
  absl::Duration write_timeout = kDefaultGrpcLongCallTimeout;
  // gRPC's max send and receive message size on every channel. Default
  // kDefaultGrpcMaxMessageBytes (the server's own limit; raise both together).
  std::size_t max_message_bytes = kDefaultGrpcMaxMessageBytes;
  // The largest read-instruction result accepted (sum of its records).
  // Default kDefaultGrpcMaxResultBytes.
  std::size_t max_result_bytes = kDefaultGrpcMaxResultBytes;
};

// Creates the transport: channels are made, nothing is sent yet. Call GetVersion() (router),
// then Connect(), which asks the router for the worker that serves this client.
// kInvalidArgument for bad options or unreadable TLS files; kFailedPrecondition for
// credentials that would travel in plaintext without the opt-in.
//
// Threading: no threads of its own besides gRPC's; calls run on the caller's thread.
// Reconnect() swaps the channels under a mutex; calls already running finish on the old ones.
absl::StatusOr<std::unique_ptr<Transport>> MakeGrpcTransport(GrpcTransportOptions options);

// Whether a gRPC server answers `grpc.health.v1.Health/Check` at options.server (any
// answer from gRPC counts, including UNIMPLEMENTED from a server without the health service
// and a refusal of the credentials). Returns options.server with its scheme decided: kept if
// set; otherwise TLS is tried first (with the credentials), then plaintext (without them).
// kUnavailable / kDeadlineExceeded naming what was tried when nothing answered.
absl::StatusOr<ServerUrl> DetectGrpcServer(const GrpcTransportOptions& options);

}  // namespace aim::rpc

#endif  // AIM_SDK_RPC_GRPC_TRANSPORT_H_
