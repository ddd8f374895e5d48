// GrpcTestServer: a stand-in for an Aim 3.15.2-3.18 `aim server` (SPEC section 5) over real
// sockets on 127.0.0.1: RemoteRouterService, the standard health service and
// RemoteTrackingService, state in a FakeAimRepo (the same store the HTTP test server uses).
// Optionally TLS with an AuthMetadataProcessor requiring credentials (like a proxy would),
// and `aim server --workers N`: a router plus N worker servers on router_port + 1 .. + N,
// each worker with a FakeAimRepo of its own so tests can see where writes went.
//
// All public methods are thread-safe. The destructor shuts every server down.
#ifndef AIM_TESTS_SUPPORT_SERVER_GRPC_TEST_SERVER_H_
#define AIM_TESTS_SUPPORT_SERVER_GRPC_TEST_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/server/fake_repo.h"

namespace aim::test_server {

using GrpcMetadata = std::map<std::string, std::string>;

struct GrpcTestServerOptions {
  // Router port; 0 = an ephemeral port (the default). With workers, the router's port is
  // chosen so that router_port + 1 .. + N are free too (retrying on collisions).
  std::uint16_t port = 0;
  // 0 (default): one server with router, health and tracking services, whose `connect`
  // answers worker_index "0" (`aim server --workers 1`). N >= 1: the router serves router +
  // health only and N worker servers serve RemoteTrackingService.
  int workers = 0;
  // With workers: the worker index `connect` names (1..N). 0 (default): the least loaded, as
  // Aim's router does.
  int route_to = 0;
  // TLS: the server's PEM certificate chain and key. Empty (default): plaintext.
  std::string tls_cert_chain;
  std::string tls_private_key;
  // With TLS: PEM CA that client certificates must chain to; a client without one is refused
  // in the handshake (mutual TLS). Empty (default): no client certificate asked for.
  std::string tls_client_ca;
  // With TLS: every call must carry all entries of one of these sets (keys lowercase);
  // missing credential keys -> UNAUTHENTICATED, wrong values -> PERMISSION_DENIED. Empty
  // (default): no check.
  std::vector<GrpcMetadata> required_metadata;
  // Max send/receive message size (Aim's __AIM_RT_MAX_MESSAGE_SIZE__). Default 16 MiB.
  std::size_t max_message_bytes = std::size_t{16} << 20;
};

// One call as received by a service method (after the credential check passed).
struct GrpcCallRecord {
  std::string method;      // e.g. "/RemoteTrackingService/get_resource"
  int server = 0;          // 0: the router (or the single server); i: worker i
  GrpcMetadata metadata;   // the client's metadata without gRPC's own entries
};

class GrpcTestServer {
 public:
  // Binds 127.0.0.1 and starts serving. `repo` serves the router (and the tracking service
  // when there are no workers); null makes a fresh one.
  static absl::StatusOr<std::unique_ptr<GrpcTestServer>> Start(
      GrpcTestServerOptions options = {}, std::shared_ptr<FakeAimRepo> repo = nullptr);
  ~GrpcTestServer();
  GrpcTestServer(const GrpcTestServer&) = delete;
  GrpcTestServer& operator=(const GrpcTestServer&) = delete;

  std::uint16_t port() const;
  std::string aim_url() const;  // "aim://127.0.0.1:<port>"
  FakeAimRepo& repo() const;
  // Worker i's store (1..workers()).
  FakeAimRepo& worker_repo(int index) const;
  int workers() const;

  std::vector<GrpcCallRecord> Calls() const;  // in arrival order
  // Calls refused by the credential check (their metadata, as the processor saw it).
  std::vector<GrpcMetadata> Refused() const;

  // --- faults ---
  // Every run_write_instructions call is answered only after `delay` (0, the default: at
  // once); a client that cancels meanwhile is let go.
  void SetWriteDelay(absl::Duration delay);
  // Every server stops (in-flight calls are cancelled, new connections refused).
  void Stop();
  // Serves again on the same ports after Stop().
  absl::Status Resume();
  // Stop() + FakeAimRepo::Restart() on every store + Resume(): a restarted `aim server` on
  // the same repository.
  absl::Status Restart();

 private:
  struct Impl;
  explicit GrpcTestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace aim::test_server

#endif  // AIM_TESTS_SUPPORT_SERVER_GRPC_TEST_SERVER_H_
